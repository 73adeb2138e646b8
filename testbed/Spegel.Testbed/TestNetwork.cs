using System.Globalization;

namespace Spegel.Testbed;

/// <summary>
/// Hosts on one machine (TESTBED.md §5): a bridge with no address, and per host a network namespace joined to it by a
/// veth pair, with <c>10.77.0.N/24</c> and/or <c>fd77:77::N/64</c> (dual-stack or IPv6-only hosts), loopback up and no
/// default route. The guard (both families) is checked first.
/// One test network exists on the machine at a time: <see cref="CreateAsync"/> takes an exclusive lock file (held until
/// disposed), so the demo, a test run and a benchmark started together wait for each other instead of tearing down
/// each other's namespaces.
/// </summary>
public sealed class TestNetwork : IAsyncDisposable
{
    public const string Prefix = "sp-";
    public const string LockPath = "/run/lock/spegel-testbed.lock";
    private static readonly TimeSpan LockWait = TimeSpan.FromMinutes(30);
    private readonly List<string> _namespaces = [];
    private readonly FileStream _lock;

    private TestNetwork(FileStream lockFile)
    {
        _lock = lockFile;
    }

    public static async Task<TestNetwork> CreateAsync()
    {
        var lockFile = await AcquireLockAsync().ConfigureAwait(false);
        try
        {
            await NetworkGuard.EnsureAsync().ConfigureAwait(false);
            await RemoveLeftoversAsync().ConfigureAwait(false);
            var link = await Ip(["link", "show", NetworkGuard.Bridge], check: false).ConfigureAwait(false);
            if (link.ExitCode != 0)
            {
                await Ip(["link", "add", NetworkGuard.Bridge, "type", "bridge"]).ConfigureAwait(false);
            }

            await Ip(["link", "set", NetworkGuard.Bridge, "up"]).ConfigureAwait(false);
            return new TestNetwork(lockFile);
        }
        catch
        {
            await lockFile.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The machine-wide lock (an advisory <c>flock</c>: .NET takes one for <see cref="FileShare.None"/>; the kernel drops
    /// it when the holder dies, so a killed run never leaves it behind).
    /// </summary>
    private static async Task<FileStream> AcquireLockAsync()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(LockPath)!);
        var deadline = DateTime.UtcNow + LockWait;
        bool told = false;
        while (true)
        {
            try
            {
                return new FileStream(LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                if (!told)
                {
                    Console.Error.WriteLine($"Another test network is in use on this machine (lock {LockPath}): waiting for it to finish (the demo, the tests and the benchmarks run one at a time).");
                    told = true;
                }

                await Task.Delay(500).ConfigureAwait(false);
            }
        }
    }

    public static string AddressOf(int octet) => $"10.77.0.{octet.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The host's IPv6 address in our own prefix (<see cref="NetworkGuard.Prefix6"/>): <c>fd77:77::N</c>.</summary>
    public static string Address6Of(int octet) => $"fd77:77::{octet.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// Adds a host with an IPv4 address, an IPv6 address (<c>nodad</c>: usable at once, no duplicate detection to wait
    /// for), or both; returns its namespace name.
    /// </summary>
    public async Task<string> AddHostAsync(string name, int octet, bool ipv4 = true, bool ipv6 = false)
    {
        if (!ipv4 && !ipv6)
        {
            throw new ArgumentException("a host needs an IPv4 or an IPv6 address", nameof(ipv6));
        }

        await NetworkGuard.VerifyAsync().ConfigureAwait(false);
        string ns = Prefix + name;
        string veth = HostVeth(name);
        await Ip(["netns", "add", ns]).ConfigureAwait(false);
        _namespaces.Add(ns);
        await Ip(["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns]).ConfigureAwait(false);
        await Ip(["link", "set", veth, "master", NetworkGuard.Bridge, "up"]).ConfigureAwait(false);
        if (ipv4)
        {
            await Ip(["-n", ns, "addr", "add", $"{AddressOf(octet)}/24", "dev", "eth0"]).ConfigureAwait(false);
        }

        if (ipv6)
        {
            await Ip(["-n", ns, "addr", "add", $"{Address6Of(octet)}/64", "dev", "eth0", "nodad"]).ConfigureAwait(false);
        }

        await Ip(["-n", ns, "link", "set", "eth0", "up"]).ConfigureAwait(false);
        await Ip(["-n", ns, "link", "set", "lo", "up"]).ConfigureAwait(false);
        return ns;
    }

    /// <summary>
    /// The <c>/etc/hosts</c> programs see in <paramref name="ns"/>: <c>ip netns exec</c> bind-mounts
    /// <c>/etc/netns/&lt;ns&gt;/hosts</c> over it (the way to give a namespace DNS names without a DNS server). Removed
    /// with the network.
    /// </summary>
    public static async Task WriteHostsAsync(string ns, IEnumerable<(string Address, string Name)> entries)
    {
        if (!ns.StartsWith(Prefix, StringComparison.Ordinal))
        {
            throw new ArgumentException($"not a test namespace: {ns}", nameof(ns));
        }

        Directory.CreateDirectory(EtcFolder(ns));
        var lines = new List<string> { "127.0.0.1 localhost", "::1 localhost" };
        lines.AddRange(entries.Select(e => $"{e.Address} {e.Name}"));
        await File.WriteAllLinesAsync(Path.Combine(EtcFolder(ns), "hosts"), lines).ConfigureAwait(false);
    }

    /// <summary>Runs a command inside a namespace (every client of a test address must).</summary>
    public static Task<CommandResult> ExecAsync(string ns, IEnumerable<string> command, TimeSpan? timeout = null) =>
        ProcessRunner.RunAsync(Tools.Ip, ["netns", "exec", ns, .. command], timeout ?? TimeSpan.FromMinutes(2));

    /// <summary>Bytes the host has sent (its veth's receive counter on the bridge side).</summary>
    public static long SentBytes(string name) =>
        long.Parse(File.ReadAllText($"/sys/class/net/{HostVeth(name)}/statistics/rx_bytes").Trim(), CultureInfo.InvariantCulture);

    /// <summary>Limits what a host sends (tbf on its eth0); null removes the limit.</summary>
    public static async Task ShapeAsync(string ns, string? rate)
    {
        await ExecAsync(ns, [Tools.Tc, "qdisc", "del", "dev", "eth0", "root"]).ConfigureAwait(false);
        if (rate is not null)
        {
            (await ExecAsync(ns, [Tools.Tc, "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", rate, "burst", "64kb", "latency", "50ms"]).ConfigureAwait(false)).EnsureSuccess($"shaping {ns}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            foreach (string ns in _namespaces)
            {
                await Ip(["link", "del", HostVeth(ns[Prefix.Length..])], check: false).ConfigureAwait(false);
                await Ip(["netns", "del", ns], check: false).ConfigureAwait(false);
                DeleteEtcFolder(ns);
            }
        }
        finally
        {
            await _lock.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static string HostVeth(string name) => ("tv-" + name)[..Math.Min(15, 3 + name.Length)];

    private static string EtcFolder(string ns) => Path.Combine("/etc/netns", ns);

    private static void DeleteEtcFolder(string ns)
    {
        if (Directory.Exists(EtcFolder(ns)))
        {
            Directory.Delete(EtcFolder(ns), recursive: true);
            if (Directory.GetFileSystemEntries("/etc/netns").Length == 0)
            {
                Directory.Delete("/etc/netns"); // we made it: the machine had none
            }
        }
    }

    private static async Task RemoveLeftoversAsync()
    {
        var list = await Ip(["netns", "list"], check: false).ConfigureAwait(false);
        foreach (string line in list.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string ns = line.Split(' ')[0];
            if (ns.StartsWith(Prefix, StringComparison.Ordinal))
            {
                await Ip(["link", "del", HostVeth(ns[Prefix.Length..])], check: false).ConfigureAwait(false);
                await Ip(["netns", "del", ns], check: false).ConfigureAwait(false);
            }
        }

        if (Directory.Exists("/etc/netns"))
        {
            foreach (string folder in Directory.GetDirectories("/etc/netns", Prefix + "*"))
            {
                DeleteEtcFolder(Path.GetFileName(folder));
            }
        }
    }

    private static async Task<CommandResult> Ip(IEnumerable<string> args, bool check = true)
    {
        var result = await ProcessRunner.RunAsync(Tools.Ip, args, TimeSpan.FromSeconds(20)).ConfigureAwait(false);
        return check ? result.EnsureSuccess($"ip {string.Join(' ', args)}") : result;
    }
}
