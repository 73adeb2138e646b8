using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Prometheus;
using Spegel.Telemetry;

namespace Spegel.Hosting;

/// <summary>The metrics address (<c>:9090</c>): <c>GET /metrics</c> (Prometheus text) and the debug web UI.</summary>
internal static class MetricsServer
{
    public static async Task<WebApplication> StartAsync(RegistrySettings settings, DebugSources sources, PullMeasurer measurer, CancellationToken cancellationToken)
    {
        var builder = SpegelWebHost.CreateBuilder(settings.LogLevel);
        builder.WebHost.ConfigureKestrel(k =>
        {
            if (settings.MetricsAddr.TryGetEndPoint() is { } endPoint)
            {
                k.Listen(endPoint);
            }
            else
            {
                k.ListenLocalhost(settings.MetricsAddr.Port);
            }
        });
        var app = builder.Build();
        app.MapGet("/metrics", async context =>
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        });
        if (settings.DebugWebEnabled)
        {
            app.Use(MeasureAsync);

            // Routing treats /debug/web and /debug/web/ alike; the page's relative links need the slash.
            app.Use((context, next) =>
            {
                if (context.Request.Path.Value == "/debug/web")
                {
                    context.Response.Redirect("/debug/web/");
                    return Task.CompletedTask;
                }

                return next(context);
            });
            app.MapGet("/debug/web/", () => Results.Content(DebugPage.Render(sources, BuildInfo.Version), "text/html; charset=utf-8"));
            app.MapGet("/debug/web/measure", async (HttpContext context) =>
            {
                string image = context.Request.Query["image"].ToString();
                var clock = Stopwatch.StartNew();
                try
                {
                    var blobs = await measurer.MeasureAsync(image, context.RequestAborted).ConfigureAwait(false);
                    return Results.Content(DebugPage.RenderMeasurement(image, blobs, clock.Elapsed), "text/html; charset=utf-8");
                }
                catch (Exception ex) when (ex is ArgumentException or HttpRequestException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
                {
                    return Results.Content(DebugPage.RenderError(ex.Message), "text/html; charset=utf-8");
                }
            });
        }

        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        return app;
    }

    /// <summary>The debug web UI's requests in the <c>http_*</c> metrics, as Spegel measures its debug web routes.</summary>
    private static async Task MeasureAsync(HttpContext context, RequestDelegate next)
    {
        string? label = HttpHandlerLabel.ForMetrics(context.Request.Method, context.Request.Path.Value ?? string.Empty);
        if (label is null)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        long start = Stopwatch.GetTimestamp();
        var inflight = SpegelMetrics.HttpRequestsInflight.WithLabels(label);
        inflight.Inc();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            inflight.Dec();
            long bytes = HttpMethods.IsHead(context.Request.Method) ? 0 : context.Response.ContentLength ?? 0;
            SpegelMetrics.ObserveHttp(label, context.Request.Method, context.Response.StatusCode, Stopwatch.GetElapsedTime(start), bytes);
        }
    }
}
