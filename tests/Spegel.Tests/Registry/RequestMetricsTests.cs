using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Prometheus;
using Spegel.Registry;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Registry;

/// <summary>
/// <c>http_*</c> metrics labelled as Spegel labels them (<c>pkg/httpx/mux.go</c>: the route pattern, so
/// <c>handler="/v2/*"</c>, <c>"/readyz"</c>, <c>"/livez"</c>), from a fixed set whatever the requests; request log
/// lines at debug level only, as Spegel logs them.
/// </summary>
public sealed partial class RequestMetricsTests
{
    private static readonly HashSet<string> Handlers = ["/v2/*", "/readyz", "/livez", "/healthz", "/debug/web/*", "/debug/web/measure"];

    [GeneratedRegex("^(http_request_duration_seconds_count|http_response_size_bytes_count|http_requests_inflight)\\{([^}]*)\\}", RegexOptions.Multiline)]
    private static partial Regex SeriesRegex();

    [Fact]
    public async Task HandlerLabelsAreSpegelsRoutePatternsAndAFixedSet()
    {
        var store = new MemoryContentStore();
        var blob = store.Add(Encoding.UTF8.GetBytes("blob"));
        await using var server = await RegistryServer.StartAsync(store);
        await RawHttp.GetAsync(server.Port, "/v2/");
        await RawHttp.GetAsync(server.Port, $"/v2/library/app/blobs/{blob}?ns=docker.io");
        await RawHttp.GetAsync(server.Port, $"/v2/library/app/blobs/{blob}?ns=docker.io", "HEAD");
        await RawHttp.GetAsync(server.Port, "/v2/library/app/manifests/nothing?ns=docker.io");
        await RawHttp.GetAsync(server.Port, "/v2/bad..name/manifests/x?ns=docker.io");
        await RawHttp.GetAsync(server.Port, "/readyz");
        await RawHttp.GetAsync(server.Port, "/livez");
        await RawHttp.GetAsync(server.Port, "/healthz");
        await RawHttp.GetAsync(server.Port, "/not/a/route-" + Guid.NewGuid());
        await RawHttp.GetAsync(server.Port, "/v2/x/blobs/" + blob, "DELETE");
        await RawHttp.GetAsync(server.Port, "/v2/", "BREW" + Random.Shared.Next());

        var series = await SeriesAsync(server.Instruments.Registry);
        foreach (var labels in series)
        {
            Assert.True(labels.TryGetValue("handler", out string? handler) && Handlers.Contains(handler), $"handler label outside the fixed set: {string.Join(',', labels)}");
            if (labels.TryGetValue("method", out string? method))
            {
                Assert.Contains(method, new[] { "GET", "HEAD" });
            }
        }

        Assert.Contains(series, l => l["handler"] == "/v2/*" && l.GetValueOrDefault("method") == "GET" && l.GetValueOrDefault("code") == "200");
        Assert.Contains(series, l => l["handler"] == "/v2/*" && l.GetValueOrDefault("method") == "HEAD" && l.GetValueOrDefault("code") == "200");
        Assert.Contains(series, l => l["handler"] == "/v2/*" && l.GetValueOrDefault("code") == "404");
        Assert.Contains(series, l => l["handler"] == "/readyz" && l.GetValueOrDefault("code") == "200");
        Assert.Contains(series, l => l["handler"] == "/livez" && l.GetValueOrDefault("code") == "200");
        Assert.Contains(series, l => l["handler"] == "/v2/*" && !l.ContainsKey("method"));
    }

    [Theory]
    [InlineData(200)]
    [InlineData(404)]
    [InlineData(401)]
    [InlineData(500)]
    public async Task RequestsAreLoggedAtDebugWhateverTheStatus(int status)
    {
        var logger = new ListLogger<RequestLogging>();
        var middleware = new RequestLogging(
            context =>
            {
                RequestLogFeature.Of(context).Handler = "blob";
                RequestLogFeature.Of(context).Source = "local";
                context.Response.StatusCode = status;
                return Task.CompletedTask;
            },
            new Spegel.Telemetry.SpegelInstruments(),
            logger);
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Path = "/v2/x/blobs/sha256:" + new string('1', 64);
        await middleware.InvokeAsync(context);

        var entry = Assert.Single(logger.Entries);
        Assert.Equal(LogLevel.Debug, entry.Level);
        Assert.Equal(1301, entry.EventId);
        Assert.Contains($" {status} ", entry.Message, StringComparison.Ordinal);
        Assert.Contains("(blob local)", entry.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HealthChecksAreNotLogged()
    {
        var logger = new ListLogger<RequestLogging>();
        var middleware = new RequestLogging(
            context =>
            {
                RequestLogFeature.Of(context).Handler = "healthz";
                context.Response.StatusCode = 503;
                return Task.CompletedTask;
            },
            new Spegel.Telemetry.SpegelInstruments(),
            logger);
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Path = "/readyz";
        await middleware.InvokeAsync(context);
        Assert.Empty(logger.Entries);
    }

    private static async Task<List<Dictionary<string, string>>> SeriesAsync(CollectorRegistry registry)
    {
        using var text = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(text);
        var result = new List<Dictionary<string, string>>();
        foreach (Match match in SeriesRegex().Matches(Encoding.UTF8.GetString(text.ToArray())))
        {
            result.Add(match.Groups[2].Value.Split(',', StringSplitOptions.RemoveEmptyEntries)
                .Select(pair => pair.Split('=', 2))
                .ToDictionary(kv => kv[0], kv => kv[1].Trim('"')));
        }

        return result;
    }
}
