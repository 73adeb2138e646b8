using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging.Abstractions;
using Spegel.Hosting;
using Spegel.Mirroring;
using Spegel.Oci;
using Spegel.Registry;
using Spegel.Routing;
using Spegel.Telemetry;
using Spegel.Tests.Registry;

namespace Spegel.Tests.Mirroring;

/// <summary>One fake peer's address and behaviour.</summary>
internal sealed record PeerSetup(IPAddress Address, PeerBehaviour Behaviour, long After = 0);

/// <summary>
/// Our registry on 127.0.0.1:port with an empty store, and fake peers on 127.0.0.2… (or addresses of the test's
/// choosing, ::1 included), all on the same port (peers are reached on our own registry port, as in Spegel).
/// </summary>
internal sealed class MirrorHarness : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<FakePeer> _peers;
    private readonly List<BlackHole> _blackHoles;

    private MirrorHarness(WebApplication app, int port, List<FakePeer> peers, List<BlackHole> blackHoles, StaticRouter router, MirrorStats stats, Refusals refusals)
    {
        _app = app;
        Port = port;
        _peers = peers;
        _blackHoles = blackHoles;
        Router = router;
        Stats = stats;
        Refusals = refusals;
    }

    /// <summary>What our node refused (counted per reason).</summary>
    public Refusals Refusals { get; }

    public int Port { get; }

    public StaticRouter Router { get; }

    public MirrorStats Stats { get; }

    public IReadOnlyList<FakePeer> Peers => _peers;

    public HttpClient Client() => new() { BaseAddress = new Uri($"http://127.0.0.1:{Port}"), Timeout = TimeSpan.FromSeconds(30) };

    public static byte[] Blob { get; } = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);

    public static string BlobDigest { get; } = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Blob));

    public static byte[] Manifest { get; } = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{},\"layers\":[]}"u8.ToArray();

    public static string ManifestDigest { get; } = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Manifest));

    public static Task<MirrorHarness> StartAsync(params (PeerBehaviour Behaviour, long After)[] peers) =>
        StartAsync([.. peers.Select((p, i) => new PeerSetup(IPAddress.Parse($"127.0.0.{i + 2}"), p.Behaviour, p.After))], routes: null);

    /// <summary>
    /// Fake peers on the given addresses (a <see cref="PeerBehaviour.BlackHole"/> is a <see cref="BlackHole"/>); the
    /// router returns <paramref name="routes"/> (each peer's addresses; default: one peer per fake, in order).
    /// </summary>
    /// <param name="auth">The Basic auth our registry requires from its client (containerd); the peer key, when the test
    /// wants one, comes through <paramref name="tune"/>.</param>
    /// <param name="extra">More content every fake peer holds (digest → bytes, type).</param>
    public static async Task<MirrorHarness> StartAsync(
        IReadOnlyList<PeerSetup> peers, IReadOnlyList<IPAddress[]>? routes, Func<MirrorOptions, MirrorOptions>? tune = null, BasicAuth? auth = null,
        IReadOnlyDictionary<string, (byte[] Body, string Type)>? extra = null)
    {
        int port = Spegel.Testbed.Network.FreePort(); // the same port on 127.0.0.1…N: chosen below the ephemeral range
        var content = new Dictionary<string, (byte[], string)>
        {
            [BlobDigest] = (Blob, "application/octet-stream"),
            [ManifestDigest] = (Manifest, MediaTypes.OciManifest),
            ["1"] = (Manifest, MediaTypes.OciManifest),
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, (byte[], string)>())
        {
            content[key] = value;
        }

        var fakes = new List<FakePeer>();
        var blackHoles = new List<BlackHole>();
        foreach (var peer in peers)
        {
            if (peer.Behaviour == PeerBehaviour.BlackHole)
            {
                blackHoles.Add(BlackHole.Start(peer.Address, port));
            }
            else
            {
                fakes.Add(await FakePeer.StartAsync(peer.Address, port, content, peer.Behaviour, peer.After));
            }
        }

        var router = routes is null
            ? new StaticRouter([.. fakes.Select(f => f.Address)])
            : new StaticRouter([.. routes.Select(r => (IReadOnlyList<IPAddress>)r)]);
        var stats = new MirrorStats();
        // A node that holds docker.io content (its advertiser says so): mirror requests for docker.io are counted by name.
        stats.Instruments.Registries.Know("docker.io");
        var options = new MirrorOptions
        {
            RegistryPort = port,
            ResolveTimeout = TimeSpan.FromMilliseconds(200),
            ResolveRetries = 3,
            RateGracePeriod = TimeSpan.FromMilliseconds(600),
            // A fresh Kestrel peer may take long to answer its first request on a loaded machine (JIT): waiting for
            // headers is not what these tests time, stalls are.
            BlobHeaderTimeout = TimeSpan.FromSeconds(10),
            MinDataRate = 64 * 1024,
            // No hedges unless a test asks for them: a hedge depends on real time, so a loaded machine would send
            // requests to peers a test does not expect.
            HedgeDelay = TimeSpan.FromSeconds(30),
            HeaderTimeout = TimeSpan.FromSeconds(3),
        };
        options = tune?.Invoke(options) ?? options;
        var refusals = new Refusals(stats.Instruments);
        var mirror = PeerMirror.Create(router, PeerHttp.Create(options.ConnectTimeout), options, stats, refusals: refusals);
        var settings = RegistryServer.Settings("--registry-addr", $"127.0.0.1:{port}", "--bootstrap-kind", "static", "--log-level", "ERROR");
        var services = new RegistryServices(
            new MemoryContentStore(), new NodeReadiness(router, null), auth ?? BasicAuth.None, ContentPolicy.AllowAll, mirror, stats, Refusals: refusals);
        var app = RegistryApp.Build(settings, services);
        await app.StartAsync();
        return new MirrorHarness(app, port, fakes, blackHoles, router, stats, refusals);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        foreach (var peer in _peers)
        {
            await peer.DisposeAsync();
        }

        foreach (var blackHole in _blackHoles)
        {
            blackHole.Dispose();
        }
    }
}
