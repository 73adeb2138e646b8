using System.Globalization;
using Spegel.Libp2p.Crypto;

namespace Spegel.Testbed;

/// <summary>One node of the test cluster: its namespace and address, containerd, and <c>spegel registry</c>.</summary>
public sealed class ClusterNode : IAsyncDisposable
{
    internal ClusterNode(int index, string folder, string netns, ContainerdNode containerd, string peerId)
    {
        Index = index;
        Folder = folder;
        Netns = netns;
        Containerd = containerd;
        PeerId = peerId;
    }

    public int Index { get; }

    public string Name => $"n{Index}";

    public string Folder { get; }

    public string Netns { get; }

    public string Address => TestNetwork.AddressOf(Index);

    public string RegistryAddress => $"{Address}:5000";

    public string PeerId { get; }

    public ContainerdNode Containerd { get; }

    public SpegelProcess? Spegel { get; internal set; }

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
            await Containerd.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>
/// The multi-node harness (TESTBED.md §0, §5): a registry host and N nodes, each in its own network namespace with
/// its own containerd (whose ctr pulls run in the node's namespace) and <c>spegel registry</c> on
/// <c>10.77.0.N:5000</c> (router :5001). Node 1 starts alone; the others bootstrap off it statically (identities are
/// made ahead, so the peer ID is known). Mirror configuration is written by <c>spegel configuration</c>.
/// </summary>
public sealed class Cluster : IAsyncDisposable
{
    public const int RegistryOctet = 100;
    private readonly TestNetwork _network;
    private readonly IReadOnlyList<string> _spegelArgs;

    private Cluster(string root, TestNetwork network, RegistryNode upstream, List<ClusterNode> nodes, IReadOnlyList<string> spegelArgs)
    {
        Root = root;
        _network = network;
        Upstream = upstream;
        Nodes = nodes;
        _spegelArgs = spegelArgs;
    }

    public string Root { get; }

    public RegistryNode Upstream { get; }

    public IReadOnlyList<ClusterNode> Nodes { get; }

    public string UpstreamAddress => Upstream.Address;

    public static async Task<Cluster> StartAsync(string root, int nodes, IReadOnlyList<string>? spegelArgs = null)
    {
        Tools.Require(Tools.Containerd, Tools.Ctr, Tools.Registry, Tools.Skopeo, Tools.Ip, Tools.Nft, Tools.Tc);
        var network = await TestNetwork.CreateAsync().ConfigureAwait(false);
        try
        {
            string registryNs = await network.AddHostAsync("reg", RegistryOctet).ConfigureAwait(false);
            var upstream = await RegistryNode.StartAsync(Path.Combine(root, "upstream"), TestNetwork.AddressOf(RegistryOctet), 5000, registryNs).ConfigureAwait(false);
            var list = new List<ClusterNode>();
            for (int i = 1; i <= nodes; i++)
            {
                string folder = Path.Combine(root, $"n{i}");
                string ns = await network.AddHostAsync($"n{i}", i).ConfigureAwait(false);
                var containerd = await ContainerdNode.StartAsync(folder).ConfigureAwait(false);
                containerd.Netns = ns;
                var identity = PrivateKeyFile.LoadOrCreate(Path.Combine(folder, "data"));
                list.Add(new ClusterNode(i, folder, ns, containerd, identity.PeerId.ToString()));
            }

            var cluster = new Cluster(root, network, upstream, list, spegelArgs ?? []);
            foreach (var node in list)
            {
                await cluster.ConfigureMirrorAsync(node).ConfigureAwait(false);
            }

            await Task.WhenAll(list.Select(cluster.StartSpegelAsync)).ConfigureAwait(false);
            return cluster;
        }
        catch
        {
            await network.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public string Reference(TestImage image) => image.Reference(UpstreamAddress);

    /// <summary>Writes the node's hosts.toml with <c>spegel configuration</c>: its own instance first, then upstream.</summary>
    public async Task ConfigureMirrorAsync(ClusterNode node) =>
        (await SpegelProcess.RunAsync([
            "configuration",
            "--containerd-registry-config-path", node.Containerd.HostsDir,
            "--mirror-targets", $"http://{node.RegistryAddress}",
            "--mirrored-registries", $"http://{UpstreamAddress}",
            "--basic-auth-dir", Path.Combine(Root, "no-basic-auth"),
        ]).ConfigureAwait(false)).EnsureSuccess($"spegel configuration on {node.Name}");

    /// <summary>Starts the node's spegel and waits until it is ready (node 1 alone; the others bootstrapped).</summary>
    public async Task StartSpegelAsync(ClusterNode node)
    {
        var args = new List<string>
        {
            "--router-addr", $"{node.Address}:5001",
            "--containerd-sock", node.Containerd.Socket,
            "--containerd-content-path", string.Empty,
            "--data-dir", node.DataDir,
            "--bootstrap-kind", "static",
            "--log-level", "DEBUG",
        };
        if (node.Index != 1)
        {
            args.AddRange(["--static-bootstrap-peers", $"/ip4/{Nodes[0].Address}/tcp/5001/p2p/{Nodes[0].PeerId}"]);
        }

        args.AddRange(_spegelArgs);
        node.Spegel = await SpegelProcess.StartAsync(node.SpegelLog, node.RegistryAddress, args, netns: node.Netns, waitReady: true).ConfigureAwait(false);
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
