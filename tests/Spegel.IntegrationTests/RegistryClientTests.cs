using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Spegel.Testbed;

namespace Spegel.IntegrationTests;

/// <summary>A real registry client (skopeo) and raw HTTP against <c>spegel registry</c> serving real containerd content.</summary>
[Collection(SingleNodeCollection.Name)]
public sealed class RegistryClientTests(SingleNodeFixture fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task SkopeoInspectsAndCopiesByDigest()
    {
        var image = fixture.Images.Single(i => i.Repository == "spegeltest/multilayer");
        string digest = await ManifestDigestAsync(image);
        string reference = $"docker://{fixture.Spegel.RegistryAddress}/{image.Repository}@{digest}";

        var inspect = (await ProcessRunner.RunAsync(Tools.Skopeo, ["inspect", "--no-tags", "--tls-verify=false", reference], Timeout)).EnsureSuccess("skopeo inspect");
        using var json = JsonDocument.Parse(inspect.StandardOutput);
        Assert.Equal(digest, json.RootElement.GetProperty("Digest").GetString());
        Assert.Equal(3, json.RootElement.GetProperty("Layers").GetArrayLength());

        string target = Path.Combine(fixture.Root, "skopeo-copy");
        (await ProcessRunner.RunAsync(Tools.Skopeo, ["copy", "--src-tls-verify=false", "--preserve-digests", reference, $"oci:{target}:copy"], Timeout)).EnsureSuccess("skopeo copy");
        foreach (string blob in Directory.EnumerateFiles(Path.Combine(target, "blobs", "sha256")))
        {
            Assert.Equal(Path.GetFileName(blob), OciLayout.HashFile(blob));
            Assert.True(File.Exists(Path.Combine(fixture.Layout.Folder, "blobs", "sha256", Path.GetFileName(blob))), "skopeo copied a blob the upstream image does not have");
        }
    }

    [Fact]
    public async Task SkopeoInspectsTheDockerAndArtifactManifests()
    {
        foreach (var image in fixture.Images.Where(i => i.Format == PushFormat.DockerV2S2 || i.IsArtifact))
        {
            string digest = await ManifestDigestAsync(image);
            var raw = (await ProcessRunner.RunAsync(Tools.Skopeo, ["inspect", "--raw", "--tls-verify=false", $"docker://{fixture.Spegel.RegistryAddress}/{image.Repository}@{digest}"], Timeout)).EnsureSuccess("skopeo inspect --raw");
            Assert.Equal(digest, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(raw.StandardOutput.TrimEnd('\n')))));
        }
    }

    [Fact]
    public async Task ManifestMediaTypesFromRealContent()
    {
        using var http = new HttpClient { BaseAddress = fixture.Spegel.BaseAddress };
        var expected = new Dictionary<string, string>
        {
            ["spegeltest/multilayer"] = "application/vnd.oci.image.manifest.v1+json",
            ["spegeltest/multiplatform"] = "application/vnd.oci.image.index.v1+json",
            ["spegeltest/nomediatype"] = "application/vnd.oci.image.manifest.v1+json",
            ["library/dockerv2"] = "application/vnd.docker.distribution.manifest.v2+json",
            ["spegeltest/artifact"] = "application/vnd.oci.image.manifest.v1+json",
        };
        foreach (var image in fixture.Images)
        {
            using var response = await http.GetAsync($"/v2/{image.Repository}/manifests/{image.Tag}?ns={Uri.EscapeDataString(fixture.Upstream.Address)}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(expected[image.Repository], response.Content.Headers.ContentType!.MediaType);
            using var body = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync());
            bool hasMediaType = body.RootElement.TryGetProperty("mediaType", out _);
            Assert.Equal(image.Repository != "spegeltest/nomediatype", hasMediaType);
        }
    }

    [Fact]
    public async Task RangesOverFilesAndOverGrpcMatchTheBlob()
    {
        string layer = LargestBlob();
        byte[] bytes = await File.ReadAllBytesAsync(Path.Combine(fixture.NodeA.ContentRoot, "blobs", "sha256", layer["sha256:".Length..]));
        await using var overGrpc = await SpegelProcess.StartAsync(
            Path.Combine(fixture.Root, "spegel-grpc.log"), $"127.0.0.1:{Network.FreePort()}",
            ["--containerd-sock", fixture.NodeA.Socket, "--containerd-content-path", "/nonexistent/content", "--bootstrap-kind", "static"]);
        Assert.True(JsonLog.Contains(overGrpc.Daemon.ReadLog(), "is not readable: blobs are read through containerd's gRPC API"));

        foreach (var server in new[] { fixture.Spegel.BaseAddress, overGrpc.BaseAddress })
        {
            using var http = new HttpClient { BaseAddress = server };
            string path = $"/v2/spegeltest/multilayer/blobs/{layer}";
            Assert.Equal(bytes, await http.GetByteArrayAsync(path));
            long n = bytes.Length;
            foreach (var (range, start, end) in new[] { ("bytes=0-0", 0L, 0L), ($"bytes={n - 1}-{n - 1}", n - 1, n - 1), ("bytes=-1000", n - 1000, n - 1), ("bytes=1048576-", 1_048_576, n - 1), ("bytes=100-4194404", 100, 4_194_404) })
            {
                foreach (var method in new[] { HttpMethod.Get, HttpMethod.Head })
                {
                    using var request = new HttpRequestMessage(method, path);
                    request.Headers.TryAddWithoutValidation("Range", range);
                    using var response = await http.SendAsync(request);
                    Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
                    Assert.Equal($"bytes {start}-{end}/{n}", response.Content.Headers.ContentRange!.ToString());
                    Assert.Equal(end - start + 1, response.Content.Headers.ContentLength);
                    if (method == HttpMethod.Get)
                    {
                        Assert.Equal(bytes.AsSpan((int)start, (int)(end - start + 1)).ToArray(), await response.Content.ReadAsByteArrayAsync());
                    }
                }
            }

            using var unsatisfiable = new HttpRequestMessage(HttpMethod.Get, path);
            unsatisfiable.Headers.TryAddWithoutValidation("Range", $"bytes={n}-");
            using var refused = await http.SendAsync(unsatisfiable);
            Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, refused.StatusCode);
        }
    }

    [Fact]
    public async Task BlobsOfAnotherNamespaceAreNotServed()
    {
        // Content files are shared by all namespaces on disk; only Info in our namespace says a blob is ours.
        string layer = LargestBlob();
        byte[] ownBlob = System.Text.Encoding.UTF8.GetBytes($"a blob of the default namespace only, {Guid.NewGuid()}");
        string own = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(ownBlob));
        await IngestAsync("default", own, ownBlob);
        try
        {
            await using var otherNamespace = await SpegelProcess.StartAsync(
                Path.Combine(fixture.Root, "spegel-ns.log"), $"127.0.0.1:{Network.FreePort()}",
                ["--containerd-sock", fixture.NodeA.Socket, "--containerd-namespace", "default", "--containerd-content-path", string.Empty, "--bootstrap-kind", "static"]);
            using var http = new HttpClient { Timeout = Timeout };
            async Task<HttpStatusCode> StatusAsync(Uri server, string digest)
            {
                using var response = await http.GetAsync(new Uri(server, $"/v2/x/blobs/{digest}"), HttpCompletionOption.ResponseHeadersRead);
                return response.StatusCode;
            }

            Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(otherNamespace.BaseAddress, layer));
            Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(fixture.Spegel.BaseAddress, own));

            // Positive controls: each instance serves its own namespace's blob with the same request, so the 404s
            // above are the namespace, not an instance that cannot serve.
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(fixture.Spegel.BaseAddress, layer));
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(otherNamespace.BaseAddress, own));
        }
        finally
        {
            (await Ctr("default", ["content", "rm", own])).EnsureSuccess("ctr content rm");
        }
    }

    /// <summary>Writes <paramref name="blob"/> into <paramref name="ns"/>'s content store (a GC root, so it stays).</summary>
    private async Task IngestAsync(string ns, string digest, byte[] blob)
    {
        string file = Path.Combine(fixture.Root, $"blob-{Guid.NewGuid():N}");
        await File.WriteAllBytesAsync(file, blob);
        var ingest = await ProcessRunner.RunAsync(
            "sh",
            ["-c", $"exec {Tools.Ctr} --address \"$1\" --namespace \"$2\" content ingest --expected-size \"$3\" --expected-digest \"$4\" \"$5\" < \"$6\"", "ingest", fixture.NodeA.Socket, ns, blob.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), digest, $"test-{Guid.NewGuid():N}", file],
            Timeout);
        ingest.EnsureSuccess("ctr content ingest");
        (await Ctr(ns, ["content", "label", digest, "containerd.io/gc.root=test"])).EnsureSuccess("ctr content label");
    }

    private Task<CommandResult> Ctr(string ns, IEnumerable<string> arguments) =>
        ProcessRunner.RunAsync(Tools.Ctr, ["--address", fixture.NodeA.Socket, "--namespace", ns, .. arguments], Timeout);

    private string LargestBlob() =>
        fixture.ContentOfA.OrderByDescending(d => new FileInfo(Path.Combine(fixture.NodeA.ContentRoot, "blobs", "sha256", d["sha256:".Length..])).Length).First();

    private async Task<string> ManifestDigestAsync(TestImage image)
    {
        using var http = new HttpClient { BaseAddress = fixture.Spegel.BaseAddress };
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/{image.Repository}/manifests/{image.Tag}?ns={Uri.EscapeDataString(fixture.Upstream.Address)}"));
        head.EnsureSuccessStatusCode();
        return head.Headers.GetValues("Docker-Content-Digest").Single();
    }
}
