using System.IO.Pipelines;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Spegel.Coalescing;
using Spegel.Containerd;
using Spegel.Oci;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Coalescing;

/// <summary>
/// Who downloads a blob nobody holds yet, and how the others get it. Every wait runs on <see cref="ManualTime"/>: the
/// decisions depend on what each node sees within its settle time, so real time would make them depend on the load.
/// </summary>
public sealed class PullCoalescerTests : IDisposable
{
    private static readonly Digest Layer = Digest.Parse("sha256:" + new string('b', 64));
    private readonly TempFolder _root = new();
    private readonly ManualTime _time = new();
    private readonly SharedDht _dht;

    public PullCoalescerTests()
    {
        _dht = new SharedDht(_time);
    }

    /// <summary>No settle wait: for tests about following and serving, not about the race between claims.</summary>
    private CoalescingOptions Immediate => new() { Time = _time, Settle = TimeSpan.Zero };

    [Fact]
    public async Task TheFirstNodeLeadsAndClaimsTheBlob()
    {
        var a = Coalescer("A", Immediate);
        Assert.Empty(await a.FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None));
        Assert.Equal(["A"], _dht.Providers(PullCoalescer.ClaimKey(Layer)));
        Assert.Empty(_dht.Providers(Layer.ToString())); // a claim is never advertised as content
    }

    [Fact]
    public async Task AClientThatIsNotThisNodesContainerdNeverMakesItClaim()
    {
        // A9 of the audit: any client's miss used to publish a claim, and the node then "led" a download nobody started.
        var instruments = new Spegel.Telemetry.SpegelInstruments();
        var refusals = new Spegel.Telemetry.Refusals(instruments);
        var a = new PullCoalescer(_dht.Node("A", IPAddress.Loopback), new ContainerdIngests(_root.Path, "k8s.io", _time), Immediate, NullLogger<PullCoalescer>.Instance, instruments, refusals);
        Assert.Empty(await a.FindLeadersAsync(Layer, mayClaim: false, CancellationToken.None));
        Assert.Empty(_dht.Providers(PullCoalescer.ClaimKey(Layer)));
        Assert.Equal(1, refusals.Count(Spegel.Telemetry.RefusalReason.ClaimNotLocal));
        Assert.Null(await a.OpenInProgressAsync(Layer, CancellationToken.None)); // nor serves what nobody leads

        // It may follow a claim that exists: that is any miss's forwarding, to the node our peers already follow.
        Assert.Empty(await Coalescer("B", Immediate).FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None));
        Assert.Equal(["B"], (await a.FindLeadersAsync(Layer, mayClaim: false, CancellationToken.None)).Select(p => p.Id));
        Assert.Equal(1, refusals.Count(Spegel.Telemetry.RefusalReason.ClaimNotLocal));
    }

    [Fact]
    public async Task LaterNodesFollowTheClaimantAndDoNotClaim()
    {
        Assert.Empty(await Coalescer("B", Immediate).FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None));
        var leaders = await Coalescer("A", Immediate).FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None);
        Assert.Equal(["B"], leaders.Select(p => p.Id));
        Assert.Equal(["B"], _dht.Providers(PullCoalescer.ClaimKey(Layer)));
        Assert.Equal(["B"], _dht.Advertisers(PullCoalescer.ClaimKey(Layer)));
    }

    /// <summary>
    /// What the design guarantees: claims visible to each other within the settle time agree on one leader, the lowest
    /// ID among the claimants, and only its claim stays. With a propagation delay nothing is visible before the clock
    /// moves, so every node claims at once and node-0 leads; without one, a node may see a claim at its first look and
    /// follow it without claiming (what it then follows is not asserted: a follower of a non-leader gets a 404 from it
    /// and goes upstream, the bounded worst case).
    /// </summary>
    [Theory]
    [InlineData(2, 0)]
    [InlineData(5, 0)]
    [InlineData(5, 5)]
    [InlineData(8, 20)]
    [InlineData(8, 200)]
    public async Task NodesThatClaimAtOnceAgreeOnOneLeaderTheLowestId(int nodes, int propagationMs)
    {
        var options = new CoalescingOptions { Time = _time };
        var propagation = TimeSpan.FromMilliseconds(propagationMs);
        _dht.PropagationDelay = propagation;
        var coalescers = Enumerable.Range(0, nodes).Select(i => (Id: $"node-{i}", Coalescer: Coalescer($"node-{i}", options))).ToList();
        var deciding = coalescers.Select(async c => (c.Id, Leaders: await c.Coalescer.FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None))).ToList();

        if (propagation > TimeSpan.Zero)
        {
            await Eventually.WaitAsync(() => _time.Created(propagation) == nodes, "every node claiming");
            _time.Advance(propagation);
        }

        // Every node has either followed a claim it saw at once, or claimed and waits out its settle time: all claims
        // are visible now. Only then does the settle time end.
        await Eventually.WaitAsync(() => _time.Created(options.Settle) + deciding.Count(d => d.IsCompleted) == nodes, "every node deciding or settling");
        _time.Advance(options.Settle);
        var decisions = await Task.WhenAll(deciding).Within("the decisions");

        string key = PullCoalescer.ClaimKey(Layer);
        var claimants = _dht.Advertisers(key);
        string leader = claimants.First();
        Assert.Equal([leader], decisions.Where(d => d.Leaders.Count == 0).Select(d => d.Id));
        Assert.All(decisions.Where(d => d.Id != leader && claimants.Contains(d.Id)), d => Assert.Equal(leader, d.Leaders[0].Id));
        Assert.Equal([leader], _dht.Providers(key));
        if (propagation > TimeSpan.Zero)
        {
            Assert.Equal(coalescers.Select(c => c.Id).Order(StringComparer.Ordinal), claimants);
            Assert.Equal("node-0", leader);
            Assert.All(decisions.Where(d => d.Id != leader), d => Assert.Equal("node-0", d.Leaders[0].Id));
        }
    }

    /// <summary>
    /// With an arbiter, claims made at once are decided by the order it lists them, without the settle time: the clock
    /// never moves here, and still every node decides. The first claimant leads; every other follows it first (and the
    /// claimants before itself after it), so following runs only towards earlier claims and never in a circle.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    public async Task AnArbiterDecidesClaimsAtOnceWithoutTheSettleTime(int nodes)
    {
        _dht.Arbitrates = true;
        var options = new CoalescingOptions { Time = _time };
        var decisions = await Task.WhenAll(Enumerable.Range(0, nodes).Select(async i =>
            (Id: $"node-{i}", Leaders: await Coalescer($"node-{i}", options).FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None)))).Within("the decisions");

        Assert.Equal(0, _time.Created(options.Settle));
        var leaders = decisions.Where(d => d.Leaders.Count == 0).Select(d => d.Id).ToList();
        string leader = Assert.Single(leaders);
        Assert.Contains(leader, _dht.Advertisers(PullCoalescer.ClaimKey(Layer)));

        // Whom each node asks first; a node that saw a claim in its first lookup follows it without claiming (that
        // claimant may itself follow the leader and serves its own download meanwhile). Every chain ends at the leader.
        var firstAsked = decisions.Where(d => d.Id != leader).ToDictionary(d => d.Id, d => d.Leaders[0].Id);
        foreach (var start in firstAsked.Keys)
        {
            string at = start;
            for (int hops = 0; at != leader; hops++)
            {
                Assert.True(hops < nodes, $"{start} follows a circle: {string.Join(", ", firstAsked.Select(p => $"{p.Key}→{p.Value}"))}");
                at = firstAsked[at];
            }
        }
    }

    [Fact]
    public async Task ClaimsThatCrossOutsideTheSettleTimeMakeTwoLeaders()
    {
        // The bounded worst case, pinned down (the design tolerates it: both leaders' containerds go upstream, as
        // without coalescing). Claims take 80 ms to become visible, settling takes 50 ms.
        var options = new CoalescingOptions { Time = _time };
        var propagation = TimeSpan.FromMilliseconds(80);
        _dht.PropagationDelay = propagation;

        // t=0: node-1 finds nobody and claims. t=60: node-0 finds nobody either (node-1's claim shows at 80) and claims.
        var late = Coalescer("node-1", options).FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None);
        await _time.NextTimerAsync(propagation);
        _time.Advance(TimeSpan.FromMilliseconds(60));
        var early = Coalescer("node-0", options).FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None);
        await _time.NextTimerAsync(propagation);

        // t=130: node-1's settle time ends before node-0's claim shows (at 140): it leads.
        _time.Advance(TimeSpan.FromMilliseconds(20));
        await _time.AdvanceWhenWaitingAsync(options.Settle);
        Assert.Empty(await late.Within("node-1 deciding"));

        // t=190: node-0 sees node-1's claim, but its own ID is lower: it leads too.
        _time.Advance(TimeSpan.FromMilliseconds(10));
        await _time.AdvanceWhenWaitingAsync(options.Settle);
        Assert.Empty(await early.Within("node-0 deciding"));
        Assert.Equal(["node-0", "node-1"], _dht.Providers(PullCoalescer.ClaimKey(Layer)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task AClaimExpiresAndIsWithdrawn()
    {
        var options = Immediate;
        var a = Coalescer("A", options);
        Assert.Empty(await a.FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None));
        _time.Advance(options.ClaimLifetime + TimeSpan.FromSeconds(1));
        var other = Digest.Parse("sha256:" + new string('c', 64));
        Assert.Empty(await a.FindLeadersAsync(other, mayClaim: true, CancellationToken.None));
        Assert.Empty(_dht.Providers(PullCoalescer.ClaimKey(Layer)));
        Assert.Equal(["A"], _dht.Providers(PullCoalescer.ClaimKey(other)));
    }

    [Fact]
    public async Task APeerAskingTheLeaderWaitsForItsDownloadToStartThenFollowsIt()
    {
        var a = Coalescer("A", Immediate);
        Assert.Empty(await a.FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None));

        // The download has not started: the request waits (polling for containerd's ingest).
        var opening = a.OpenInProgressAsync(Layer, CancellationToken.None);
        await _time.NextTimerAsync(IngestPoll);
        Assert.False(opening.IsCompleted);
        string folder = AddIngest("1", "abc");
        _time.Advance(IngestPoll);
        await using var reader = await opening.Within("opening the download");
        Assert.NotNull(reader);
        Assert.Equal(6, reader.Size);

        // The reader follows the file as it grows.
        var buffer = new MemoryStream();
        var pipe = PipeWriter.Create(buffer, new StreamPipeWriterOptions(leaveOpen: true));
        var copying = reader.CopyToAsync(pipe, 0, 6, CancellationToken.None);
        await _time.NextTimerAsync(ReaderPoll);
        Assert.False(copying.IsCompleted);
        await File.AppendAllTextAsync(Path.Combine(folder, "data"), "def");
        _time.Advance(ReaderPoll);
        await copying.Within("reading the download");
        await pipe.CompleteAsync();
        Assert.Equal("abcdef", System.Text.Encoding.ASCII.GetString(buffer.ToArray()));
    }

    [Fact]
    public async Task APeerAskingANodeThatIsNotPullingIsAnsweredAtOnce()
    {
        // "At once": the clock never moves, so any wait would never end.
        Assert.Null(await Coalescer("A", Immediate).OpenInProgressAsync(Layer, CancellationToken.None).Within("the answer"));
        Assert.Equal(0, _time.TimersCreated);
    }

    [Fact]
    public async Task ANodeThatFollowedAClaimBeforeClaimingNeverServesItsDownload()
    {
        // It never claimed, so no peer follows it; and its containerd's ingest may be waiting on its own spegel
        // (containerd creates it before asking the mirror).
        Assert.Empty(await Coalescer("A", Immediate).FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None));
        var b = Coalescer("B", Immediate);
        Assert.Equal(["A"], (await b.FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None)).Select(p => p.Id));
        AddIngest("b-own", "0");
        int timers = _time.TimersCreated;
        Assert.Null(await b.OpenInProgressAsync(Layer, CancellationToken.None).Within("the answer"));
        Assert.Equal(timers, _time.TimersCreated); // answered without waiting for anything
    }

    /// <summary>
    /// Two nodes claim at once; the higher ID follows the lower. A third node that saw only the higher one's claim (its
    /// record outlives the withdrawal on other nodes) asks it: it serves its own download, which fills from the leader,
    /// instead of a 404 that would send the third node upstream. Following only runs to lower IDs, so no circle forms.
    /// </summary>
    [Fact]
    public async Task ANodeThatClaimedAndThenFollowsALowerIdServesItsDownload()
    {
        var options = new CoalescingOptions { Time = _time };
        var propagation = TimeSpan.FromMilliseconds(20);
        _dht.PropagationDelay = propagation;
        var a = Coalescer("A", options);
        var b = Coalescer("B", options);
        var deciding = new[] { a.FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None), b.FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None) };
        await Eventually.WaitAsync(() => _time.Created(propagation) == 2, "both claiming");
        _time.Advance(propagation);
        await Eventually.WaitAsync(() => _time.Created(options.Settle) == 2, "both settling");
        _time.Advance(options.Settle);
        Assert.Empty(await deciding[0].Within("A deciding"));
        Assert.Equal(["A"], (await deciding[1].Within("B deciding")).Select(p => p.Id));

        AddIngest("b-own", "012345");
        await using var served = await b.OpenInProgressAsync(Layer, CancellationToken.None).Within("B answering");
        Assert.NotNull(served);
        Assert.Equal(6, served.Size);
    }

    /// <summary>
    /// Our containerd asks again for a blob this node leads (a retry, or ranges of it in parallel): the decision stands.
    /// Following the higher-ID claimant it now sees (a record that outlived its claim) could close a circle: that node
    /// may be serving its own download, which follows ours.
    /// </summary>
    [Fact]
    public async Task ANodeWithAClaimKeepsItsDecisionWhenAskedAgain()
    {
        var a = Coalescer("A", Immediate);
        Assert.Empty(await a.FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None));
        await _dht.Node("B", IPAddress.Loopback).AdvertiseAsync([PullCoalescer.ClaimKey(Layer)], CancellationToken.None);
        Assert.Empty(await a.FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None).Within("A asked again"));

        // Positive control: a node without a claim, asked the same, follows that claimant.
        Assert.Equal(["A", "B"], (await Coalescer("C", Immediate).FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None)).Select(p => p.Id));
    }

    [Fact]
    public async Task ALeaderWhoseDownloadNeverStartsAnswersAfterTheStartTimeout()
    {
        var options = Immediate with { StartTimeout = TimeSpan.FromSeconds(2) };
        var a = Coalescer("A", options);
        Assert.Empty(await a.FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None));
        var opening = a.OpenInProgressAsync(Layer, CancellationToken.None);

        // Still waiting just before the timeout, answered at it.
        await _time.NextTimerAsync(IngestPoll);
        _time.Advance(options.StartTimeout - IngestPoll);
        await _time.NextTimerAsync(IngestPoll);
        Assert.False(opening.IsCompleted);
        _time.Advance(IngestPoll);
        Assert.Null(await opening.Within("the answer"));
    }

    public void Dispose() => _root.Dispose();

    /// <summary>How often containerd's ingest folder is checked for a download to start.</summary>
    private static TimeSpan IngestPoll => TimeSpan.FromMilliseconds(20);

    /// <summary>How often a reader of a download in progress checks for more bytes.</summary>
    private static TimeSpan ReaderPoll => TimeSpan.FromMilliseconds(10);

    private string AddIngest(string name, string data)
    {
        string folder = _root.Combine("ingest", name);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "ref"), $"k8s.io/1/layer-{Layer}");
        File.WriteAllText(Path.Combine(folder, "total"), "6");
        File.WriteAllText(Path.Combine(folder, "data"), data);
        return folder;
    }

    private PullCoalescer Coalescer(string id, CoalescingOptions options) => new(
        _dht.Node(id, IPAddress.Loopback),
        new ContainerdIngests(_root.Path, "k8s.io", options.Time),
        options,
        NullLogger<PullCoalescer>.Instance);
}
