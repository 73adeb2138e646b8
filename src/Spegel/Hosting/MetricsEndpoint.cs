using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Prometheus;
using Spegel.Telemetry;

namespace Spegel.Hosting;

/// <summary>
/// What the metrics address (<c>:9090</c>) answers, on the node's one Kestrel: <c>GET /metrics</c> (Prometheus text)
/// and, with <c>--debug-web-enabled</c>, the debug web UI (<c>GET /debug/web/</c>, <c>POST /debug/web/measure</c>).
/// Other paths are 404, other methods on these paths 405 with an <c>Allow</c> header.
/// </summary>
internal sealed class MetricsEndpoint(bool debugWebEnabled, DebugSources sources, PullMeasurer measurer, SpegelInstruments instruments, DebugToken? debugToken = null)
{
    /// <summary>The measure form is an image reference and a token: a few hundred bytes.</summary>
    private const int MaxFormBytes = 8 * 1024;

    private static readonly FormOptions FormLimits = new()
    {
        ValueCountLimit = 8,
        KeyLengthLimit = 64,
        ValueLengthLimit = 2048,
        MultipartBodyLengthLimit = MaxFormBytes,
        MultipartHeadersLengthLimit = 2048,
        MultipartHeadersCountLimit = 8,
        MultipartBoundaryLengthLimit = 128,
    };

    private readonly DebugToken _token = debugToken ?? DebugToken.Generate();
    private int _measuring;

    public async Task HandleAsync(HttpContext context)
    {
        string path = context.Request.Path.Value ?? string.Empty;
        bool get = HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method);
        if (path == "/metrics")
        {
            if (!get)
            {
                context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
                context.Response.Headers.Allow = "GET, HEAD";
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

        if (path == "/debug/web/measure")
        {
            await MeasureRouteAsync(context).ConfigureAwait(false);
            return;
        }

        if (path != "/debug/web/")
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (!HttpMethods.IsGet(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            context.Response.Headers.Allow = "GET";
            return;
        }

        // The page carries the token: no cache keeps it, no other site frames it (a click on a framed page would
        // post it), and no link from it sends a Referer.
        context.Response.Headers.CacheControl = "no-store";
        context.Response.Headers.XFrameOptions = "DENY";
        context.Response.Headers.ContentSecurityPolicy = "frame-ancestors 'none'";
        context.Response.Headers["Referrer-Policy"] = "no-referrer";
        await WriteHtmlAsync(context, StatusCodes.Status200OK, DebugPage.Render(sources, BuildInfo.Version, _token.Value)).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>POST /debug/web/measure</c>: pulls an image through the node with its credentials, so it is a POST (a link
    /// or an <c>img</c> cannot start it), carries the page's <see cref="DebugToken"/> (another site's form cannot),
    /// and runs one at a time per node.
    /// </summary>
    private async Task MeasureRouteAsync(HttpContext context)
    {
        if (!HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            context.Response.Headers.Allow = "POST";
            return;
        }

        string? image = null;
        string? presented = context.Request.Headers[DebugToken.Header].ToString();
        if (context.Request.HasFormContentType)
        {
            if (context.Request.ContentLength > MaxFormBytes)
            {
                await WriteHtmlAsync(context, StatusCodes.Status413PayloadTooLarge, DebugPage.RenderError($"the form is larger than {MaxFormBytes} bytes")).ConfigureAwait(false);
                return;
            }

            var form = await ReadFormAsync(context).ConfigureAwait(false);
            if (form is null)
            {
                await WriteHtmlAsync(context, StatusCodes.Status400BadRequest, DebugPage.RenderError("the form could not be read")).ConfigureAwait(false);
                return;
            }

            image = form["image"].ToString();
            if (string.IsNullOrEmpty(presented))
            {
                presented = form[DebugToken.FormField].ToString();
            }
        }

        if (!_token.Matches(presented))
        {
            await WriteHtmlAsync(context, StatusCodes.Status403Forbidden, DebugPage.RenderError("the debug token is missing or wrong: reload the debug page and measure from its form")).ConfigureAwait(false);
            return;
        }

        if (Interlocked.CompareExchange(ref _measuring, 1, 0) != 0)
        {
            instruments.Refused.WithLabels(Refusals.MeasureBusy).Inc();
            context.Response.Headers.RetryAfter = "5";
            await WriteHtmlAsync(context, StatusCodes.Status503ServiceUnavailable, DebugPage.RenderError("another measurement is running on this node: try again when it has finished")).ConfigureAwait(false);
            return;
        }

        try
        {
            int status = StatusCodes.Status200OK;
            string html;
            var clock = Stopwatch.StartNew();
            try
            {
                var blobs = await measurer.MeasureAsync(image ?? string.Empty, context.RequestAborted).ConfigureAwait(false);
                html = DebugPage.RenderMeasurement(image!, blobs, clock.Elapsed);
            }
            catch (MeasureFailedException ex)
            {
                status = ex.BadInput ? StatusCodes.Status400BadRequest : StatusCodes.Status502BadGateway;
                html = DebugPage.RenderError(ex.Message);
            }
            catch (IOException) when (!context.RequestAborted.IsCancellationRequested)
            {
                status = StatusCodes.Status502BadGateway;
                html = DebugPage.RenderError("the local registry's answer was cut short");
            }

            await WriteHtmlAsync(context, status, html).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _measuring, 0);
        }
    }

    private static async Task<IFormCollection?> ReadFormAsync(HttpContext context)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxFormBytes;
        }

        context.Features.Set<IFormFeature>(new FormFeature(context.Request, FormLimits));
        try
        {
            return await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or BadHttpRequestException)
        {
            return null;
        }
    }

    private static async Task WriteHtmlAsync(HttpContext context, int status, string html)
    {
        context.Response.StatusCode = status;
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
