using System.Text;
using System.Text.RegularExpressions;
using Spegel.Oci;

namespace Spegel.Tests.Registry;

/// <summary>
/// <c>--registry-filters</c> and <c>--mirrored-registries</c> apply to what this node answers from its own store, as
/// in Spegel ≥ v0.4 (<c>pkg/registry/registry.go</c>: the filter check comes before the local lookup): a filtered
/// reference is 404, so containerd resolves it at the upstream. Subjects as Spegel's <c>RegexFilter</c> builds them:
/// <c>ns/name:tag</c> for tags, <c>ns/name</c> for digests.
/// </summary>
public sealed class RegistryFilterTests : IAsyncLifetime
{
    private static readonly byte[] Manifest = Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{},\"layers\":[]}");
    private readonly MemoryContentStore _store = new();
    private readonly byte[] _blob = Encoding.UTF8.GetBytes("a layer");
    private Digest _blobDigest;
    private Digest _manifestDigest;

    public Task InitializeAsync()
    {
        _blobDigest = _store.Add(_blob);
        _manifestDigest = _store.AddImage("docker.io/library/app:latest", Manifest, MediaTypes.OciManifest);
        _store.AddImage("docker.io/library/app:1", Manifest, MediaTypes.OciManifest);
        _store.AddImage("ghcr.io/org/tool:1", Manifest, MediaTypes.OciManifest);
        return Task.CompletedTask;
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task ALatestFilterAnswers404ForTheLatestTagHeldLocallyAndServesEverythingElse()
    {
        await using var server = await StartAsync(filters: [":latest$"]);
        var latest = await RawHttp.GetAsync(server.Port, "/v2/library/app/manifests/latest?ns=docker.io");
        Assert.Equal(404, latest.Status);
        Assert.Contains("MANIFEST_UNKNOWN", Encoding.UTF8.GetString(latest.Body), StringComparison.Ordinal);
        Assert.Equal(404, (await RawHttp.GetAsync(server.Port, "/v2/library/app/manifests/latest?ns=docker.io", "HEAD")).Status);

        Assert.Equal(200, (await RawHttp.GetAsync(server.Port, "/v2/library/app/manifests/1?ns=docker.io")).Status);
        Assert.Equal(200, (await RawHttp.GetAsync(server.Port, $"/v2/library/app/manifests/{_manifestDigest}?ns=docker.io")).Status);
        Assert.Equal(200, (await RawHttp.GetAsync(server.Port, $"/v2/library/app/blobs/{_blobDigest}?ns=docker.io")).Status);
    }

    [Fact]
    public async Task DigestRequestsAreMatchedAsRegistrySlashRepositoryWithoutTag()
    {
        await using var server = await StartAsync(filters: [@"^docker\.io/library/app$"]);
        Assert.Equal(404, (await RawHttp.GetAsync(server.Port, $"/v2/library/app/manifests/{_manifestDigest}?ns=docker.io")).Status);
        var blob = await RawHttp.GetAsync(server.Port, $"/v2/library/app/blobs/{_blobDigest}?ns=docker.io");
        Assert.Equal(404, blob.Status);
        Assert.Contains("BLOB_UNKNOWN", Encoding.UTF8.GetString(blob.Body), StringComparison.Ordinal);

        // The anchored pattern does not match "docker.io/library/app:1", nor another repository's digest request.
        Assert.Equal(200, (await RawHttp.GetAsync(server.Port, "/v2/library/app/manifests/1?ns=docker.io")).Status);
        Assert.Equal(200, (await RawHttp.GetAsync(server.Port, $"/v2/library/other/blobs/{_blobDigest}?ns=docker.io")).Status);

        // Without ns the subject is "/library/app" (Spegel's filter over an empty registry): not matched here.
        Assert.Equal(200, (await RawHttp.GetAsync(server.Port, $"/v2/library/app/blobs/{_blobDigest}")).Status);
    }

    [Fact]
    public async Task MirroredRegistriesLimitWhatIsAnsweredLocally()
    {
        await using var server = await StartAsync(mirrored: ["https://docker.io"]);
        Assert.Equal(200, (await RawHttp.GetAsync(server.Port, "/v2/library/app/manifests/1?ns=docker.io")).Status);
        Assert.Equal(200, (await RawHttp.GetAsync(server.Port, $"/v2/library/app/blobs/{_blobDigest}?ns=docker.io")).Status);
        Assert.Equal(404, (await RawHttp.GetAsync(server.Port, "/v2/org/tool/manifests/1?ns=ghcr.io")).Status);
        Assert.Equal(404, (await RawHttp.GetAsync(server.Port, $"/v2/org/tool/blobs/{_blobDigest}?ns=ghcr.io")).Status);

        // No ns: not a mirrored registry (Spegel answers every request without ns 404).
        Assert.Equal(404, (await RawHttp.GetAsync(server.Port, $"/v2/library/app/blobs/{_blobDigest}")).Status);
    }

    [Fact]
    public async Task AWildcardOrEmptyListFiltersNothing()
    {
        await using var wildcard = await StartAsync(mirrored: ["_default"]);
        Assert.Equal(200, (await RawHttp.GetAsync(wildcard.Port, "/v2/org/tool/manifests/1?ns=ghcr.io")).Status);
        Assert.Equal(200, (await RawHttp.GetAsync(wildcard.Port, $"/v2/library/app/blobs/{_blobDigest}")).Status);
    }

    [Fact]
    public async Task PeersAskingForAFilteredReferenceGet404Too()
    {
        await using var server = await StartAsync(filters: [":latest$"]);
        var response = await RawHttp.GetAsync(server.Port, "/v2/library/app/manifests/latest?ns=docker.io", "GET", "X-Spegel-Mirrored: true\r\n");
        Assert.Equal(404, response.Status);
    }

    [Fact]
    public async Task ResolveLatestTagFalseStillServesALocalLatest()
    {
        // Spegel v0.3's --resolve-latest-tag=false only stopped looking up "latest" at peers.
        await using var server = await StartAsync(resolveLatestTag: false);
        Assert.Equal(200, (await RawHttp.GetAsync(server.Port, "/v2/library/app/manifests/latest?ns=docker.io")).Status);
    }

    private Task<RegistryServer> StartAsync(string[]? filters = null, string[]? mirrored = null, bool resolveLatestTag = true)
    {
        var registries = (mirrored ?? []).Select(m =>
        {
            Assert.True(RegistryUrl.TryParse(m, allowWildcard: true, out var url, out string? error), error);
            return url!;
        }).ToList();
        var policy = new ContentPolicy(registries, (filters ?? []).Select(f => new Regex(f, RegexOptions.None, TimeSpan.FromSeconds(1))).ToList(), resolveLatestTag);
        return RegistryServer.StartAsync(_store, policy: policy);
    }
}
