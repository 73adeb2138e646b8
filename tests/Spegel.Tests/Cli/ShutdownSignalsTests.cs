using System.Runtime.InteropServices;
using Spegel.Hosting;

namespace Spegel.Tests.Cli;

public sealed class ShutdownSignalsTests
{
    [Fact]
    public void TheFirstSignalStopsAndTheSecondAbortsWith128PlusItsNumber()
    {
        var aborts = new List<int>();
        using var signals = ShutdownSignals.Register(aborts.Add);
        Assert.False(signals.Stopping.IsCancellationRequested);

        signals.Deliver(PosixSignal.SIGTERM);
        Assert.True(signals.Stopping.IsCancellationRequested);
        Assert.Equal("SIGTERM", signals.Received);
        Assert.Empty(aborts);

        signals.Deliver(PosixSignal.SIGINT);
        Assert.Equal([130], aborts);
        signals.Deliver(PosixSignal.SIGTERM);
        Assert.Equal([130, 143], aborts);
    }
}
