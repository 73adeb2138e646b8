using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Spegel.Hosting;
using Spegel.Mirroring;
using Spegel.Oci;
using Spegel.Registry;
using Spegel.Telemetry;
using Spegel.Tests.Registry;

namespace Spegel.Tests.Mirroring;

/// <summary>
/// Two of our nodes on one port (A on 127.0.0.1 asks B on 127.0.0.2, which holds a blob), configured as the host
/// configures them (<see cref="MirrorSettings"/>): peer requests carry proofs and the receiving registry checks them.
/// </summary>
public sealed class PeerAuthenticationTests
{
    private static readonly byte[] Blob = RandomNumberGenerator.GetBytes(64 * 1024);
    private static readonly Digest BlobDigest = Digest.Sha256(SHA256.HashData(Blob));
    private static readonly string BlobPath = $"/v2/library/app/blobs/{BlobDigest}?ns=docker.io";
    private static readonly IPAddress AddressA = IPAddress.Loopback;
    private static readonly IPAddress AddressB = IPAddress.Parse("127.0.0.2");

    private sealed record Node(WebApplication App, Refusals Refusals) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await App.StopAsync();
            await App.DisposeAsync();
        }
    }

    private static async Task<Node> StartAsync(IPAddress address, int port, byte[]? swarmKey, BasicAuth auth, bool holdsBlob)
    {
        var settings = RegistryServer.Settings("--registry-addr", $"{address}:{port}", "--bootstrap-kind", "static", "--log-level", "ERROR") with { SwarmKey = swarmKey };
        var peerKey = MirrorSettings.PeerKey(settings, auth);
        var options = MirrorSettings.From(settings, peerKey) with { BlobHeaderTimeout = TimeSpan.FromSeconds(10), HedgeDelay = TimeSpan.FromSeconds(30) };
        var store = new MemoryContentStore();
        if (holdsBlob)
        {
            store.Add(Blob);
        }

        var router = new StaticRouter(address.Equals(AddressA) ? AddressB : AddressA);
        var stats = new MirrorStats();
        var refusals = new Refusals(stats.Instruments);
        var services = new RegistryServices(
            store, new NodeReadiness(router, null), auth, ContentPolicy.AllowAll, PeerMirror.Create(router, PeerHttp.Create(options.ConnectTimeout), options, stats, refusals: refusals), stats,
            PeerAuth: new PeerAuthenticator(peerKey, FixedNodeAddresses.None, TimeProvider.System), Refusals: refusals);
        var app = RegistryApp.Build(settings, services);
        await app.StartAsync();
        return new Node(app, refusals);
    }

    private static HttpClient Client(IPAddress address, int port, BasicAuth auth)
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://{address}:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        if (auth.HeaderValue is { } basic)
        {
            http.DefaultRequestHeaders.Authorization = AuthenticationHeaderValue.Parse(basic);
        }

        return http;
    }

    private static BasicAuth Credentials(TempFolder folder, string password)
    {
        folder.Write("username", "spegel");
        folder.Write("password", password);
        return BasicAuth.Load(folder.Path);
    }

    [Fact]
    public async Task MembersWithTheSameSwarmKeyServeEachOther()
    {
        byte[] key = RandomNumberGenerator.GetBytes(32);
        int port = Spegel.Testbed.Network.FreePort();
        await using var b = await StartAsync(AddressB, port, key, BasicAuth.None, holdsBlob: true);
        await using var a = await StartAsync(AddressA, port, key, BasicAuth.None, holdsBlob: false);
        using var http = Client(AddressA, port, BasicAuth.None);
        Assert.Equal(Blob, await http.GetByteArrayAsync(BlobPath));
        Assert.All(Enum.GetValues<RefusalReason>(), reason => Assert.Equal(0, b.Refusals.Count(reason)));
    }

    [Fact]
    public async Task ANodeWithAnotherSwarmKeyIsRefusedAsAPeer()
    {
        int port = Spegel.Testbed.Network.FreePort();
        await using var b = await StartAsync(AddressB, port, RandomNumberGenerator.GetBytes(32), BasicAuth.None, holdsBlob: true);
        await using var a = await StartAsync(AddressA, port, RandomNumberGenerator.GetBytes(32), BasicAuth.None, holdsBlob: false);
        using var http = Client(AddressA, port, BasicAuth.None);
        using var response = await http.GetAsync(BlobPath);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(1, b.Refusals.Count(RefusalReason.ProofInvalid));
    }

    [Fact]
    public async Task WithASwarmKeyTheMirroredHeaderAloneIsRefusedAndAProofWorksOnce()
    {
        byte[] key = RandomNumberGenerator.GetBytes(32);
        int port = Spegel.Testbed.Network.FreePort();
        await using var b = await StartAsync(AddressB, port, key, BasicAuth.None, holdsBlob: true);

        var alone = await RawHttp.GetAsync(AddressB, port, BlobPath, "GET", "X-Spegel-Mirrored: true\r\n");
        Assert.Equal(403, alone.Status);
        Assert.Contains("DENIED", alone.BodyText, StringComparison.Ordinal);
        Assert.Equal(1, b.Refusals.Count(RefusalReason.ProofMissing));

        string host = $"{AddressB}:{port}";
        string proof = PeerProof.Create(PeerKey.FromSwarmKey(key), "GET", host, BlobPath, DateTimeOffset.UtcNow, RandomNumberGenerator.GetBytes(16));
        string headers = $"X-Spegel-Mirrored: true\r\n{PeerProtocol.ProofHeader}: {proof}\r\n";
        Assert.Equal(200, (await RawHttp.GetAsync(AddressB, port, BlobPath, "GET", headers, host)).Status);
        Assert.Equal(403, (await RawHttp.GetAsync(AddressB, port, BlobPath, "GET", headers, host)).Status);
        Assert.Equal(1, b.Refusals.Count(RefusalReason.ProofReplayed));

        // An ordinary client (containerd) is unaffected by the key.
        Assert.Equal(200, (await RawHttp.GetAsync(AddressB, port, BlobPath)).Status);
    }

    [Fact]
    public async Task WithBasicAuthOurNodesProveTheCredentialsAndStockSpegelPeersStillSendThem()
    {
        using var folder = new TempFolder();
        var auth = Credentials(folder, "cluster-secret");
        int port = Spegel.Testbed.Network.FreePort();
        await using var b = await StartAsync(AddressB, port, null, auth, holdsBlob: true);
        await using var a = await StartAsync(AddressA, port, null, auth, holdsBlob: false);

        // containerd → A (with the credentials) → B (with a proof only): served.
        using var http = Client(AddressA, port, auth);
        Assert.Equal(Blob, await http.GetByteArrayAsync(BlobPath));

        // A stock Spegel peer sends the credentials with X-Spegel-Mirrored: still answered (mixed clusters).
        Assert.Equal(200, (await RawHttp.GetAsync(AddressB, port, BlobPath, "GET", $"X-Spegel-Mirrored: true\r\nAuthorization: {auth.HeaderValue}\r\n")).Status);

        // Neither credentials nor a proof: 401, as before.
        Assert.Equal(401, (await RawHttp.GetAsync(AddressB, port, BlobPath, "GET", "X-Spegel-Mirrored: true\r\n")).Status);

        // A proof made from other credentials proves nothing.
        using var otherFolder = new TempFolder();
        string host = $"{AddressB}:{port}";
        string forged = PeerProof.Create(PeerKey.FromBasicAuth(Credentials(otherFolder, "guess").HeaderValue!), "GET", host, BlobPath, DateTimeOffset.UtcNow, RandomNumberGenerator.GetBytes(16));
        Assert.Equal(401, (await RawHttp.GetAsync(AddressB, port, BlobPath, "GET", $"X-Spegel-Mirrored: true\r\n{PeerProtocol.ProofHeader}: {forged}\r\n", host)).Status);
        Assert.Equal(1, b.Refusals.Count(RefusalReason.ProofInvalid));
    }
}
