using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Spegel.Telemetry;

namespace Spegel.Registry;

/// <summary>
/// One structured log line per request (path, status, method, latency, ip, handler). Successes are logged at
/// Debug, client errors at Information (a 404 is a normal mirror answer), server errors at Warning; health checks
/// are not logged.
/// </summary>
internal sealed partial class RequestLogging(RequestDelegate next, ILogger<RequestLogging> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        long start = Stopwatch.GetTimestamp();
        var inflight = SpegelMetrics.HttpRequestsInflight.WithLabels("registry");
        inflight.Inc();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            inflight.Dec();
            string handler = context.Items[RequestLogItems.Handler] as string ?? "unknown";
            Observe(context, handler, Stopwatch.GetElapsedTime(start));
            if (handler is not ("healthz" or "livez"))
            {
                var elapsed = Stopwatch.GetElapsedTime(start);
                int status = context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted ? 499 : context.Response.StatusCode;
                var level = status switch
                {
                    < 400 => LogLevel.Debug,
                    < 500 => LogLevel.Information,
                    _ => LogLevel.Warning,
                };
                if (logger.IsEnabled(level))
                {
                    LogRequest(
                        logger,
                        level,
                        context.Request.Path.Value ?? string.Empty,
                        status,
                        context.Request.Method,
                        elapsed.TotalMilliseconds,
                        context.Connection.RemoteIpAddress?.ToString() ?? string.Empty,
                        handler,
                        context.Items[RequestLogItems.Source] as string ?? string.Empty,
                        BytesSent(context),
                        context.Items[RequestLogItems.Error] as string ?? string.Empty);
                }
            }
        }
    }

    /// <summary>The body bytes sent: counted where a stream may be cut short, else the Content-Length (0 for HEAD).</summary>
    private static long BytesSent(HttpContext context) =>
        context.Items[RequestLogItems.BytesSent] as long? ?? (HttpMethods.IsHead(context.Request.Method) ? 0 : context.Response.ContentLength ?? 0);

    private static void Observe(HttpContext context, string handler, TimeSpan elapsed)
    {
        string method = context.Request.Method;
        string code = context.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
        long bytes = BytesSent(context);
        SpegelMetrics.HttpRequestDuration.WithLabels(handler, method, code).Observe(elapsed.TotalSeconds);
        SpegelMetrics.HttpResponseSize.WithLabels(handler, method, code).Observe(bytes);
        if (context.Response.StatusCode is 200 or 206 && context.Items[RequestLogItems.Source] as string is "local" or "in-progress"
            && string.Equals(context.Request.Headers["X-Spegel-Mirrored"], "true", StringComparison.OrdinalIgnoreCase))
        {
            SpegelMetrics.PeerBytesServed.Inc(bytes);
        }

        RecentRequests.Shared.Add(new RecentRequest(
            DateTimeOffset.UtcNow, method, handler, context.Request.Path.Value ?? string.Empty, context.Response.StatusCode,
            context.Items[RequestLogItems.Source] as string ?? string.Empty, bytes, elapsed, context.Connection.RemoteIpAddress?.ToString() ?? string.Empty));
    }

    [LoggerMessage(EventId = 1301, Message = "{Method} {Path} {Status} in {LatencyMs:0.###} ms from {Ip} ({Handler} {Source}) {Bytes} bytes {Error}")]
    private static partial void LogRequest(ILogger logger, LogLevel level, string path, int status, string method, double latencyMs, string ip, string handler, string source, long bytes, string error);
}
