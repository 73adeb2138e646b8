using Spegel.Timing;

namespace Spegel.Tests.Timing;

/// <summary>The minimum-rate rule with exact times (no clock, no timer): what counts as waiting on a peer, and when.</summary>
public sealed class RateMonitorTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(375);
    private const long MinBytes = 768 * 1024; // 256 KiB/s over 3 s

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [Fact]
    public void APeerThatKeepsTheRateIsNeverStalled()
    {
        var monitor = new RateMonitor(MinBytes, Grace, Tick);
        var now = TimeSpan.Zero;
        for (int i = 0; i < 100; i++)
        {
            monitor.BeginRead(now);
            now += Ms(100);
            Assert.False(monitor.Tick(now));
            Assert.False(monitor.EndRead(now, 32 * 1024)); // 320 KiB/s
        }

        Assert.False(monitor.Stalled);
    }

    [Fact]
    public void APeerThatSendsNothingIsStalledAfterOneGracePeriodOfWaiting()
    {
        var monitor = new RateMonitor(MinBytes, Grace, Tick);
        monitor.BeginRead(TimeSpan.Zero);
        var now = TimeSpan.Zero;
        while (now < Grace - Tick)
        {
            now += Tick;
            Assert.False(monitor.Tick(now), $"stalled at {now}");
        }

        Assert.True(monitor.Tick(now + Tick));
        Assert.True(monitor.Stalled);
    }

    [Fact]
    public void ATrickleBelowTheRateIsStalledAtTheEndOfItsWindow()
    {
        var monitor = new RateMonitor(MinBytes, Grace, Tick);
        var now = TimeSpan.Zero;
        bool stalled = false;
        for (int i = 0; i < 40 && !stalled; i++)
        {
            monitor.BeginRead(now);
            now += Ms(100);
            stalled = monitor.EndRead(now, 1024); // 10 KiB/s
        }

        Assert.True(stalled);
        Assert.Equal(Grace, TimeSpan.FromMilliseconds(Math.Round(monitor.WindowTime.TotalMilliseconds)));
    }

    [Fact]
    public void TimeSpentWritingToOurClientDoesNotCount()
    {
        var monitor = new RateMonitor(MinBytes, Grace, Tick);
        var now = TimeSpan.Zero;
        for (int i = 0; i < 20; i++)
        {
            monitor.BeginRead(now);
            now += Ms(10);
            Assert.False(monitor.EndRead(now, 64 * 1024));
            now += TimeSpan.FromSeconds(10); // our client is slow: not the peer's fault
            Assert.False(monitor.Tick(now));
        }

        Assert.Equal(Ms(200), monitor.WindowTime);
    }

    [Fact]
    public void OurOwnStarvationIsNotBlamedOnThePeer()
    {
        // The timer and the read's end come a minute late (our threads were starved): one tick's worth counts each.
        var monitor = new RateMonitor(MinBytes, Grace, Tick);
        monitor.BeginRead(TimeSpan.Zero);
        Assert.False(monitor.Tick(TimeSpan.FromMinutes(1)));
        Assert.False(monitor.EndRead(TimeSpan.FromMinutes(2), 1024));
        Assert.Equal(Tick * 2, monitor.WindowTime);
        Assert.False(monitor.Stalled);
    }

    [Fact]
    public void AFullWindowStartsANewOne()
    {
        var monitor = new RateMonitor(MinBytes, Grace, Tick);
        var now = TimeSpan.Zero;
        monitor.BeginRead(now);
        for (int i = 0; i < 7; i++)
        {
            now += Tick;
            Assert.False(monitor.Tick(now));
        }

        Assert.False(monitor.EndRead(now, (int)MinBytes)); // enough for the first window, which is not over yet
        monitor.BeginRead(now);
        now += Tick;
        Assert.False(monitor.Tick(now)); // the window ends with enough bytes: a new one starts
        Assert.Equal(TimeSpan.Zero, monitor.WindowTime);
        for (int i = 0; i < 8; i++)
        {
            now += Tick;
            monitor.Tick(now);
        }

        Assert.True(monitor.Stalled); // the second window got nothing
    }
}
