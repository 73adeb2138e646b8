using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Spegel.Testbed;

namespace Spegel.IntegrationTests;

/// <summary>
/// Answers a containerd (or a tool) sees that must be Spegel's, over real containerd content: registry filters and
/// mirrored registries applied to local content, <c>OCI-Namespace</c> and blob media types, the Basic-auth secret.
/// </summary>
[Collection(SingleNodeCollection.Name)]
public sealed class SpegelAnswersTests(SingleNodeFixture fixture)
{
    private string Ns => Uri.EscapeDataString(fixture.Upstream.Address);

    [Fact]
    public async Task AFilteredTagHeldLocallyIs404SoContainerdGoesToTheUpstream()
    {
        await using var filtered = await SpegelProcess.StartAsync(
            Path.Combine(fixture.Root, "spegel-filtered.log"), $"127.0.0.1:{Network.FreePort()}",
            ["--containerd-sock", fixture.NodeA.Socket, "--containerd-content-path", string.Empty, "--bootstrap-kind", "static", "--log-level", "DEBUG",
             "--registry-filters", "/spegeltest/multilayer:1$"]);
        using var http = new HttpClient { BaseAddress = filtered.BaseAddress };
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/v2/spegeltest/multilayer/manifests/1?ns={Ns}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/v2/spegeltest/nomediatype/manifests/1?ns={Ns}")).StatusCode);
        string digest = await ManifestDigestAsync(fixture.Spegel.BaseAddress, "spegeltest/multilayer");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/v2/spegeltest/multilayer/manifests/{digest}?ns={Ns}")).StatusCode);

        // containerd with this mirror (and the upstream stopped) cannot get the filtered tag, but gets the others.
        await using var node = await ContainerdNode.StartAsync(Path.Combine(fixture.Root, "filtered-client"));
        (await SpegelProcess.RunAsync([
            "configuration", "--containerd-registry-config-path", node.HostsDir,
            "--mirror-targets", filtered.BaseAddress.ToString().TrimEnd('/'),
            "--mirrored-registries", $"http://{fixture.Upstream.Address}",
            "--basic-auth-dir", Path.Combine(fixture.Root, "no-auth"),
        ])).EnsureSuccess("spegel configuration");
        var refused = await node.PullAsync(fixture.UpstreamImage(fixture.Images.Single(i => i.Repository == "spegeltest/multilayer")), timeout: TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, refused.ExitCode);
        var pulled = await node.PullAsync(fixture.UpstreamImage(fixture.Images.Single(i => i.Repository == "spegeltest/nomediatype")), timeout: TimeSpan.FromSeconds(60));
        Assert.True(pulled.ExitCode == 0, pulled.StandardError);
        Assert.Contains(RequestLogEntry.Parse(filtered.Daemon.ReadLog()), e => e.Source == "filtered" && e.Status == 404 && e.Path.Contains("/spegeltest/multilayer/manifests/1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ARegistryThatIsNotMirroredIsNotAnsweredFromTheLocalStore()
    {
        await using var other = await SpegelProcess.StartAsync(
            Path.Combine(fixture.Root, "spegel-other.log"), $"127.0.0.1:{Network.FreePort()}",
            ["--containerd-sock", fixture.NodeA.Socket, "--containerd-content-path", string.Empty, "--bootstrap-kind", "static",
             "--mirrored-registries", "https://registry.example.com"]);
        using var http = new HttpClient { BaseAddress = other.BaseAddress };
        string digest = await ManifestDigestAsync(fixture.Spegel.BaseAddress, "spegeltest/multilayer");
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/v2/spegeltest/multilayer/manifests/1?ns={Ns}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/v2/spegeltest/multilayer/manifests/{digest}?ns={Ns}")).StatusCode);
    }

    [Fact]
    public async Task LocalAnswersCarryOciNamespaceAndBlobMediaTypesAsSpegel()
    {
        using var http = new HttpClient { BaseAddress = fixture.Spegel.BaseAddress };
        using var manifestResponse = await http.GetAsync($"/v2/spegeltest/multilayer/manifests/1?ns={Ns}");
        Assert.Equal(fixture.Upstream.Address, manifestResponse.Headers.GetValues("OCI-Namespace").Single());
        using var manifest = JsonDocument.Parse(await manifestResponse.Content.ReadAsByteArrayAsync());
        string config = manifest.RootElement.GetProperty("config").GetProperty("digest").GetString()!;
        string largest = manifest.RootElement.GetProperty("layers").EnumerateArray().OrderByDescending(l => l.GetProperty("size").GetInt64()).First().GetProperty("digest").GetString()!;

        using var configResponse = await http.GetAsync($"/v2/spegeltest/multilayer/blobs/{config}?ns={Ns}");
        Assert.Equal("application/vnd.oci.image.config.v1+json", configResponse.Content.Headers.ContentType!.MediaType);
        Assert.Equal(fixture.Upstream.Address, configResponse.Headers.GetValues("OCI-Namespace").Single());

        using var layer = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/spegeltest/multilayer/blobs/{largest}?ns={Ns}"));
        Assert.Equal("application/octet-stream", layer.Content.Headers.ContentType!.MediaType);
        using var rangeRequest = new HttpRequestMessage(HttpMethod.Get, $"/v2/spegeltest/multilayer/blobs/{config}?ns={Ns}");
        rangeRequest.Headers.Range = new RangeHeaderValue(0, 9);
        using var ranged = await http.SendAsync(rangeRequest);
        Assert.Equal(HttpStatusCode.PartialContent, ranged.StatusCode);
        Assert.Equal("application/octet-stream", ranged.Content.Headers.ContentType!.MediaType);

        // A Docker image config is typed as an OCI config too (Spegel fingerprints content; it keeps no media types),
        // and an artifact's own config JSON, which Spegel cannot type, goes out as octet-stream.
        Assert.Equal("application/vnd.oci.image.config.v1+json", await ConfigTypeAsync(http, "library/dockerv2"));
        Assert.Equal("application/octet-stream", await ConfigTypeAsync(http, "spegeltest/artifact"));
    }

    [Fact]
    public async Task TheBasicAuthSecretIsUsedByteForByte()
    {
        string secret = Path.Combine(fixture.Root, "secret-newline");
        Directory.CreateDirectory(secret);
        await File.WriteAllTextAsync(Path.Combine(secret, "username"), "hello\n");
        await File.WriteAllTextAsync(Path.Combine(secret, "password"), "world\n");
        await using var authed = await SpegelProcess.StartAsync(
            Path.Combine(fixture.Root, "spegel-auth.log"), $"127.0.0.1:{Network.FreePort()}",
            ["--containerd-sock", fixture.NodeA.Socket, "--containerd-content-path", string.Empty, "--bootstrap-kind", "static", "--basic-auth-dir", secret]);
        using var http = new HttpClient { BaseAddress = authed.BaseAddress };
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(http, "aGVsbG8KOndvcmxkCg==")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(http, "aGVsbG86d29ybGQ=")).StatusCode);

        string hosts = Path.Combine(fixture.Root, "auth-hosts");
        (await SpegelProcess.RunAsync(["configuration", "--containerd-registry-config-path", hosts, "--mirror-targets", "http://127.0.0.1:30020", "--basic-auth-dir", secret]))
            .EnsureSuccess("spegel configuration");
        Assert.Contains("Authorization = 'Basic aGVsbG8KOndvcmxkCg=='", await File.ReadAllTextAsync(Path.Combine(hosts, "_default", "hosts.toml")), StringComparison.Ordinal);
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, string credentials)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v2/");
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", credentials);
        return await http.SendAsync(request);
    }

    private async Task<string> ConfigTypeAsync(HttpClient http, string repository)
    {
        using var manifest = JsonDocument.Parse(await http.GetByteArrayAsync($"/v2/{repository}/manifests/1?ns={Ns}"));
        string config = manifest.RootElement.GetProperty("config").GetProperty("digest").GetString()!;
        using var response = await http.GetAsync($"/v2/{repository}/blobs/{config}?ns={Ns}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response.Content.Headers.ContentType!.MediaType!;
    }

    private async Task<string> ManifestDigestAsync(Uri spegel, string repository)
    {
        using var http = new HttpClient { BaseAddress = spegel };
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/{repository}/manifests/1?ns={Ns}"));
        head.EnsureSuccessStatusCode();
        return head.Headers.GetValues("Docker-Content-Digest").Single();
    }
}
