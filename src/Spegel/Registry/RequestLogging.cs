using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Spegel.Telemetry;

namespace Spegel.Registry;

/// <summary>
/// One structured log line per request (path, status, method, latency, ip, handler, source, bytes), at Debug whatever
/// the status, as Spegel logs requests only at debug level; health checks are not logged. Also the <c>http_*</c>
/// metrics, labelled by route as Spegel labels them (<see cref="HttpHandlerLabel"/>).
/// </summary>
internal sealed partial class RequestLogging(RequestDelegate next, SpegelInstruments instruments, ILogger<RequestLogging> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        long start = Stopwatch.GetTimestamp();
        var log = RequestLogFeature.Of(context);
        string? label = HttpHandlerLabel.ForRegistry(context.Request.Method, RegistryHandler.RawPath(context));
        var inflight = label is null ? null : instruments.HttpRequestsInflight.WithLabels(label);
        inflight?.Inc();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            inflight?.Dec();
            string handler = log.Handler;
            var elapsed = Stopwatch.GetElapsedTime(start);
            Observe(context, log, label, elapsed);
            if (handler is not ("healthz" or "livez") && logger.IsEnabled(LogLevel.Debug))
            {
                int status = context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted ? 499 : context.Response.StatusCode;
                LogRequest(
                    logger,
                    context.Request.Path.Value ?? string.Empty,
                    status,
                    context.Request.Method,
                    elapsed.TotalMilliseconds,
                    context.Connection.RemoteIpAddress?.ToString() ?? string.Empty,
                    handler,
                    log.Source,
                    BytesSent(context, log),
                    log.Error);
            }
        }
    }

    /// <summary>The body bytes sent: counted where a stream may be cut short, else the Content-Length (0 for HEAD).</summary>
    private static long BytesSent(HttpContext context, RequestLogFeature log) =>
        log.BytesSent ?? (HttpMethods.IsHead(context.Request.Method) ? 0 : context.Response.ContentLength ?? 0);

    private void Observe(HttpContext context, RequestLogFeature log, string? label, TimeSpan elapsed)
    {
        string method = context.Request.Method;
        long bytes = BytesSent(context, log);
        if (label is not null)
        {
            instruments.ObserveHttp(label, method, context.Response.StatusCode, elapsed, bytes);
        }

        if (context.Response.StatusCode is 200 or 206 && log.Source is "local" or "in-progress" && log.FromPeer)
        {
            instruments.PeerBytesServed.Inc(bytes);
        }

        instruments.Recent.Add(new RecentRequest(
            DateTimeOffset.UtcNow, method, log.Handler, context.Request.Path.Value ?? string.Empty, context.Response.StatusCode,
            log.Source, bytes, elapsed, context.Connection.RemoteIpAddress?.ToString() ?? string.Empty));
    }

    [LoggerMessage(EventId = 1301, Level = LogLevel.Debug, Message = "{Method} {Path} {Status} in {LatencyMs:0.###} ms from {Ip} ({Handler} {Source}) {Bytes} bytes {Error}")]
    private static partial void LogRequest(ILogger logger, string path, int status, string method, double latencyMs, string ip, string handler, string source, long bytes, string error);
}
