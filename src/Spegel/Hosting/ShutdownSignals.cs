using System.Runtime.InteropServices;

namespace Spegel.Hosting;

/// <summary>
/// SIGTERM and SIGINT, handled as Spegel does (<c>signal.NotifyContext(SIGINT, SIGTERM)</c>, and a shutdown context
/// of its own on SIGINT): the first signal cancels <see cref="Stopping"/> and every command drains and exits on its own;
/// a SIGINT after that ends the process at once with 130, like a shell's double Ctrl-C. A further SIGTERM changes
/// nothing, as in Spegel: it is often the same request delivered twice (GNU <c>timeout</c> signals the command and then
/// its process group; init wrappers forward to the group), and aborting on it cut drains short at random.
/// </summary>
/// <remarks>
/// We register the handlers ourselves because nothing else stops the process: System.CommandLine 2.0.0 leaves its
/// process-termination handling off (<c>ProcessTerminationTimeout</c> is null, dotnet/command-line-api#2739), and the
/// generic host's ConsoleLifetime would take the signal and stop only a host nobody waits on, so every rollout waited
/// for the kubelet's SIGKILL. Our web hosts therefore run with <see cref="SignalFreeLifetime"/>.
/// </remarks>
internal sealed class ShutdownSignals : IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly PosixSignalRegistration[] _registrations;
    private readonly Action<int> _abort;
    private int _received;

    private ShutdownSignals(Action<int> abort)
    {
        _abort = abort;
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle),
            PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle),
        ];
    }

    /// <summary>Cancelled by the first SIGTERM or SIGINT.</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>The signal that started the stop ("SIGTERM", "SIGINT"), or null.</summary>
    public string? Received { get; private set; }

    /// <summary>Registers the handlers for this process; a SIGINT after the first signal calls <paramref name="abort"/> (tests) or exits.</summary>
    public static ShutdownSignals Register(Action<int>? abort = null) => new(abort ?? Environment.Exit);

    /// <summary>One signal as the runtime delivers it (internal so tests can drive it without a real signal).</summary>
    internal void Deliver(PosixSignal signal)
    {
        if (Interlocked.Increment(ref _received) == 1)
        {
            Received = signal.ToString();
            _stopping.Cancel();
            return;
        }

        if (signal == PosixSignal.SIGINT)
        {
            _abort(128 + Number(signal));
        }
    }

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }

        _stopping.Dispose();
    }

    private static int Number(PosixSignal signal) => signal switch
    {
        PosixSignal.SIGINT => 2,
        PosixSignal.SIGTERM => 15,
        _ => 1,
    };

    private void Handle(PosixSignalContext context)
    {
        // Cancel the runtime's default action (terminate): we stop in order, or abort on a later SIGINT.
        context.Cancel = true;
        Deliver(context.Signal);
    }
}
