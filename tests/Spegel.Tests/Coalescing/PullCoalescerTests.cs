using System.IO.Pipelines;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Spegel.Coalescing;
using Spegel.Containerd;
using Spegel.Oci;

namespace Spegel.Tests.Coalescing;

/// <summary>Who downloads a blob nobody holds yet, and how the others get it.</summary>
public sealed class PullCoalescerTests : IDisposable
{
    private static readonly Digest Layer = Digest.Parse("sha256:" + new string('b', 64));
    private readonly TempFolder _root = new();
    private readonly SharedDht _dht = new();

    [Fact]
    public async Task TheFirstNodeLeadsAndClaimsTheBlob()
    {
        var a = Coalescer("A");
        Assert.Empty(await a.FindLeadersAsync(Layer, CancellationToken.None));
        Assert.Equal(["A"], _dht.Providers(PullCoalescer.ClaimKey(Layer)));
        Assert.Empty(_dht.Providers(Layer.ToString())); // a claim is never advertised as content
    }

    [Fact]
    public async Task LaterNodesFollowTheClaimantAndDoNotClaim()
    {
        Assert.Empty(await Coalescer("B").FindLeadersAsync(Layer, CancellationToken.None));
        var leaders = await Coalescer("A").FindLeadersAsync(Layer, CancellationToken.None);
        Assert.Equal(["B"], leaders.Select(p => p.Id));
        Assert.Equal(["B"], _dht.Providers(PullCoalescer.ClaimKey(Layer)));
    }

    [Theory]
    [InlineData(2, 0)]
    [InlineData(5, 0)]
    [InlineData(5, 5)]
    [InlineData(8, 20)]
    public async Task NodesThatClaimAtOnceAgreeOnOneLeaderTheLowestId(int nodes, int propagationMs)
    {
        _dht.PropagationDelay = TimeSpan.FromMilliseconds(propagationMs);
        var coalescers = Enumerable.Range(0, nodes).Select(i => (Id: $"node-{i}", Coalescer: Coalescer($"node-{i}"))).ToList();
        var decisions = await Task.WhenAll(coalescers.Select(async c => (c.Id, Leaders: await c.Coalescer.FindLeadersAsync(Layer, CancellationToken.None))));

        var leading = decisions.Where(d => d.Leaders.Count == 0).Select(d => d.Id).ToList();
        Assert.Equal(["node-0"], leading);
        Assert.All(decisions.Where(d => d.Leaders.Count > 0), d => Assert.Equal("node-0", d.Leaders[0].Id));
        Assert.Equal(["node-0"], _dht.Providers(PullCoalescer.ClaimKey(Layer)));
    }

    [Fact]
    public async Task AClaimExpiresAndIsWithdrawn()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var options = new CoalescingOptions { Time = time, Settle = TimeSpan.Zero };
        var a = Coalescer("A", options);
        Assert.Empty(await a.FindLeadersAsync(Layer, CancellationToken.None));
        time.Advance(options.ClaimLifetime + TimeSpan.FromSeconds(1));
        var other = Digest.Parse("sha256:" + new string('c', 64));
        Assert.Empty(await a.FindLeadersAsync(other, CancellationToken.None));
        Assert.Empty(_dht.Providers(PullCoalescer.ClaimKey(Layer)));
        Assert.Equal(["A"], _dht.Providers(PullCoalescer.ClaimKey(other)));
    }

    [Fact]
    public async Task APeerAskingTheLeaderWaitsForItsDownloadToStartThenFollowsIt()
    {
        var a = Coalescer("A");
        Assert.Empty(await a.FindLeadersAsync(Layer, CancellationToken.None));

        var opening = a.OpenInProgressAsync(Layer, CancellationToken.None);
        await Task.Delay(100);
        Assert.False(opening.IsCompleted);
        string folder = _root.Combine("ingest", "1");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "ref"), $"k8s.io/1/layer-{Layer}");
        File.WriteAllText(Path.Combine(folder, "total"), "6");
        File.WriteAllText(Path.Combine(folder, "data"), "abc");
        await using var reader = await opening;
        Assert.NotNull(reader);
        Assert.Equal(6, reader.Size);

        var buffer = new MemoryStream();
        var pipe = PipeWriter.Create(buffer, new StreamPipeWriterOptions(leaveOpen: true));
        var copying = reader.CopyToAsync(pipe, 0, 6, CancellationToken.None);
        await Task.Delay(50);
        await File.AppendAllTextAsync(Path.Combine(folder, "data"), "def");
        await copying;
        await pipe.CompleteAsync();
        Assert.Equal("abcdef", System.Text.Encoding.ASCII.GetString(buffer.ToArray()));
    }

    [Fact]
    public async Task APeerAskingANodeThatIsNotPullingIsAnsweredAtOnce()
    {
        var started = DateTime.UtcNow;
        Assert.Null(await Coalescer("A").OpenInProgressAsync(Layer, CancellationToken.None));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task ANodeThatDoesNotLeadNeverServesItsDownload()
    {
        // Its containerd's ingest may be waiting on its own spegel (containerd creates it before asking the mirror):
        // serving it would let two such nodes wait on each other.
        Assert.Empty(await Coalescer("A").FindLeadersAsync(Layer, CancellationToken.None));
        var b = Coalescer("B");
        Assert.Equal(["A"], (await b.FindLeadersAsync(Layer, CancellationToken.None)).Select(p => p.Id));
        AddIngest("b-own", "0");
        var started = DateTime.UtcNow;
        Assert.Null(await b.OpenInProgressAsync(Layer, CancellationToken.None));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task ALeaderWhoseDownloadNeverStartsAnswersAfterTheStartTimeout()
    {
        var a = Coalescer("A", new CoalescingOptions { StartTimeout = TimeSpan.FromMilliseconds(200) });
        Assert.Empty(await a.FindLeadersAsync(Layer, CancellationToken.None));
        Assert.Null(await a.OpenInProgressAsync(Layer, CancellationToken.None));
    }

    public void Dispose() => _root.Dispose();

    private void AddIngest(string name, string data)
    {
        string folder = _root.Combine("ingest", name);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "ref"), $"k8s.io/1/layer-{Layer}");
        File.WriteAllText(Path.Combine(folder, "total"), "6");
        File.WriteAllText(Path.Combine(folder, "data"), data);
    }

    private PullCoalescer Coalescer(string id, CoalescingOptions? options = null) => new(
        _dht.Node(id, IPAddress.Loopback),
        new ContainerdIngests(_root.Path, (options ?? new CoalescingOptions()).Time),
        options ?? new CoalescingOptions(),
        NullLogger<PullCoalescer>.Instance);
}
