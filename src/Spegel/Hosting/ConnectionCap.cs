using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Spegel.Telemetry;
using Spegel.Timing;

namespace Spegel.Hosting;

/// <summary>
/// The most connections one listener holds at once; a connection beyond it is closed as soon as it is accepted
/// (containerd and peers then ask the next host). Ours rather than Kestrel's <c>MaxConcurrentConnections</c>, which
/// logs every refusal as a warning: a flood of connections must not become a flood of log lines, so refusals are
/// counted (<c>spegel_refused_total{reason=Refusals.ConnectionLimit}</c>) and their log lines rate-limited.
/// </summary>
internal sealed partial class ConnectionCap(string listener, int limit, SpegelInstruments instruments, ILogger logger)
{
    private readonly LogBudget _refusalLogs = new($"connections refused on {listener}", 5, 0.2);
    private int _open;

    /// <summary>Connections held now.</summary>
    public int Open => Volatile.Read(ref _open);

    public int Limit => limit;

    public ConnectionDelegate Wrap(ConnectionDelegate next) => async connection =>
    {
        if (Interlocked.Increment(ref _open) > limit)
        {
            Interlocked.Decrement(ref _open);
            instruments.Refused.WithLabels(Refusals.ConnectionLimit).Inc();
            if (_refusalLogs.TryTake(logger))
            {
                LogRefused(logger, listener, limit, connection.RemoteEndPoint?.ToString() ?? string.Empty);
            }

            connection.Abort(new ConnectionAbortedException($"{listener} holds {limit} connections"));
            return;
        }

        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _open);
        }
    };

    [LoggerMessage(EventId = 1015, Level = LogLevel.Warning, Message = "The {Listener} listener holds {Limit} connections: refused one from {Client}")]
    private static partial void LogRefused(ILogger logger, string listener, int limit, string client);
}
