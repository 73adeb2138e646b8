using System.Net;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Transport;
using Spegel.Routing;
using Spegel.Routing.Bootstrap;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Routing;

/// <summary>
/// A node whose bootstrap source lists only itself keeps asking with backoff (50 ms doubling to 10 s), as Spegel's
/// router loop retries until connectivity (<c>pkg/routing/libp2p/libp2p.go</c>), instead of waiting 30 minutes.
/// It stays Ready meanwhile (ours: a single-node cluster serves its own content).
/// </summary>
public sealed class BootstrapLoopTests
{
    [Fact]
    public async Task ALoneNodeAsksAgainWithBackoffFrom50MsTo10s()
    {
        var time = new TimerWatchingTime();
        var host = new Libp2pHost(new HostOptions { Identity = PrivateKey.Generate(), Listen = [new IPEndPoint(IPAddress.Loopback, 0)], AnnounceLoopback = true });
        var bootstrapper = new SwitchingBootstrapper();
        await using var router = new P2PRouter(host, new Dht(host, new DhtOptions()), bootstrapper, NullLogger<P2PRouter>.Instance, time);
        bootstrapper.Answer = () => [host.Addresses[0].WithPeerId(host.Id)];
        await router.StartAsync(CancellationToken.None);

        await bootstrapper.NextCallAsync();
        var delays = new List<TimeSpan>();
        for (int i = 0; i < 11; i++)
        {
            var due = await time.NextTimerAsync();
            Assert.True(router.Ready);
            delays.Add(due);
            time.Advance(due);
            await bootstrapper.NextCallAsync();
        }

        Assert.Equal([50, 100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000], delays.Select(d => (int)d.TotalMilliseconds));
    }

    /// <summary>
    /// A source that fails in a way nobody listed (an operation cancelled by its own deadline, not by us; a bug) is asked
    /// again with the same backoff: a loop that ended there would never find peers again.
    /// </summary>
    [Fact]
    public async Task ASourceThatFailsInAnUnexpectedWayIsAskedAgain()
    {
        var time = new TimerWatchingTime();
        var host = new Libp2pHost(new HostOptions { Identity = PrivateKey.Generate(), Listen = [new IPEndPoint(IPAddress.Loopback, 0)], AnnounceLoopback = true });
        var bootstrapper = new SwitchingBootstrapper();
        await using var router = new P2PRouter(host, new Dht(host, new DhtOptions()), bootstrapper, NullLogger<P2PRouter>.Instance, time);
        int calls = 0;
        bootstrapper.Answer = () => ++calls switch
        {
            1 => throw new OperationCanceledException("the source's own deadline"),
            2 => throw new InvalidOperationException("a bug"),
            _ => [host.Addresses[0].WithPeerId(host.Id)],
        };
        await router.StartAsync(CancellationToken.None);

        var delays = new List<TimeSpan>();
        for (int i = 0; i < 3; i++)
        {
            await bootstrapper.NextCallAsync();
            var due = await time.NextTimerAsync();
            delays.Add(due);
            time.Advance(due);
        }

        await bootstrapper.NextCallAsync();
        Assert.Equal([50, 100, 200], delays.Select(d => (int)d.TotalMilliseconds));
        Assert.Equal(4, calls);
    }

    [Fact]
    public async Task ANodeThatStartedAloneFindsALaterPeerThatNeverDialsIt()
    {
        var hostA = new Libp2pHost(new HostOptions { Identity = PrivateKey.Generate(), Listen = [new IPEndPoint(IPAddress.Loopback, 0)], AnnounceLoopback = true });
        var bootstrapper = new SwitchingBootstrapper();
        await using var a = new P2PRouter(hostA, new Dht(hostA), bootstrapper, NullLogger<P2PRouter>.Instance);
        bootstrapper.Answer = () => [hostA.Addresses[0].WithPeerId(hostA.Id)];
        await a.StartAsync(CancellationToken.None);
        await bootstrapper.NextCallAsync();
        await Eventually.WaitAsync(() => a.Ready, "a lone node ready");

        Assert.False(a.Dht.HasPeers);

        // B comes up later and bootstraps from nobody (it is not told about A), like a node whose DNS answer
        // does not include A. Only A asking again can connect them.
        var hostB = new Libp2pHost(new HostOptions { Identity = PrivateKey.Generate(), Listen = [new IPEndPoint(IPAddress.Loopback, 0)], AnnounceLoopback = true });
        await using var b = new P2PRouter(hostB, new Dht(hostB), new StaticBootstrapper([]), NullLogger<P2PRouter>.Instance);
        await b.StartAsync(CancellationToken.None);
        bootstrapper.Answer = () => [hostA.Addresses[0].WithPeerId(hostA.Id), hostB.Addresses[0].WithPeerId(hostB.Id)];

        await Eventually.WaitAsync(() => a.Dht.RoutingTable.Contains(hostB.Id), "A asking its bootstrap source again and finding B");

        Assert.True(a.Ready);
    }

    /// <summary>Answers whatever <see cref="Answer"/> gives now, and reports each call.</summary>
    private sealed class SwitchingBootstrapper : IBootstrapper
    {
        private readonly Channel<bool> _calls = Channel.CreateUnbounded<bool>();

        public Func<IReadOnlyList<Multiaddr>> Answer { get; set; } = () => [];

        public Task<IReadOnlyList<Multiaddr>> GetAsync(CancellationToken cancellationToken)
        {
            _calls.Writer.TryWrite(true);
            try
            {
                return Task.FromResult(Answer());
            }
            catch (Exception ex)
            {
                return Task.FromException<IReadOnlyList<Multiaddr>>(ex);
            }
        }

        public async Task NextCallAsync()
        {
            await _calls.Reader.ReadAsync().AsTask().Within("the next bootstrap call");
        }
    }

    /// <summary>Fake time that reports the due time of each timer created (the router's waits).</summary>
    private sealed class TimerWatchingTime : TimeProvider
    {
        private readonly FakeTimeProvider _inner = new();
        private readonly Channel<TimeSpan> _timers = Channel.CreateUnbounded<TimeSpan>();

        public override DateTimeOffset GetUtcNow() => _inner.GetUtcNow();

        public override long GetTimestamp() => _inner.GetTimestamp();

        public override long TimestampFrequency => _inner.TimestampFrequency;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = _inner.CreateTimer(callback, state, dueTime, period);
            _timers.Writer.TryWrite(dueTime);
            return timer;
        }

        public void Advance(TimeSpan by) => _inner.Advance(by);

        public async Task<TimeSpan> NextTimerAsync()
        {
            return await _timers.Reader.ReadAsync().AsTask().Within("the next timer");
        }
    }
}
