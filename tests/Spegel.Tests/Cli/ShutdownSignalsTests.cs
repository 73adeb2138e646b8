using System.Runtime.InteropServices;
using Spegel.Hosting;

namespace Spegel.Tests.Cli;

public sealed class ShutdownSignalsTests
{
    [Fact]
    public void TheFirstSignalStopsAndALaterSigintAbortsWith130()
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
    }

    [Fact]
    public void ARepeatedSigtermDoesNotCutTheDrainShort()
    {
        // GNU timeout sends SIGTERM to the command and again to its process group; Spegel ignores the repeat too.
        var aborts = new List<int>();
        using var signals = ShutdownSignals.Register(aborts.Add);
        signals.Deliver(PosixSignal.SIGTERM);
        signals.Deliver(PosixSignal.SIGTERM);
        signals.Deliver(PosixSignal.SIGTERM);
        Assert.True(signals.Stopping.IsCancellationRequested);
        Assert.Empty(aborts);

        // Ctrl-C twice still aborts.
        using var interrupted = ShutdownSignals.Register(aborts.Add);
        interrupted.Deliver(PosixSignal.SIGINT);
        Assert.Empty(aborts);
        interrupted.Deliver(PosixSignal.SIGINT);
        Assert.Equal([130], aborts);
    }
}
