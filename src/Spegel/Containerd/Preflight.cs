using System.Globalization;

namespace Spegel.Containerd;

internal enum PreflightSeverity
{
    Warning,
    Error,
}

/// <summary>One problem with containerd's configuration; <see cref="Check"/> is a fixed name (a metric label).</summary>
internal sealed record PreflightFinding(PreflightSeverity Severity, string Check, string Message);

/// <summary>
/// Checks that containerd will use our mirror and keep layers shareable (SPEC §5.4), and says exactly what to change.
/// Spegel users hit these on EKS, GKE, Kind and Talos: no <c>config_path</c>, or <c>discard_unpacked_layers = true</c>.
/// Findings are reported (log, metric, debug page), never fatal: a node whose containerd does not ask the mirror can
/// still serve its peers, and a crash loop would hide the message (Spegel's chart on k3s/RKE2 runs the registry without
/// <c>--containerd-registry-config-path</c> while containerd reads another folder).
/// </summary>
internal static class Preflight
{
    /// <summary>Every value <see cref="PreflightFinding.Check"/> takes.</summary>
    public static readonly IReadOnlyList<string> Checks = ["cri_plugin", "cri_config_unknown", "config_path", "discard_unpacked_layers", "use_local_image_pull"];

    public static IReadOnlyList<PreflightFinding> Evaluate(string containerdVersion, CriRegistrySettings? cri, string registryConfigPath)
    {
        var findings = new List<PreflightFinding>();
        var (major, minor) = ParseVersion(containerdVersion);
        bool v2 = major >= 2;
        string configFile = "/etc/containerd/config.toml";
        string imagesPlugin = v2 ? "plugins.\"io.containerd.cri.v1.images\"" : "plugins.\"io.containerd.grpc.v1.cri\"";
        string registryTable = $"[{imagesPlugin}.registry]";
        string discardTable = v2 ? $"[{imagesPlugin}]" : $"[{imagesPlugin}.containerd]";

        if (cri is null)
        {
            findings.Add(new(PreflightSeverity.Warning, "cri_plugin",
                $"containerd {containerdVersion} has no CRI plugin running, so config_path and discard_unpacked_layers cannot be checked; " +
                "kubelet pulls need the CRI plugin with config_path set"));
            return findings;
        }

        if (cri.ConfigPath is null)
        {
            findings.Add(new(PreflightSeverity.Warning, "cri_config_unknown",
                $"containerd {containerdVersion} reports its CRI configuration in a shape spegel does not know, so config_path cannot be checked; " +
                $"make sure config_path = \"{registryConfigPath}\" is set under {registryTable} in {configFile}"));
        }
        else if (cri.ConfigPath.Length == 0)
        {
            findings.Add(new(PreflightSeverity.Error, "config_path",
                $"containerd does not read hosts.toml: set config_path = \"{registryConfigPath}\" under {registryTable} in {configFile} and restart containerd"));
        }
        else if (!cri.ConfigPath.Split(':', StringSplitOptions.RemoveEmptyEntries).Any(p => SamePath(p, registryConfigPath)))
        {
            findings.Add(new(PreflightSeverity.Error, "config_path",
                $"containerd reads hosts.toml from \"{cri.ConfigPath}\", not from \"{registryConfigPath}\" (--containerd-registry-config-path): if the configuration " +
                $"step wrote our hosts.toml to \"{registryConfigPath}\", containerd never asks the mirror; set config_path = \"{registryConfigPath}\" under {registryTable} in {configFile}, " +
                "or, if the mirror configuration is in containerd's folder (Spegel's chart does not pass this flag to the registry, e.g. on k3s/RKE2), pass --containerd-registry-config-path with that folder"));
        }

        if (cri.DiscardUnpackedLayers == true)
        {
            findings.Add(new(PreflightSeverity.Error, "discard_unpacked_layers",
                $"containerd deletes layers after unpacking them, so they cannot be shared: set discard_unpacked_layers = false under {discardTable} in {configFile} and restart containerd"));
        }

        if ((major > 2 || (major == 2 && minor >= 1)) && cri.UseLocalImagePull != true)
        {
            findings.Add(new(PreflightSeverity.Warning, "use_local_image_pull",
                $"containerd {containerdVersion} pulls through the transfer service, which may not use hosts.toml mirrors: set use_local_image_pull = true under [{imagesPlugin}] in {configFile} if pulls bypass the mirror"));
        }

        return findings;
    }

    public static (int Major, int Minor) ParseVersion(string version)
    {
        string v = version.TrimStart('v');
        var parts = v.Split('.', '-', '~', '+');
        int major = parts.Length > 0 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int m) ? m : 0;
        int minor = parts.Length > 1 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : 0;
        return (major, minor);
    }

    private static bool SamePath(string a, string b) =>
        string.Equals(Path.TrimEndingDirectorySeparator(a), Path.TrimEndingDirectorySeparator(b), StringComparison.Ordinal);
}
