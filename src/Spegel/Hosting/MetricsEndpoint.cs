using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Prometheus;
using Spegel.Telemetry;

namespace Spegel.Hosting;

/// <summary>
/// What the metrics address (<c>:9090</c>) answers, on the node's one Kestrel: <c>GET /metrics</c> (Prometheus text)
/// and, with <c>--debug-web-enabled</c>, the debug web UI. Other paths are 404, other methods on these paths 405.
/// </summary>
internal sealed class MetricsEndpoint(bool debugWebEnabled, DebugSources sources, PullMeasurer measurer, SpegelInstruments instruments)
{
    public async Task HandleAsync(HttpContext context)
    {
        string path = context.Request.Path.Value ?? string.Empty;
        bool get = HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method);
        if (path == "/metrics")
        {
            if (!get)
            {
                context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
                return;
            }

            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await instruments.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
            return;
        }

        if (!debugWebEnabled || !path.StartsWith("/debug/web", StringComparison.Ordinal))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        await MeasureAsync(context, DebugAsync).ConfigureAwait(false);
    }

    private async Task DebugAsync(HttpContext context)
    {
        string path = context.Request.Path.Value ?? string.Empty;
        if (path == "/debug/web")
        {
            // The page's relative links need the slash.
            context.Response.Redirect("/debug/web/");
            return;
        }

        if (path is not ("/debug/web/" or "/debug/web/measure"))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (!HttpMethods.IsGet(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }

        string html;
        if (path == "/debug/web/")
        {
            html = DebugPage.Render(sources, BuildInfo.Version);
        }
        else
        {
            string image = context.Request.Query["image"].ToString();
            var clock = Stopwatch.StartNew();
            try
            {
                var blobs = await measurer.MeasureAsync(image, context.RequestAborted).ConfigureAwait(false);
                html = DebugPage.RenderMeasurement(image, blobs, clock.Elapsed);
            }
            catch (Exception ex) when (ex is ArgumentException or HttpRequestException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
            {
                html = DebugPage.RenderError(ex.Message);
            }
        }

        context.Response.ContentType = "text/html; charset=utf-8";
        byte[] body = System.Text.Encoding.UTF8.GetBytes(html);
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The debug web UI's requests in the <c>http_*</c> metrics, as Spegel measures its debug web routes.</summary>
    private async Task MeasureAsync(HttpContext context, RequestDelegate next)
    {
        string? label = HttpHandlerLabel.ForMetrics(context.Request.Method, context.Request.Path.Value ?? string.Empty);
        if (label is null)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        long start = Stopwatch.GetTimestamp();
        var inflight = instruments.HttpRequestsInflight.WithLabels(label);
        inflight.Inc();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            inflight.Dec();
            long bytes = HttpMethods.IsHead(context.Request.Method) ? 0 : context.Response.ContentLength ?? 0;
            instruments.ObserveHttp(label, context.Request.Method, context.Response.StatusCode, Stopwatch.GetElapsedTime(start), bytes);
        }
    }
}
