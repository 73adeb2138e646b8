using System.Net;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Tests.Transport;

/// <summary>Who may start a handshake: per-IP limits, the host's handshake slots, and fair eviction when they are full.</summary>
public sealed class ConnectionAdmissionTests
{
    private static readonly IPAddress A = IPAddress.Parse("10.77.0.1");
    private static readonly IPAddress B = IPAddress.Parse("10.77.0.2");
    private static readonly IPAddress C = IPAddress.Parse("fd77:77::3");
    private static readonly Spegel.Libp2p.Crypto.PrivateKey Key = new(new byte[32]);

    [Fact]
    public void AnAddressHoldsAtMostItsEstablishedConnectionsUntilOneCloses()
    {
        var admission = new ConnectionAdmission(new HostOptions { Identity = Key, MaxConnectionsPerIp = 2 });
        admission.Connected(A);
        admission.Connected(A);

        Assert.Null(admission.TryAdmit(A, out string? refusal));
        Assert.Equal("2 connections from this address (limit 2)", refusal);
        using (var other = admission.TryAdmit(B, out _))
        {
            Assert.NotNull(other); // another address is not affected
        }

        admission.Disconnected(A);
        Assert.Equal(1, admission.ConnectedFrom(A));
        using var again = admission.TryAdmit(A, out refusal);
        Assert.NotNull(again);
        Assert.Null(refusal);
    }

    [Fact]
    public void AnAddressHoldsAtMostItsHandshakesAndADisposedOneFreesItsSlot()
    {
        var admission = new ConnectionAdmission(new HostOptions { Identity = Key, MaxPendingHandshakesPerIp = 2 });
        var first = admission.TryAdmit(A, out _)!;
        using var second = admission.TryAdmit(A, out _)!;

        Assert.Null(admission.TryAdmit(A, out string? refusal));
        Assert.Equal("2 handshakes from this address (limit 2)", refusal);
        first.Dispose();
        first.Dispose(); // twice is harmless
        Assert.Equal(1, admission.PendingCount);
        using var third = admission.TryAdmit(A, out _);
        Assert.NotNull(third);
    }

    [Fact]
    public void WhenEverySlotIsTakenTheAddressHoldingMostGivesUpItsOldestToOneHoldingFewer()
    {
        var admission = new ConnectionAdmission(new HostOptions { Identity = Key, MaxPendingHandshakes = 4, MaxPendingHandshakesPerIp = 8 });
        var flood = Enumerable.Range(0, 3).Select(_ => admission.TryAdmit(A, out string? _)!).ToList();
        using var b = admission.TryAdmit(B, out _)!;

        using var c = admission.TryAdmit(C, out string? refusal);

        Assert.NotNull(c);
        Assert.Null(refusal);
        Assert.True(flood[0].Evicted.IsCancellationRequested); // A's oldest
        Assert.False(flood[1].Evicted.IsCancellationRequested);
        Assert.False(b.Evicted.IsCancellationRequested);
        Assert.Equal(4, admission.PendingCount);
        flood[0].Dispose(); // the evicted handshake ends: its slot was given away already
        Assert.Equal(4, admission.PendingCount);
        foreach (var ticket in flood.Skip(1))
        {
            ticket.Dispose();
        }

        Assert.Equal(2, admission.PendingCount);
    }

    [Fact]
    public void WhenEveryAddressHoldsAsManyAsTheNewcomerWouldTheNewcomerIsRefused()
    {
        var admission = new ConnectionAdmission(new HostOptions { Identity = Key, MaxPendingHandshakes = 2, MaxPendingHandshakesPerIp = 8 });
        using var a = admission.TryAdmit(A, out _)!;
        using var b = admission.TryAdmit(B, out _)!;

        Assert.Null(admission.TryAdmit(C, out string? refusal)); // taking a slot from A or B would only move the unfairness
        Assert.Equal("2 handshakes in progress (limit 2)", refusal);
        Assert.False(a.Evicted.IsCancellationRequested);
        Assert.False(b.Evicted.IsCancellationRequested);
    }
}
