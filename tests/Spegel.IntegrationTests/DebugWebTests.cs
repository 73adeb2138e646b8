using Spegel.Testbed;

namespace Spegel.IntegrationTests;

/// <summary>The debug web UI in headless Chromium: what it shows, and a screenshot kept as a test artifact.</summary>
[Collection(SingleNodeCollection.Name)]
public sealed class DebugWebTests(SingleNodeFixture fixture)
{
    [Fact]
    public async Task ThePageShowsTheNodeAndMeasuresAPull()
    {
        var image = fixture.Images.Single(i => i.Repository == "spegeltest/multilayer");
        string home = $"http://{fixture.Spegel.MetricsAddress}/debug/web/";
        // A link alone does not start a pull: "?measure=" only fills the field.
        string prefilled = await HeadlessChromium.DumpDomAsync($"{home}?measure={Uri.EscapeDataString(fixture.UpstreamImage(image))}");
        Assert.Contains("<div id=\"result\"></div>", prefilled, StringComparison.Ordinal);
        Assert.DoesNotContain("id=\"measure-table\"", prefilled, StringComparison.Ordinal);

        // With the node's token in the fragment (read from the page, as only its reader can), the page's script
        // measures through the same POST its form sends.
        string token = await DebugTokenAsync(home);
        string page = $"{home}?measure={Uri.EscapeDataString(fixture.UpstreamImage(image))}#token={token}";
        string dom = await HeadlessChromium.DumpDomAsync(page);

        Assert.Contains("Spegel for .NET", dom, StringComparison.Ordinal);
        Assert.Contains("<span class=\"ok\">yes</span>", dom, StringComparison.Ordinal); // ready
        Assert.Contains("12D3KooW", dom, StringComparison.Ordinal);                      // our peer ID
        Assert.Contains(fixture.UpstreamImage(image), dom, StringComparison.Ordinal);    // advertised, and measured

        // The measurement pulled the manifest, config and three layers through the local instance.
        int table = dom.IndexOf("id=\"measure-table\"", StringComparison.Ordinal);
        Assert.True(table > 0, dom);
        string rows = dom[table..];
        Assert.Equal(1, Count(rows, "<td>manifest</td>"));
        Assert.Equal(1, Count(rows, "<td>config</td>"));
        Assert.Equal(3, Count(rows, "<td>layer</td>"));
        Assert.DoesNotContain("measure-error", dom, StringComparison.Ordinal);

        // Loaded again, the page lists the requests of that pull and where they were answered from.
        string after = await HeadlessChromium.DumpDomAsync($"http://{fixture.Spegel.MetricsAddress}/debug/web/");
        Assert.Contains("local store", after[after.IndexOf("id=\"recent\"", StringComparison.Ordinal)..], StringComparison.Ordinal);

        string artifact = Path.Combine(AppContext.BaseDirectory, "artifacts", "debug-web.png");
        await HeadlessChromium.ScreenshotAsync($"{home}?measure={Uri.EscapeDataString(fixture.UpstreamImage(image))}#token={await DebugTokenAsync(home)}", artifact);
        Assert.True(new FileInfo(artifact).Length > 10_000);
    }

    [Fact]
    public async Task MetricsAreServedInPrometheusTextFormat()
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync($"http://{fixture.Spegel.MetricsAddress}/metrics");
        Assert.Equal("text/plain", response.Content.Headers.ContentType!.MediaType);
        string text = await response.Content.ReadAsStringAsync();
        foreach (string name in new[] { "spegel_advertised_keys", "spegel_advertised_images", "spegel_advertised_image_tags", "spegel_advertised_image_digests", "spegel_advertised_content_digests", "http_requests_inflight" })
        {
            Assert.Contains($"# TYPE {name} gauge", text, StringComparison.Ordinal);
        }

        Assert.Contains("# TYPE http_request_duration_seconds histogram", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE http_response_size_bytes histogram", text, StringComparison.Ordinal);
        Assert.Contains("le=\"1024\"", text, StringComparison.Ordinal);
    }

    private static async Task<string> DebugTokenAsync(string home)
    {
        using var http = new HttpClient();
        string html = await http.GetStringAsync(home);
        string token = System.Text.RegularExpressions.Regex.Match(html, "name=\"token\" value=\"([^\"]+)\"").Groups[1].Value;
        Assert.NotEmpty(token);
        return token;
    }

    private static int Count(string text, string fragment)
    {
        int count = 0;
        for (int i = text.IndexOf(fragment, StringComparison.Ordinal); i >= 0; i = text.IndexOf(fragment, i + 1, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
