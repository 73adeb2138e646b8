using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using Spegel.Coalescing;
using Spegel.Containerd;
using Spegel.Oci;
using Spegel.Tests.Registry;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Coalescing;

/// <summary>
/// The registry answering peers from a download in progress (real Kestrel, a growing ingest file). The coalescer's
/// waits run on <see cref="ManualTime"/>, so no deadline can pass while the machine is busy.
/// </summary>
public sealed class InProgressServingTests : IAsyncLifetime
{
    private readonly TempFolder _root = new();
    private readonly ManualTime _time = new();
    private readonly byte[] _blob = RandomNumberGenerator.GetBytes(1024 * 1024);
    private Digest _digest;
    private string _folder = string.Empty;
    private RegistryServer _server = null!;
    private HttpClient _http = null!;
    private PullCoalescer _coalescer = null!;

    public async Task InitializeAsync()
    {
        _digest = Digest.Sha256(SHA256.HashData(_blob));
        _folder = _root.Combine("ingest", "1");
        Directory.CreateDirectory(_folder);
        await File.WriteAllTextAsync(Path.Combine(_folder, "ref"), $"k8s.io/1/layer-{_digest}");
        await File.WriteAllTextAsync(Path.Combine(_folder, "total"), _blob.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await File.WriteAllBytesAsync(Path.Combine(_folder, "data"), _blob.AsSpan(0, 1000).ToArray());
        var coalescer = _coalescer = new PullCoalescer(
            new SharedDht(_time).Node("A", IPAddress.Loopback), new ContainerdIngests(_root.Path, "k8s.io", _time), new CoalescingOptions { Time = _time, Settle = TimeSpan.Zero }, NullLogger<PullCoalescer>.Instance);
        Assert.Empty(await coalescer.FindLeadersAsync(_digest, mayClaim: true, CancellationToken.None)); // this node leads the download
        _server = await RegistryServer.StartAsync(new MemoryContentStore(), coalescer: coalescer);
        _http = new HttpClient { BaseAddress = _server.BaseAddress };
    }

    [Fact]
    public async Task APeerGetsTheWholeBlobAsItArrivesMarkedInProgress()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/x/blobs/{_digest}");
        request.Headers.Add("X-Spegel-Mirrored", "true");
        var sending = _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var response = await sending;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(_blob.Length, response.Content.Headers.ContentLength);
        Assert.Equal("true", response.Headers.GetValues("X-Spegel-In-Progress").Single());
        Assert.Equal(_digest.ToString(), response.Headers.GetValues("Docker-Content-Digest").Single());

        // The first 1000 bytes are there; the reader then waits for more before the rest arrives.
        var reading = response.Content.ReadAsByteArrayAsync();
        await _time.NextTimerAsync(TimeSpan.FromMilliseconds(10));
        Assert.False(reading.IsCompleted);
        await using (var data = new FileStream(Path.Combine(_folder, "data"), FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
        {
            await data.WriteAsync(_blob.AsMemory(1000));
        }

        _time.Advance(TimeSpan.FromMilliseconds(10));
        Assert.Equal(_blob, await reading.Within("the rest of the blob"));
    }

    [Fact]
    public async Task APeerGetsARangeOfIt()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/x/blobs/{_digest}");
        request.Headers.Add("X-Spegel-Mirrored", "true");
        request.Headers.Add("Range", "bytes=10-19");
        using var response = await _http.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal(_blob[10..20], await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task OurOwnContainerdIsNeverServedItsOwnDownload()
    {
        // Without X-Spegel-Mirrored the request is containerd's: a download in progress here is its own, so 404.
        using var response = await _http.GetAsync($"/v2/x/blobs/{_digest}");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task WithAPeerKeyOnlyAProvenPeerFollowsTheDownload()
    {
        // Basic auth without a swarm key: stock Spegel peers are still answered as peers (X-Spegel-Mirrored with the
        // credentials), but only our nodes, which prove the key, are served a download in progress.
        var key = PeerKey.FromBasicAuth("Basic dXNlcjpwdw==");
        await using var server = await RegistryServer.StartAsync(
            new MemoryContentStore(), coalescer: _coalescer, peers: new Spegel.Registry.PeerAuthenticator(key, Spegel.Registry.FixedNodeAddresses.None, TimeProvider.System));
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        string target = $"/v2/x/blobs/{_digest}";

        var unproven = new HttpRequestMessage(HttpMethod.Get, target);
        unproven.Headers.Add("X-Spegel-Mirrored", "true");
        unproven.Headers.Add("Range", "bytes=0-9");
        using (var response = await http.SendAsync(unproven))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        string host = $"127.0.0.1:{server.Port}";
        var proven = new HttpRequestMessage(HttpMethod.Get, target);
        proven.Headers.Add("X-Spegel-Mirrored", "true");
        proven.Headers.Add("Range", "bytes=0-9");
        proven.Headers.Host = host;
        proven.Headers.Add(PeerProtocol.ProofHeader, PeerProof.Create(key, "GET", host, target, DateTimeOffset.UtcNow, RandomNumberGenerator.GetBytes(16)));
        using (var response = await http.SendAsync(proven))
        {
            Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
            Assert.Equal(_blob[..10], await response.Content.ReadAsByteArrayAsync());
        }
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _server.DisposeAsync();
        _root.Dispose();
    }
}
