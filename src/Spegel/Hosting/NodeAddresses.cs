using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using Spegel.Registry;

namespace Spegel.Hosting;

/// <summary>
/// This node's own addresses, for the registry (<see cref="INodeAddresses"/>): every address of this host's
/// interfaces, <c>--node-ip</c>, and, in a pod network (the node IP is not one of the pod's), the pod's default
/// gateways: the node's end of the pod network, from which the node's own traffic reaches the pod when it is
/// masqueraded (a NodePort with a local traffic policy, bridge and Cilium networks). Read again every 30 s (addresses
/// come and go); a failure to read one source leaves the others. The request path never waits for a re-read.
/// </summary>
internal sealed class NodeAddresses(IPAddress? nodeIp, TimeProvider time, Func<IReadOnlyCollection<IPAddress>>? interfaces = null, Func<string, string?>? readFile = null) : INodeAddresses
{
    private static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(30);
    private readonly Func<IReadOnlyCollection<IPAddress>> _interfaces = interfaces ?? InterfaceAddresses;
    private readonly Func<string, string?> _readFile = readFile ?? ReadProcFile;
    private readonly Lock _lock = new();
    private volatile HashSet<IPAddress>? _addresses;
    private long _loadedAt;
    private int _refreshing;

    /// <summary>
    /// Whether <paramref name="address"/> is this node's. Only the first call reads the addresses while the caller
    /// waits; later reads run in the background once the set is 30 s old, and requests meanwhile answer from the set
    /// they have: this is on every request's path, and listing the interfaces of a node with hundreds of pod veths
    /// takes milliseconds.
    /// </summary>
    public bool Contains(IPAddress address)
    {
        address = NodeAddress.Normalize(address);
        var current = _addresses;
        if (current is null)
        {
            lock (_lock)
            {
                if (_addresses is null)
                {
                    Interlocked.Exchange(ref _loadedAt, time.GetTimestamp());
                    _addresses = Load();
                }

                current = _addresses;
            }
        }
        else if (time.GetElapsedTime(Interlocked.Read(ref _loadedAt)) >= RefreshInterval && Interlocked.CompareExchange(ref _refreshing, 1, 0) == 0)
        {
            Interlocked.Exchange(ref _loadedAt, time.GetTimestamp());
            _ = Task.Run(() =>
            {
                try
                {
                    _addresses = Load();
                }
                finally
                {
                    Volatile.Write(ref _refreshing, 0);
                }
            });
        }

        return current.Contains(address);
    }

    private HashSet<IPAddress> Load()
    {
        var set = _interfaces().Select(NodeAddress.Normalize).ToHashSet();
        if (nodeIp is not null)
        {
            var node = NodeAddress.Normalize(nodeIp);
            if (!set.Contains(node))
            {
                // A pod: the node's traffic may reach us from the node's side of the pod network.
                set.UnionWith(DefaultGateways(_readFile("/proc/net/route"), _readFile("/proc/net/ipv6_route")));
            }

            set.Add(node);
        }

        return set;
    }

    /// <summary>The gateways of the default routes in <c>/proc/net/route</c> and <c>/proc/net/ipv6_route</c> text.</summary>
    public static IReadOnlyList<IPAddress> DefaultGateways(string? ipv4Routes, string? ipv6Routes) =>
        [.. Ipv4DefaultGateways(ipv4Routes), .. Ipv6DefaultGateways(ipv6Routes)];

    /// <summary>
    /// <c>/proc/net/route</c>: a header line, then <c>Iface Destination Gateway Flags …</c> in hexadecimal, addresses in
    /// the kernel's (little-endian) byte order. A default route has destination 0 and the gateway flag (0x2).
    /// Lines that do not look like that are skipped.
    /// </summary>
    public static IEnumerable<IPAddress> Ipv4DefaultGateways(string? text)
    {
        foreach (string line in Lines(text).Skip(1))
        {
            string[] fields = line.Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 4 || fields[1] != "00000000" || fields[2].Length != 8 || fields[3].Length is 0 or > 8
                || !uint.TryParse(fields[2], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint gateway)
                || !uint.TryParse(fields[3], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint flags)
                || (flags & 0x2) == 0 || gateway == 0)
            {
                continue;
            }

            yield return new IPAddress(gateway); // the kernel prints the address's bytes as a native (little-endian) number
        }
    }

    /// <summary>
    /// <c>/proc/net/ipv6_route</c>: <c>destination prefix-length source prefix-length next-hop metric refcount use flags
    /// iface</c>, addresses as 32 hex digits. A default route has destination ::/0 and a next hop; link-local next hops
    /// count too (the node's side of a veth usually is one).
    /// </summary>
    public static IEnumerable<IPAddress> Ipv6DefaultGateways(string? text)
    {
        foreach (string line in Lines(text))
        {
            string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 10 || fields[0] != new string('0', 32) || fields[1] != "00" || fields[4].Length != 32
                || fields[4] == new string('0', 32) || !fields[4].All(char.IsAsciiHexDigit))
            {
                continue;
            }

            yield return new IPAddress(Convert.FromHexString(fields[4]));
        }
    }

    private static IEnumerable<string> Lines(string? text) =>
        text is null ? [] : text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static IReadOnlyCollection<IPAddress> InterfaceAddresses()
    {
        try
        {
            return [.. NetworkInterface.GetAllNetworkInterfaces().SelectMany(i => i.GetIPProperties().UnicastAddresses).Select(a => a.Address)];
        }
        catch (NetworkInformationException)
        {
            return [];
        }
    }

    private static string? ReadProcFile(string path)
    {
        try
        {
            using var reader = new StreamReader(path);
            char[] buffer = new char[256 * 1024]; // routing tables of a pod are a few lines; never read without a bound
            int n = reader.ReadBlock(buffer, 0, buffer.Length);
            return new string(buffer, 0, n);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
