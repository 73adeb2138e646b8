using System.Net;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Primitives;
using Spegel.Testbed;

namespace Spegel.IntegrationTests.Attacks;

/// <summary>
/// One node as the chart deploys it, under attack: real containerd holding an image (layers of 10 KiB, 3.6 MB and
/// 32 MiB, and a second namespace "other" with content of its own), Basic auth between containerd and the mirror, and
/// <c>spegel registry</c> inside a cgroup-v1 memory group limited to 128 MiB (the chart's limit: .NET sizes its heap
/// from it, and the kernel's OOM killer acts on it). Everything on loopback: the node on 127.0.0.1, attackers on other
/// 127.0.0.x addresses (Linux routes all of 127/8 to lo).
/// </summary>
public sealed class AttackNode : IAsyncLifetime
{
    public const long MemoryLimit = 128L * 1024 * 1024;
    public const string Username = "spegel";
    public const string Password = "cluster-secret";

    public string Root { get; } = Directory.CreateTempSubdirectory("sp-attack-").FullName;

    public ContainerdNode Containerd { get; private set; } = null!;

    public MemoryCgroup Cgroup { get; private set; } = null!;

    public SpegelProcess Spegel { get; private set; } = null!;

    public string Upstream { get; private set; } = string.Empty;

    public PeerId RouterId { get; private set; } = null!;

    public IPEndPoint RouterEndPoint { get; private set; } = null!;

    public int RegistryPort { get; private set; }

    /// <summary>Digests of the image's blobs by size: small (10 KiB), medium (3.6 MB), large (32 MiB).</summary>
    public (string Small, string Medium, string Large) Layers { get; private set; }

    public string Repository => "attack/app";

    public static string AuthorizationValue => "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{Username}:{Password}"));

    public Uri BaseAddress => new($"http://127.0.0.1:{RegistryPort}");

    /// <summary>A registry request path for a blob of the image (with <c>ns</c>, as containerd asks).</summary>
    public string BlobPath(string digest) => $"/v2/{Repository}/blobs/{digest}?ns={Uri.EscapeDataString(Upstream)}";

    public async Task InitializeAsync()
    {
        Tools.Require(Tools.Containerd, Tools.Ctr, Tools.Registry, Tools.Skopeo);
        var layout = new OciLayout(Path.Combine(Root, "layout"));
        var image = TestImages.BuildImage(layout, Repository, "1", [10 * 1024, 3_600_000, 32 * 1024 * 1024], seed: 911);
        var blobs = Directory.EnumerateFiles(Path.Combine(layout.Folder, "blobs", "sha256")).Select(f => new FileInfo(f)).OrderBy(f => f.Length).ToList();
        string Near(long size) => "sha256:" + blobs.MinBy(f => Math.Abs(f.Length - size))!.Name;
        Layers = (Near(10 * 1024 + 1536), Near(3_600_000), Near(32 * 1024 * 1024));

        await using var upstream = await RegistryNode.StartAsync(Path.Combine(Root, "upstream"));
        Upstream = upstream.Address;
        await TestImages.PushAsync(layout, image, upstream.Address);
        Containerd = await ContainerdNode.StartAsync(Path.Combine(Root, "containerd"));
        Containerd.WriteDirectHosts(upstream.Address);
        (await Containerd.PullAsync(image.Reference(upstream.Address), unpack: false)).EnsureSuccess("pulling the attack image");

        string auth = Path.Combine(Root, "basic-auth");
        Directory.CreateDirectory(auth);
        await File.WriteAllTextAsync(Path.Combine(auth, "username"), Username);
        await File.WriteAllTextAsync(Path.Combine(auth, "password"), Password);
        RouterId = PrivateKeyFile.LoadOrCreate(Path.Combine(Root, "data")).PeerId;
        RegistryPort = Network.FreePort();
        RouterEndPoint = new IPEndPoint(IPAddress.Loopback, Network.FreePort());
        await StartSpegelAsync();
    }

    /// <summary>
    /// Restarts spegel in a fresh memory group when an earlier attack killed it (that attack's test has failed and said
    /// so), so every row of the table is judged on a running node of its own.
    /// </summary>
    public async Task EnsureRunningAsync()
    {
        if (!Spegel.Daemon.HasExited)
        {
            return;
        }

        Spegel.Daemon.Close();
        Cgroup.Dispose();
        await StartSpegelAsync();
    }

    private async Task StartSpegelAsync()
    {
        Cgroup = MemoryCgroup.Create("attack-" + Guid.NewGuid().ToString("N")[..8], MemoryLimit);
        Spegel = await SpegelProcess.StartAsync(
            Path.Combine(Root, "spegel.log"),
            $"127.0.0.1:{RegistryPort}",
            [
                "--router-addr", RouterEndPoint.ToString(), "--router-announce-loopback",
                "--containerd-sock", Containerd.Socket, "--containerd-content-path", Containerd.ContentRoot,
                "--data-dir", Path.Combine(Root, "data"), "--basic-auth-dir", Path.Combine(Root, "basic-auth"),
                "--bootstrap-kind", "static", "--log-level", "INFO",
            ],
            launch: command => Cgroup.Wrap(["dotnet", SpegelProcess.DefaultBinary, .. command]));
    }

    /// <summary>The node is alive, was never OOM-killed, and still answers its health check.</summary>
    public async Task AssertHealthyAsync(string after)
    {
        Assert.False(Spegel.Daemon.HasExited, $"spegel exited after {after}:\n{Tail()}");
        Assert.Equal(0, Cgroup.OomKills);
        Assert.Equal(200, await Network.StatusAsync($"{BaseAddress}livez"));
    }

    public string Tail() => string.Join('\n', Spegel.Daemon.ReadLog().Split('\n').TakeLast(30));

    public async Task DisposeAsync()
    {
        try
        {
            if (Spegel is not null)
            {
                await Spegel.DisposeAsync();
            }
        }
        finally
        {
            Cgroup?.Dispose();
            if (Containerd is not null)
            {
                await Containerd.DisposeAsync();
            }

            try
            {
                Directory.Delete(Root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

[CollectionDefinition(Name)]
public sealed class AttackCollection : ICollectionFixture<AttackNode>
{
    public const string Name = "attacks";
}
