using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging.Abstractions;
using Spegel.Coalescing;
using Spegel.Containerd;
using Spegel.Oci;
using Spegel.Routing;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Coalescing;

/// <summary>
/// A claim's publish has a deadline: a slow DHT member (the audit's answered FIND_NODE after 9.5 s, and every miss took
/// 9.6 s) delays a miss by at most the publish wait; the publish goes on in the background until its own limit.
/// </summary>
public sealed class ClaimPublishTests : IDisposable
{
    private static readonly Digest Layer = Digest.Parse("sha256:" + new string('c', 64));
    private readonly TempFolder _root = new();
    private readonly ManualTime _time = new();

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task ASlowPublishHoldsTheMissAtMostThePublishWaitAndEndsByItsLimit()
    {
        var options = new CoalescingOptions { Time = _time };
        var router = new SlowPublishRouter();
        var coalescer = new PullCoalescer(router, new ContainerdIngests(_root.Path, "k8s.io", _time), options, NullLogger<PullCoalescer>.Instance);
        var deciding = coalescer.FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None);

        // The publish never ends by itself; the miss stops waiting for it after the publish wait, then settles.
        await Eventually.WaitAsync(() => router.Publishes == 1, "the claim being published");
        await _time.AdvanceWhenWaitingAsync(options.PublishWait);
        await _time.AdvanceWhenWaitingAsync(options.Settle);
        Assert.Empty(await deciding.Within("the decision")); // nobody else claimed: this node leads
        Assert.Equal(options.PublishWait + options.Settle, _time.Elapsed);

        // The publish goes on, tracked, until its limit.
        Assert.Equal(1, coalescer.Publishing);
        Assert.False(router.PublishCancelled);
        _time.Advance(options.PublishLimit - _time.Elapsed);
        await Eventually.WaitAsync(() => coalescer.Publishing == 0, "the publish ending at its limit");
        Assert.True(router.PublishCancelled);
    }

    [Fact]
    public async Task AFastPublishIsWaitedForAsBefore()
    {
        var options = new CoalescingOptions { Time = _time };
        var router = new SlowPublishRouter { Instant = true };
        var coalescer = new PullCoalescer(router, new ContainerdIngests(_root.Path, "k8s.io", _time), options, NullLogger<PullCoalescer>.Instance);
        var deciding = coalescer.FindLeadersAsync(Layer, mayClaim: true, CancellationToken.None);
        await _time.AdvanceWhenWaitingAsync(options.Settle);
        Assert.Empty(await deciding.Within("the decision"));
        Assert.Equal(options.Settle, _time.Elapsed);
        Assert.Equal(0, coalescer.Publishing);
    }

    /// <summary>Lookups find nobody at once; a publish hangs until cancelled (unless <see cref="Instant"/>).</summary>
    private sealed class SlowPublishRouter : IRouter
    {
        private int _publishes;
        private volatile bool _cancelled;

        public bool Instant { get; init; }

        public int Publishes => Volatile.Read(ref _publishes);

        public bool PublishCancelled => _cancelled;

        public string Id => "self";

        public bool Ready => true;

        public async Task AdvertiseAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _publishes);
            if (Instant)
            {
                return;
            }

            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                _cancelled = true;
                throw;
            }
        }

        public Task WithdrawAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) => Task.CompletedTask;

        public async IAsyncEnumerable<RoutedPeer> LookupAsync(string key, int count, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.CompletedTask;
            yield break;
        }
    }
}
