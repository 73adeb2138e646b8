using System.Globalization;
using Spegel.Libp2p.Crypto;

namespace Spegel.Testbed;

/// <summary>The address families of a test node (TESTBED.md §0: IPv6 only in <c>fd77:77::/64</c>).</summary>
public enum NodeStack
{
    /// <summary><c>10.77.0.N</c>; spegel listens on that address.</summary>
    IPv4,

    /// <summary><c>10.77.0.N</c> and <c>fd77:77::N</c>, IPv6 primary (the chart's NODE_IP is the IPv6 one); spegel listens on <c>:5000</c>/<c>:5001</c>.</summary>
    DualStack,

    /// <summary><c>fd77:77::N</c> only; spegel's registry on <c>[::]:5000</c>, router on <c>[fd77:77::N]:5001</c>.</summary>
    IPv6,
}

/// <summary>One node of the test cluster: its namespace and address, containerd, and <c>spegel registry</c>.</summary>
public sealed class ClusterNode : IAsyncDisposable
{
    internal ClusterNode(int index, NodeStack stack, string folder, string netns, ContainerdNode containerd, string peerId)
    {
        Index = index;
        Stack = stack;
        Folder = folder;
        Netns = netns;
        Containerd = containerd;
        PeerId = peerId;
    }

    public int Index { get; }

    public NodeStack Stack { get; }

    public string Name => $"n{Index}";

    public string Folder { get; }

    public string Netns { get; }

    /// <summary>Its IPv4 address (its IPv6 address when it has no IPv4).</summary>
    public string Address => Stack == NodeStack.IPv6 ? TestNetwork.Address6Of(Index) : TestNetwork.AddressOf(Index);

    /// <summary>Its IPv6 address, or null.</summary>
    public string? Address6 => Stack == NodeStack.IPv4 ? null : TestNetwork.Address6Of(Index);

    /// <summary>The node IP as Kubernetes gives it to the chart (<c>status.hostIP</c>): IPv6 on an IPv6-primary node.</summary>
    public string NodeIp => Address6 ?? Address;

    /// <summary><c>host:port</c> of its registry API, IPv6 in brackets.</summary>
    public string RegistryAddress => Stack == NodeStack.IPv6 ? $"[{Address}]:5000" : $"{Address}:5000";

    /// <summary>The mirror target the chart renders, <c>http://$(NODE_IP):5000</c>: an IPv6 node IP unbracketed.</summary>
    public string ChartMirrorTarget => $"http://{NodeIp}:5000";

    /// <summary>
    /// The mirror target containerd is configured with here. A node with IPv6 uses loopback: containerd 1.6 (the
    /// test bed's) cannot read a hosts.toml whose table key holds an IPv6 URL, <c>[host.'http://[fd77:77::2]:5000']</c>
    /// (its TOML parser, go-toml v1, refuses <c>[</c> in a table key: containerd#10055; containerd 2.x parses it), and
    /// the unbracketed form sends a Host header Kestrel rejects. Every hop between nodes still goes over IPv6.
    /// </summary>
    public string ContainerdMirrorTarget => Stack == NodeStack.IPv4 ? $"http://{RegistryAddress}" : "http://127.0.0.1:5000";

    public string PeerId { get; }

    public ContainerdNode Containerd { get; }

    public SpegelProcess? Spegel { get; internal set; }

    /// <summary>
    /// The memory group its spegel runs in when the cluster has <see cref="ClusterOptions.MemoryLimitBytes"/> (one group
    /// for the node's life: restarts join it again, so its OOM kills and peak cover every run), else null.
    /// </summary>
    public MemoryCgroup? Cgroup { get; internal set; }

    public string DataDir => Path.Combine(Folder, "data");

    /// <summary>Every spegel log of this node so far (restarts append).</summary>
    public string SpegelLog => Path.Combine(Folder, "spegel.log");

    public string ReadSpegelLog()
    {
        using var stream = new FileStream(SpegelLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }

    public Task<CommandResult> PullAsync(string reference, TimeSpan? timeout = null, string? platform = null) =>
        Containerd.PullAsync(reference, timeout: timeout ?? TimeSpan.FromMinutes(2), platform: platform);

    public Task<CommandResult> FetchAsync(string reference, TimeSpan? timeout = null) =>
        Containerd.FetchAsync(reference, timeout: timeout ?? TimeSpan.FromMinutes(2));

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Spegel is not null)
            {
                await Spegel.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            try
            {
                await Containerd.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                Cgroup?.Dispose();
            }
        }
    }
}

/// <summary>How a <see cref="Cluster"/> is built beyond its node count.</summary>
public sealed record ClusterOptions
{
    /// <summary>Extra <c>spegel registry</c> flags for every node.</summary>
    public IReadOnlyList<string> SpegelArgs { get; init; } = [];

    /// <summary>Extra <c>spegel registry</c> flags for node N (from 1), after <see cref="SpegelArgs"/>.</summary>
    public Func<int, IReadOnlyList<string>> NodeSpegelArgs { get; init; } = _ => [];

    /// <summary>
    /// Whether the start waits until node N (from 1) is ready; false for a node that is meant never to find a peer
    /// (it is then only waited for until alive).
    /// </summary>
    public Func<int, bool> WaitReady { get; init; } = _ => true;

    /// <summary>The address families of node N (from 1); default IPv4 only.</summary>
    public Func<int, NodeStack> Stack { get; init; } = _ => NodeStack.IPv4;

    /// <summary>
    /// Nodes (from 1) that bootstrap by DNS instead of statically off node 1: <see cref="Cluster.BootstrapDomain"/>
    /// resolves, through the namespace's <c>/etc/hosts</c>, to every node's addresses (A and AAAA), as the chart's
    /// headless Service does.
    /// </summary>
    public IReadOnlySet<int> DnsBootstrap { get; init; } = new HashSet<int>();

    /// <summary>
    /// When above 0, every node's spegel runs inside its own cgroup-v1 memory group with this hard limit, as in a pod
    /// (the chart: 128 MiB): .NET sizes its heap from it and the kernel's OOM killer acts on it
    /// (<see cref="ClusterNode.Cgroup"/>). 0: no group.
    /// </summary>
    public long MemoryLimitBytes { get; init; }

    /// <summary>
    /// A published spegel executable to run on every node instead of <c>dotnet spegel.dll</c> (the image's single-file,
    /// trimmed build, whose memory differs: far fewer mapped assembly pages); null: the build next to the harness.
    /// </summary>
    public string? SpegelBinary { get; init; }
}

/// <summary>
/// The multi-node harness (TESTBED.md §0, §5): a registry host and N nodes, each in its own network namespace with
/// its own containerd (whose ctr pulls run in the node's namespace) and <c>spegel registry</c> on
/// <c>10.77.0.N:5000</c> (router :5001), or dual-stack / IPv6-only (<see cref="NodeStack"/>). Node 1 starts alone;
/// the others bootstrap off it statically (identities are made ahead, so the peer ID is known), over IPv6 when both
/// have it, or by DNS. Mirror configuration is written by <c>spegel configuration</c>.
/// </summary>
public sealed class Cluster : IAsyncDisposable
{
    public const int RegistryOctet = 100;

    /// <summary>The name DNS-bootstrapping nodes resolve (the chart's <c>&lt;fullname&gt;-bootstrap.&lt;ns&gt;.svc…</c>).</summary>
    public const string BootstrapDomain = "spegel-bootstrap.spegel.svc.cluster.local";
    private readonly TestNetwork _network;
    private readonly ClusterOptions _options;

    private Cluster(string root, TestNetwork network, RegistryNode upstream, List<ClusterNode> nodes, ClusterOptions options)
    {
        Root = root;
        _network = network;
        Upstream = upstream;
        Nodes = nodes;
        _options = options;
    }

    public string Root { get; }

    public RegistryNode Upstream { get; }

    public IReadOnlyList<ClusterNode> Nodes { get; }

    public string UpstreamAddress => Upstream.Address;

    public static Task<Cluster> StartAsync(string root, int nodes, IReadOnlyList<string>? spegelArgs = null) =>
        StartAsync(root, nodes, new ClusterOptions { SpegelArgs = spegelArgs ?? [] });

    public static async Task<Cluster> StartAsync(string root, int nodes, ClusterOptions options)
    {
        Tools.Require(Tools.Containerd, Tools.Ctr, Tools.Registry, Tools.Skopeo, Tools.Ip, Tools.Nft, Tools.Tc);
        var network = await TestNetwork.CreateAsync().ConfigureAwait(false);
        var list = new List<ClusterNode>();
        RegistryNode? upstream = null;
        try
        {
            string registryNs = await network.AddHostAsync("reg", RegistryOctet).ConfigureAwait(false);
            upstream = await RegistryNode.StartAsync(Path.Combine(root, "upstream"), TestNetwork.AddressOf(RegistryOctet), 5000, registryNs).ConfigureAwait(false);
            for (int i = 1; i <= nodes; i++)
            {
                string folder = Path.Combine(root, $"n{i}");
                var stack = options.Stack(i);
                string ns = await network.AddHostAsync($"n{i}", i, ipv4: stack != NodeStack.IPv6, ipv6: stack != NodeStack.IPv4).ConfigureAwait(false);
                var containerd = await ContainerdNode.StartAsync(folder).ConfigureAwait(false);
                containerd.Netns = ns;
                var identity = PrivateKeyFile.LoadOrCreate(Path.Combine(folder, "data"));
                list.Add(new ClusterNode(i, stack, folder, ns, containerd, identity.PeerId.ToString()));
            }

            var cluster = new Cluster(root, network, upstream, list, options);
            foreach (var node in list)
            {
                await cluster.ConfigureMirrorAsync(node).ConfigureAwait(false);
                if (options.DnsBootstrap.Contains(node.Index))
                {
                    // The headless Service's records: every node, this one included (A and AAAA).
                    await TestNetwork.WriteHostsAsync(node.Netns, list.SelectMany(n => new[] { n.Stack == NodeStack.IPv6 ? null : TestNetwork.AddressOf(n.Index), n.Address6 })
                        .OfType<string>().Select(a => (a, BootstrapDomain))).ConfigureAwait(false);
                }
            }

            await Task.WhenAll(list.Select(cluster.StartSpegelAsync)).ConfigureAwait(false);
            return cluster;
        }
        catch
        {
            // The nodes started so far stop too (their containerd would outlive the run otherwise).
            foreach (var node in list)
            {
                try
                {
                    await node.DisposeAsync().ConfigureAwait(false);
                }
                catch (InvalidOperationException)
                {
                    // A spegel that failed to start says so in the exception thrown below.
                }
            }

            if (upstream is not null)
            {
                await upstream.DisposeAsync().ConfigureAwait(false);
            }

            await network.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public string Reference(TestImage image) => image.Reference(UpstreamAddress);

    /// <summary>Writes the node's hosts.toml with <c>spegel configuration</c>: its own instance first, then upstream.</summary>
    public Task ConfigureMirrorAsync(ClusterNode node) => ConfigureMirrorAsync(node, node.Containerd.HostsDir, node.ContainerdMirrorTarget);

    /// <summary>Runs <c>spegel configuration</c> for <paramref name="node"/> into <paramref name="hostsDir"/> with one mirror target.</summary>
    public async Task ConfigureMirrorAsync(ClusterNode node, string hostsDir, string mirrorTarget) =>
        (await SpegelProcess.RunAsync([
            "configuration",
            "--containerd-registry-config-path", hostsDir,
            "--mirror-targets", mirrorTarget,
            "--mirrored-registries", $"http://{UpstreamAddress}",
            "--basic-auth-dir", Path.Combine(Root, "no-basic-auth"),
        ]).ConfigureAwait(false)).EnsureSuccess($"spegel configuration on {node.Name}");

    /// <summary>
    /// Starts the node's spegel and waits until it is ready (node 1 alone; the others bootstrapped), or only alive
    /// where <see cref="ClusterOptions.WaitReady"/> says so.
    /// </summary>
    public async Task StartSpegelAsync(ClusterNode node)
    {
        var (registryListen, routerListen) = node.Stack switch
        {
            NodeStack.DualStack => (":5000", ":5001"),
            NodeStack.IPv6 => ("[::]:5000", $"[{node.Address6}]:5001"),
            _ => (node.RegistryAddress, $"{node.Address}:5001"),
        };
        var args = new List<string>
        {
            "--router-addr", routerListen,
            "--containerd-sock", node.Containerd.Socket,
            "--containerd-content-path", string.Empty,
            "--data-dir", node.DataDir,
            "--log-level", "DEBUG",
        };
        var first = Nodes[0];
        if (_options.DnsBootstrap.Contains(node.Index))
        {
            args.AddRange(["--bootstrap-kind", "dns", "--dns-bootstrap-domain", BootstrapDomain]);
        }
        else
        {
            args.AddRange(["--bootstrap-kind", "static"]);
            if (node.Index != 1)
            {
                string peer = node.Address6 is not null && first.Address6 is not null ? $"/ip6/{first.Address6}" : $"/ip4/{first.Address}";
                args.AddRange(["--static-bootstrap-peers", $"{peer}/tcp/5001/p2p/{first.PeerId}"]);
            }
        }

        args.AddRange(_options.SpegelArgs);
        args.AddRange(_options.NodeSpegelArgs(node.Index));
        if (_options.MemoryLimitBytes > 0)
        {
            node.Cgroup ??= MemoryCgroup.Create($"{node.Name}-{Guid.NewGuid().ToString("N")[..8]}", _options.MemoryLimitBytes);
        }

        node.Spegel = await SpegelProcess.StartAsync(node.SpegelLog, node.RegistryAddress, args, netns: node.Netns, waitReady: _options.WaitReady(node.Index), registryListen: registryListen, cgroup: node.Cgroup,
            launch: _options.SpegelBinary is { } binary ? command => [binary, .. command] : null).ConfigureAwait(false);
    }

    public async Task StopSpegelAsync(ClusterNode node)
    {
        if (node.Spegel is not null)
        {
            await node.Spegel.DisposeAsync().ConfigureAwait(false);
            node.Spegel = null;
        }
    }

    /// <summary>Stops everything; the namespaces and the lock are released even when a spegel misbehaved (which then fails).</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await Task.WhenAll(Nodes.Select(n => n.DisposeAsync().AsTask())).ConfigureAwait(false);
        }
        finally
        {
            try
            {
                await Upstream.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                await _network.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    public static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture);
}
