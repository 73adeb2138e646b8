using Microsoft.Extensions.Logging;

namespace Spegel.Timing;

/// <summary>
/// Rate-limits log lines that requests or peers can cause (a flood of bad requests or a hostile peer must not turn
/// into megabytes of logs per second): up to <c>burst</c> lines at once, then <c>perSecond</c>. The next line allowed
/// after a pause is preceded by one saying how many were suppressed, so nothing is lost silently.
/// </summary>
internal sealed partial class LogBudget(string what, int burst, double perSecond, TimeProvider? time = null)
{
    private readonly TokenBucket _bucket = new(burst, perSecond, time ?? TimeProvider.System);
    private long _suppressed;

    /// <summary>Lines suppressed since the last allowed one.</summary>
    public long Suppressed => Interlocked.Read(ref _suppressed);

    /// <summary>
    /// Whether the caller may log its line now; when lines were suppressed before it, says so on
    /// <paramref name="logger"/> first.
    /// </summary>
    public bool TryTake(ILogger logger)
    {
        if (!_bucket.TryTake())
        {
            Interlocked.Increment(ref _suppressed);
            return false;
        }

        long suppressed = Interlocked.Exchange(ref _suppressed, 0);
        if (suppressed > 0)
        {
            LogSuppressed(logger, suppressed, what);
        }

        return true;
    }

    [LoggerMessage(EventId = 1014, Level = LogLevel.Warning, Message = "{Count} log lines about {What} were suppressed (rate limit)")]
    private static partial void LogSuppressed(ILogger logger, long count, string what);
}
