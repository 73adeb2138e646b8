namespace Spegel.Testbed;

/// <summary>The Debian programs the test bed drives. <c>./test.sh</c> and <c>./demo.sh</c> install them.</summary>
public static class Tools
{
    public const string Containerd = "/usr/bin/containerd";
    public const string Ctr = "/usr/bin/ctr";
    public const string Registry = "/usr/bin/docker-registry";
    public const string Skopeo = "/usr/bin/skopeo";
    public const string Nginx = "/usr/sbin/nginx";
    public const string Ip = "/usr/sbin/ip";
    public const string Nft = "/usr/sbin/nft";
    public const string Tc = "/usr/sbin/tc";
    public const string Chromium = "/usr/bin/chromium";
    public const string Unshare = "/usr/bin/unshare";
    public const string QemuAarch64 = "/usr/bin/qemu-aarch64-static";
    public const string QemuArm = "/usr/bin/qemu-arm-static";

    /// <summary>Throws a message that says how to install what is missing.</summary>
    public static void Require(params string[] tools)
    {
        var missing = tools.Where(t => !File.Exists(t)).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException(
                $"missing {string.Join(", ", missing)}: run ./test.sh (scripts/install-deps.sh installs them with apt-get)");
        }
    }
}
