namespace Spegel.Testbed;

/// <summary>
/// A containerd of its own (root, state, sockets in one short folder; CRI off unless asked), driven with ctr.
/// TESTBED.md §3.
/// </summary>
public sealed class ContainerdNode : IAsyncDisposable
{
    public const string Namespace = "k8s.io";
    private static readonly TimeSpan CtrTimeout = TimeSpan.FromMinutes(3);
    private Daemon? _daemon;

    private ContainerdNode(string folder, bool cri, string? criConfigPath, bool discardUnpackedLayers)
    {
        Folder = folder;
        Cri = cri;
        CriConfigPath = criConfigPath;
        DiscardUnpackedLayers = discardUnpackedLayers;
    }

    public string Folder { get; }

    public bool Cri { get; }

    public string? CriConfigPath { get; }

    public bool DiscardUnpackedLayers { get; }

    public string Socket => Path.Combine(Folder, "c.sock");

    public string Root => Path.Combine(Folder, "root");

    public string ContentRoot => Path.Combine(Root, "io.containerd.content.v1.content");

    /// <summary>The hosts folder ctr is pointed at (<c>--hosts-dir</c>); also CRI's <c>config_path</c>.</summary>
    public string HostsDir => Path.Combine(Folder, "certs.d");

    /// <summary>Unix socket paths are limited to 108 bytes: keep <paramref name="folder"/> short.</summary>
    public static async Task<ContainerdNode> StartAsync(string folder, bool cri = false, string? criConfigPath = null, bool discardUnpackedLayers = false)
    {
        Tools.Require(Tools.Containerd, Tools.Ctr);
        Directory.CreateDirectory(folder);
        var node = new ContainerdNode(folder, cri, criConfigPath, discardUnpackedLayers);
        Directory.CreateDirectory(node.HostsDir);
        await node.StartAsync().ConfigureAwait(false);
        return node;
    }

    public async Task StartAsync()
    {
        var disabled = new List<string>
        {
            "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
            "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
        };
        if (!Cri)
        {
            disabled.Add("io.containerd.grpc.v1.cri");
        }

        string criSection = Cri ? $"""

            [plugins."io.containerd.grpc.v1.cri"]
              disable_cgroup = true
            [plugins."io.containerd.grpc.v1.cri".containerd]
              snapshotter = "native"
              discard_unpacked_layers = {(DiscardUnpackedLayers ? "true" : "false")}
            [plugins."io.containerd.grpc.v1.cri".registry]
              config_path = "{CriConfigPath ?? HostsDir}"
            """ : string.Empty;
        string config = Path.Combine(Folder, "config.toml");
        await File.WriteAllTextAsync(config, $"""
            version = 2
            root = "{Root}"
            state = "{Path.Combine(Folder, "state")}"
            disabled_plugins = [{string.Join(", ", disabled.Select(d => $"\"{d}\""))}]
            [grpc]
              address = "{Socket}"
            [ttrpc]
              address = "{Socket}.ttrpc"
            [debug]
              address = "{Path.Combine(Folder, "debug.sock")}"
            [metrics]
              address = ""
            {criSection}
            """).ConfigureAwait(false);
        _daemon = Daemon.Start(Tools.Containerd, ["--config", config], Path.Combine(Folder, "containerd.log"));
        await Network.WaitUntilAsync(
            async () => (await Ctr(["version"], TimeSpan.FromSeconds(5)).ConfigureAwait(false)).ExitCode == 0,
            TimeSpan.FromSeconds(60), "containerd", () => _daemon.ReadLog()).ConfigureAwait(false); // seconds when the machine is loaded
    }

    public async Task StopAsync()
    {
        if (_daemon is not null)
        {
            var daemon = _daemon;
            _daemon = null;
            var outcome = await daemon.StopAsync(Daemon.StopGrace).ConfigureAwait(false);
            daemon.Close();
            daemon.ThrowIfKilled(outcome);
        }
    }

    /// <summary>The network namespace ctr runs in when it pulls (ctr pulls in the client); null: the root namespace.</summary>
    public string? Netns { get; set; }

    public Task<CommandResult> Ctr(IEnumerable<string> arguments, TimeSpan? timeout = null) => Netns is null
        ? ProcessRunner.RunAsync(Tools.Ctr, ["--address", Socket, "--namespace", Namespace, .. arguments], timeout ?? CtrTimeout)
        : ProcessRunner.RunAsync(Tools.Ip, ["netns", "exec", Netns, Tools.Ctr, "--address", Socket, "--namespace", Namespace, .. arguments], timeout ?? CtrTimeout);

    /// <summary>Removes every image, then every blob (and leases a killed pull left), so the node holds nothing.</summary>
    public async Task ClearAsync()
    {
        foreach (string lease in (await Ctr(["leases", "ls", "-q"]).ConfigureAwait(false)).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            await Ctr(["leases", "rm", lease]).ConfigureAwait(false);
        }

        var images = (await Ctr(["images", "ls", "-q"]).ConfigureAwait(false)).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (images.Length > 0)
        {
            await Ctr(["images", "rm", "--sync", .. images]).ConfigureAwait(false);
        }

        var content = await ContentDigestsAsync().ConfigureAwait(false);
        if (content.Count > 0)
        {
            await Ctr(["content", "rm", .. content]).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// <c>ctr images pull</c> as a client with a hosts folder. ctr pulls in the client process: it is the one that
    /// reads hosts.toml and talks to mirrors. Unpacks with the native snapshotter, which works without overlay
    /// mounts.
    /// </summary>
    public Task<CommandResult> PullAsync(string reference, string? hostsDir = null, TimeSpan? timeout = null, string? platform = null, bool unpack = true)
    {
        var args = new List<string> { "images", "pull", "--plain-http", "--hosts-dir", hostsDir ?? HostsDir };
        if (unpack)
        {
            args.AddRange(["--snapshotter", "native"]);
        }

        if (platform is not null)
        {
            args.AddRange(["--platform", platform]);
        }

        args.Add(reference);
        return Ctr(args, timeout);
    }

    /// <summary>Fetches all content of an image without unpacking it (for artifacts).</summary>
    public Task<CommandResult> FetchAsync(string reference, string? hostsDir = null, TimeSpan? timeout = null) =>
        Ctr(["content", "fetch", "--plain-http", "--hosts-dir", hostsDir ?? HostsDir, reference], timeout);

    /// <summary>The digests in the content store of our namespace.</summary>
    public async Task<IReadOnlyList<string>> ContentDigestsAsync()
    {
        var result = (await Ctr(["content", "ls", "-q"]).ConfigureAwait(false)).EnsureSuccess("ctr content ls");
        return result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary>
    /// Writes a hosts.toml over plain HTTP: pulls of <paramref name="registryAddress"/>'s images go straight to it, no mirror; or to <paramref name="server"/>
    /// instead (another registry holding the same images under the same names).
    /// </summary>
    public void WriteDirectHosts(string registryAddress, string? server = null)
    {
        string folder = Path.Combine(HostsDir, registryAddress);
        server ??= registryAddress;
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "hosts.toml"), $"""
            server = "http://{server}"

            [host."http://{server}"]
              capabilities = ["pull", "resolve"]
            """);
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);
}
