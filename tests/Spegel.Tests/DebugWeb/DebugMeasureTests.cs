using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Spegel.Hosting;
using Spegel.Mirroring;
using Spegel.Routing;
using Spegel.Telemetry;
using Spegel.Tests.Mirroring;

namespace Spegel.Tests.DebugWeb;

/// <summary>
/// The debug page's "measure image pull" (security audit A11/B9): only a POST carrying the page's token starts it,
/// one runs at a time, and what it is given or fetches is validated before it becomes a URL, with errors that quote
/// no fetched bytes.
/// </summary>
public sealed partial class DebugMeasureTests
{
    private const string Image = "registry.test/library/app:1";
    private readonly LocalRegistryStub _registry = new();
    private readonly SpegelInstruments _instruments = new();
    private readonly DebugToken _token = DebugToken.Generate();
    private readonly MetricsEndpoint _endpoint;

    public DebugMeasureTests()
    {
        var measurer = new PullMeasurer(new HttpClient(_registry), LocalRegistryStub.Address, new StaticRouter(), null);
        var sources = new DebugSources(null, null, new MirrorStats(), new NodeReadiness(new LocalOnlyRouter(), null));
        _endpoint = new MetricsEndpoint(true, sources, measurer, _instruments, _token);
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("HEAD")]
    [InlineData("PUT")]
    public async Task MeasureIsNotStartedByAnyMethodButPost(string method)
    {
        _registry.Image(layers: 1);
        var response = await SendAsync(method, "/debug/web/measure?image=" + Uri.EscapeDataString(Image), _token.Value, image: null);
        Assert.Equal(StatusCodes.Status405MethodNotAllowed, response.Status);
        Assert.Equal("POST", response.Allow);
        Assert.Empty(_registry.Requests);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("wrong")]
    [InlineData("SAME-LENGTH-BUT-WRONG-aaaaaaaaaaaaaaaaaaaaa")]
    public async Task APostWithoutTheRightTokenIsForbidden(string? token)
    {
        _registry.Image(layers: 1);
        var inHeader = await SendAsync("POST", "/debug/web/measure", token, Image);
        var inForm = await SendAsync("POST", "/debug/web/measure", null, Image, formToken: token);
        Assert.Equal(StatusCodes.Status403Forbidden, inHeader.Status);
        Assert.Equal(StatusCodes.Status403Forbidden, inForm.Status);
        Assert.Contains("debug token is missing or wrong", inHeader.Body, StringComparison.Ordinal);
        Assert.Empty(_registry.Requests);
    }

    [Fact]
    public async Task ThePageEmbedsTheTokenAndAPostWithItMeasuresThePull()
    {
        _registry.Image(layers: 2);
        var page = await SendAsync("GET", "/debug/web/", null, null);
        Assert.Equal(StatusCodes.Status200OK, page.Status);
        string embedded = TokenField().Match(page.Body).Groups[1].Value;
        Assert.Equal(_token.Value, embedded);
        Assert.Equal(43, embedded.Length); // 32 random bytes, base64url

        var byHeader = await SendAsync("POST", "/debug/web/measure", embedded, Image);
        var byForm = await SendAsync("POST", "/debug/web/measure", null, Image, formToken: embedded);

        foreach (var response in new[] { byHeader, byForm })
        {
            Assert.Equal(StatusCodes.Status200OK, response.Status);
            Assert.Contains("id=\"measure-table\"", response.Body, StringComparison.Ordinal);
            Assert.Equal(1, Count(response.Body, "<td>manifest</td>"));
            Assert.Equal(1, Count(response.Body, "<td>config</td>"));
            Assert.Equal(2, Count(response.Body, "<td>layer</td>"));
            Assert.DoesNotContain("secret-bytes", response.Body, StringComparison.Ordinal);
        }

        Assert.Equal(8, _registry.Requests.Count); // manifest, config, two layers; twice
        Assert.All(_registry.Requests, r => Assert.EndsWith("?ns=registry.test", r, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ThePageIsNotFramedCachedOrReferred()
    {
        var context = NewContext("GET", "/debug/web/");
        await _endpoint.HandleAsync(context);
        Assert.Equal("DENY", context.Response.Headers.XFrameOptions.ToString());
        Assert.Equal("no-store", context.Response.Headers.CacheControl.ToString());
        Assert.Equal("no-referrer", context.Response.Headers["Referrer-Policy"].ToString());
    }

    [Fact]
    public async Task ASecondMeasurementWhileOneRunsIsRefusedAndCounted()
    {
        _registry.Image(layers: 1);
        _registry.Hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = SendAsync("POST", "/debug/web/measure", _token.Value, Image);
        await _registry.BlobAsked.Task.WaitAsync(TimeSpan.FromSeconds(30));

        var second = await SendAsync("POST", "/debug/web/measure", _token.Value, Image);
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, second.Status);
        Assert.Contains("another measurement is running", second.Body, StringComparison.Ordinal);
        Assert.Equal(1, _instruments.Refused.WithLabels("measure_busy").Value);

        _registry.Hold.SetResult();
        Assert.Equal(StatusCodes.Status200OK, (await first).Status);
        _registry.Hold = null;
        Assert.Equal(StatusCodes.Status200OK, (await SendAsync("POST", "/debug/web/measure", _token.Value, Image)).Status); // the gate reopened
        Assert.Equal(1, _instruments.Refused.WithLabels("measure_busy").Value);
    }

    [Theory]
    [InlineData("registry.test/library/app@x/../../../../v2/any/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000", "digest algorithm is malformed")]
    [InlineData("registry.test/library/app@sha256:../../../v2/other/blobs/sha256:00", "sha256 digest must be 64 lowercase hex characters")]
    [InlineData("registry.test/library/app@sha256:ABCDEF0000000000000000000000000000000000000000000000000000000000", "sha256 digest must be 64 lowercase hex characters")]
    [InlineData("registry.test/library/app@md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported digest algorithm")]
    [InlineData("registry.test/library/app:1@", "digest is empty")]
    [InlineData("registry.test/library/../../v2/app:1", "is not an image reference")]
    [InlineData("registry.test/Library/App:1", "is not an image reference")]
    [InlineData("registry.test/library/app:1/../x", "is not an image reference")]
    [InlineData("registry.test/library/app:1?x=y", "is not an image reference")]
    [InlineData("reg istry/library/app:1", "is not an image reference")]
    [InlineData("nginx", "is not an image reference")]
    [InlineData("registry.test/library/app", "needs a tag or a digest")]
    [InlineData("", "enter an image reference")]
    public async Task AnInvalidImageReferenceIsRefusedBeforeAnyRequest(string image, string message)
    {
        _registry.Image(layers: 1);
        var response = await SendAsync("POST", "/debug/web/measure", _token.Value, image);
        Assert.Equal(StatusCodes.Status400BadRequest, response.Status);
        Assert.Contains(message, response.Body, StringComparison.Ordinal);
        Assert.Empty(_registry.Requests);
    }

    [Fact]
    public async Task AVeryLongImageReferenceIsRefused()
    {
        var response = await SendAsync("POST", "/debug/web/measure", _token.Value, "registry.test/" + new string('a', 600) + ":1");
        Assert.Equal(StatusCodes.Status400BadRequest, response.Status);
        Assert.Contains("longer than 512 characters", response.Body, StringComparison.Ordinal);
        Assert.Empty(_registry.Requests);
    }

    [Fact]
    public async Task AManifestNamingAPathInsteadOfADigestFetchesNoBlob()
    {
        string config = _registry.Blob("{}"u8.ToArray());
        _registry.Manifest("1", Spegel.Oci.MediaTypes.OciManifest, LocalRegistryStub.ManifestJson(config, ["sha256:../../../../v2/other/manifests/latest"]));
        var response = await SendAsync("POST", "/debug/web/measure", _token.Value, Image);
        Assert.Equal(StatusCodes.Status502BadGateway, response.Status);
        Assert.Contains("layer 1 of the manifest has no valid digest", response.Body, StringComparison.Ordinal);
        Assert.DoesNotContain("../", response.Body, StringComparison.Ordinal);
        Assert.Equal(["/v2/library/app/manifests/1?ns=registry.test"], _registry.Requests);
    }

    [Fact]
    public async Task AManifestThatIsNotJsonIsNamedWithoutQuotingIt()
    {
        _registry.Manifest("1", Spegel.Oci.MediaTypes.OciManifest, "xsecret-blob-bytes{"u8.ToArray());
        var response = await SendAsync("POST", "/debug/web/measure", _token.Value, Image);
        Assert.Equal(StatusCodes.Status502BadGateway, response.Status);
        Assert.Contains("the manifest is not valid JSON", response.Body, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", response.Body, StringComparison.Ordinal);
        Assert.DoesNotContain("invalid literal", response.Body, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("'x'", response.Body, StringComparison.Ordinal);
        Assert.Single(_registry.Requests);
    }

    [Fact]
    public async Task ABlobServedAsAManifestIsRefusedByItsMediaType()
    {
        _registry.Manifest("1", Spegel.Oci.MediaTypes.OctetStream, LocalRegistryStub.ManifestJson(_registry.Blob("{}"u8.ToArray()), []));
        var response = await SendAsync("POST", "/debug/web/measure", _token.Value, Image);
        Assert.Equal(StatusCodes.Status502BadGateway, response.Status);
        Assert.Contains("Content-Type that is not an OCI or Docker manifest or index", response.Body, StringComparison.Ordinal);
        Assert.Single(_registry.Requests);
    }

    [Fact]
    public async Task AManifestOfTooManyLayersIsRefusedBeforeAnyBlobIsFetched()
    {
        string config = _registry.Blob("{}"u8.ToArray());
        string layer = _registry.Blob("layer"u8.ToArray());
        _registry.Manifest("1", Spegel.Oci.MediaTypes.OciManifest, LocalRegistryStub.ManifestJson(config, Enumerable.Repeat(layer, MeasuredManifest.MaxLayers + 1)));
        var refused = await SendAsync("POST", "/debug/web/measure", _token.Value, Image);
        Assert.Equal(StatusCodes.Status502BadGateway, refused.Status);
        Assert.Contains($"the manifest lists {MeasuredManifest.MaxLayers + 1} layers; the debug page measures images of at most {MeasuredManifest.MaxLayers}", refused.Body, StringComparison.Ordinal);
        Assert.Single(_registry.Requests);

        // At the cap it is measured (positive control).
        _registry.Manifest("2", Spegel.Oci.MediaTypes.OciManifest, LocalRegistryStub.ManifestJson(config, Enumerable.Repeat(layer, MeasuredManifest.MaxLayers)));
        var measured = await SendAsync("POST", "/debug/web/measure", _token.Value, "registry.test/library/app:2");
        Assert.Equal(StatusCodes.Status200OK, measured.Status);
        Assert.Equal(MeasuredManifest.MaxLayers, Count(measured.Body, "<td>layer</td>"));
    }

    [Fact]
    public async Task AManifestOverTheSizeLimitIsRefused()
    {
        byte[] huge = new byte[Spegel.Oci.MediaTypes.MaxManifestBytes + 1];
        huge.AsSpan().Fill((byte)' ');
        "{}"u8.CopyTo(huge);
        _registry.Manifest("1", Spegel.Oci.MediaTypes.OciManifest, huge);
        var response = await SendAsync("POST", "/debug/web/measure", _token.Value, Image);
        Assert.Equal(StatusCodes.Status502BadGateway, response.Status);
        Assert.Contains("the manifest is larger than 4 MiB", response.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AManifestFetchedByDigestMustMatchIt()
    {
        string wanted = "sha256:" + new string('a', 64);
        _registry.Manifest(wanted, Spegel.Oci.MediaTypes.OciManifest, LocalRegistryStub.ManifestJson(_registry.Blob("{}"u8.ToArray()), []));
        var response = await SendAsync("POST", "/debug/web/measure", _token.Value, "registry.test/library/app@" + wanted);
        Assert.Equal(StatusCodes.Status502BadGateway, response.Status);
        Assert.Contains("does not match that digest", response.Body, StringComparison.Ordinal);
        Assert.Single(_registry.Requests);
    }

    [Fact]
    public async Task AnIndexIsFollowedToItsLinuxAmd64ManifestAndItsEntriesAreChecked()
    {
        string amd64 = _registry.Image(layers: 1);
        string arm = "sha256:" + new string('b', 64);
        string index = $"{{\"schemaVersion\":2,\"mediaType\":\"{Spegel.Oci.MediaTypes.OciIndex}\",\"manifests\":["
            + $"{{\"mediaType\":\"{Spegel.Oci.MediaTypes.OciManifest}\",\"digest\":\"{arm}\",\"platform\":{{\"os\":\"linux\",\"architecture\":\"arm64\"}}}},"
            + $"{{\"mediaType\":\"{Spegel.Oci.MediaTypes.OciManifest}\",\"digest\":\"{amd64}\",\"platform\":{{\"os\":\"linux\",\"architecture\":\"amd64\"}}}}]}}";
        _registry.Manifest("multi", Spegel.Oci.MediaTypes.OciIndex, Encoding.UTF8.GetBytes(index));
        var measured = await SendAsync("POST", "/debug/web/measure", _token.Value, "registry.test/library/app:multi");
        Assert.Equal(StatusCodes.Status200OK, measured.Status);
        Assert.Contains($"/v2/library/app/manifests/{amd64}?ns=registry.test", _registry.Requests);
        Assert.Equal(2, Count(measured.Body, "<td>manifest</td>"));

        _registry.Requests.Clear();
        _registry.Manifest("bad", Spegel.Oci.MediaTypes.OciIndex, Encoding.UTF8.GetBytes(index.Replace(arm, "sha256:../x", StringComparison.Ordinal)));
        var refused = await SendAsync("POST", "/debug/web/measure", _token.Value, "registry.test/library/app:bad");
        Assert.Equal(StatusCodes.Status502BadGateway, refused.Status);
        Assert.Contains("entry 1 of the index has no valid digest", refused.Body, StringComparison.Ordinal);
        Assert.Single(_registry.Requests);
    }

    private async Task<(int Status, string Body, string Allow)> SendAsync(string method, string pathAndQuery, string? token, string? image, string? formToken = null)
    {
        var context = NewContext(method, pathAndQuery);
        if (token is not null)
        {
            context.Request.Headers[DebugToken.Header] = token;
        }

        if (image is not null || formToken is not null)
        {
            var fields = new Dictionary<string, string>();
            if (image is not null)
            {
                fields["image"] = image;
            }

            if (formToken is not null)
            {
                fields[DebugToken.FormField] = formToken;
            }

            byte[] body = await new FormUrlEncodedContent(fields).ReadAsByteArrayAsync();
            context.Request.ContentType = "application/x-www-form-urlencoded";
            context.Request.ContentLength = body.Length;
            context.Request.Body = new MemoryStream(body);
        }

        await _endpoint.HandleAsync(context);
        context.Response.Body.Position = 0;
        string text = await new StreamReader(context.Response.Body).ReadToEndAsync();
        return (context.Response.StatusCode, text, context.Response.Headers.Allow.ToString());
    }

    private static DefaultHttpContext NewContext(string method, string pathAndQuery)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        int query = pathAndQuery.IndexOf('?', StringComparison.Ordinal);
        context.Request.Path = query < 0 ? pathAndQuery : pathAndQuery[..query];
        context.Request.QueryString = query < 0 ? QueryString.Empty : new QueryString(pathAndQuery[query..]);
        context.Response.Body = new MemoryStream();
        return context;
    }

    private static int Count(string text, string fragment) => Regex.Matches(text, Regex.Escape(fragment)).Count;

    [GeneratedRegex("name=\"token\" value=\"([^\"]*)\"")]
    private static partial Regex TokenField();
}
