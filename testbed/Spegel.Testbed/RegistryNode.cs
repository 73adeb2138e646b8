namespace Spegel.Testbed;

/// <summary>A Distribution registry (Debian's docker-registry) with our own config, on a loopback port.</summary>
public sealed class RegistryNode : IAsyncDisposable
{
    private Daemon? _daemon;

    private RegistryNode(string folder, string host, int port, string? netns)
    {
        Folder = folder;
        Host = host;
        Port = port;
        Netns = netns;
    }

    /// <summary>The network namespace it runs in (null: the root namespace, loopback only).</summary>
    public string? Netns { get; }

    public string Folder { get; }

    public string Host { get; }

    public int Port { get; }

    /// <summary><c>host:port</c>, the registry part of image names and containerd's <c>ns</c>.</summary>
    public string Address => $"{Host}:{Port}";

    public static async Task<RegistryNode> StartAsync(string folder, string host = "127.0.0.1", int port = 0, string? netns = null)
    {
        Tools.Require(Tools.Registry);
        Directory.CreateDirectory(folder);
        var node = new RegistryNode(folder, host, port == 0 ? Network.FreePort() : port, netns);
        await node.StartAsync().ConfigureAwait(false);
        return node;
    }

    /// <summary>Starts (again) on the same port and storage.</summary>
    public async Task StartAsync()
    {
        string config = Path.Combine(Folder, "config.yml");
        await File.WriteAllTextAsync(config, $"""
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: {Path.Combine(Folder, "storage")}
              delete:
                enabled: true
            http:
              addr: {Address}
            """).ConfigureAwait(false);
        _daemon = Netns is null
            ? Daemon.Start(Tools.Registry, ["serve", config], Path.Combine(Folder, "registry.log"))
            : Daemon.Start(Tools.Ip, ["netns", "exec", Netns, Tools.Registry, "serve", config], Path.Combine(Folder, "registry.log"));
        await Network.WaitUntilAsync(async () => await Network.StatusAsync($"http://{Address}/v2/", Netns).ConfigureAwait(false) == 200, TimeSpan.FromSeconds(15), "registry", () => _daemon.ReadLog()).ConfigureAwait(false);
    }

    /// <summary>Stops the registry: the upstream is gone.</summary>
    public async Task StopAsync()
    {
        if (_daemon is not null)
        {
            await _daemon.DisposeAsync().ConfigureAwait(false);
            _daemon = null;
        }
    }

    public ValueTask DisposeAsync() => new(StopAsync());
}
