using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Spegel.Oci;
using Spegel.Routing;

namespace Spegel.Hosting;

/// <summary>One blob of a measured pull.</summary>
internal sealed record MeasuredBlob(string Kind, string Digest, long Bytes, int Status, TimeSpan Duration, int Peers, TimeSpan? FirstPeer);

/// <summary>
/// "Measure image pull" of the debug page: resolves an image's peers and pulls it through the local instance, as
/// containerd would (manifest, the linux/amd64 manifest of an index, config, layers), timing every blob.
/// </summary>
internal sealed class PullMeasurer(HttpClient http, Uri localRegistry, IRouter router, string? authorization)
{
    private const string Accept = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

    public async Task<IReadOnlyList<MeasuredBlob>> MeasureAsync(string image, CancellationToken cancellationToken)
    {
        var name = ImageName.TryParse(image) ?? throw new ArgumentException($"'{image}' is not an image reference such as docker.io/library/nginx:1.27");
        string reference = name.Digest ?? name.Tag ?? throw new ArgumentException("the image needs a tag or a digest");
        var result = new List<MeasuredBlob>();
        byte[] manifest = await GetManifestAsync(name, reference, result, cancellationToken).ConfigureAwait(false);
        using var document = JsonDocument.Parse(manifest);
        if (document.RootElement.TryGetProperty("manifests", out var manifests))
        {
            string? chosen = null;
            foreach (var entry in manifests.EnumerateArray())
            {
                chosen ??= entry.GetProperty("digest").GetString();
                if (entry.TryGetProperty("platform", out var platform) && platform.GetProperty("architecture").GetString() == "amd64" && platform.GetProperty("os").GetString() == "linux")
                {
                    chosen = entry.GetProperty("digest").GetString();
                    break;
                }
            }

            if (chosen is null)
            {
                return result;
            }

            manifest = await GetManifestAsync(name, chosen, result, cancellationToken).ConfigureAwait(false);
        }

        using var platformManifest = JsonDocument.Parse(manifest);
        var blobs = new List<(string Kind, string Digest)>();
        if (platformManifest.RootElement.TryGetProperty("config", out var config))
        {
            blobs.Add(("config", config.GetProperty("digest").GetString()!));
        }

        if (platformManifest.RootElement.TryGetProperty("layers", out var layers))
        {
            blobs.AddRange(layers.EnumerateArray().Select(l => ("layer", l.GetProperty("digest").GetString()!)));
        }

        foreach (var (kind, digest) in blobs)
        {
            var (peers, firstPeer) = await LookupAsync(digest, cancellationToken).ConfigureAwait(false);
            var clock = Stopwatch.StartNew();
            using var response = await SendAsync(HttpMethod.Get, $"/v2/{name.Repository}/blobs/{digest}?ns={name.Registry}", cancellationToken).ConfigureAwait(false);
            long bytes = 0;
            if (response.IsSuccessStatusCode)
            {
                await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                byte[] buffer = new byte[64 * 1024];
                int n;
                while ((n = await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    bytes += n;
                }
            }

            result.Add(new MeasuredBlob(kind, digest, bytes, (int)response.StatusCode, clock.Elapsed, peers, firstPeer));
        }

        return result;
    }

    private async Task<byte[]> GetManifestAsync(ImageName name, string reference, List<MeasuredBlob> result, CancellationToken cancellationToken)
    {
        string key = reference.Contains(':', StringComparison.Ordinal) ? reference : $"{name.Registry}/{name.Repository}:{reference}";
        var (peers, firstPeer) = await LookupAsync(key, cancellationToken).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        using var response = await SendAsync(HttpMethod.Get, $"/v2/{name.Repository}/manifests/{reference}?ns={name.Registry}", cancellationToken).ConfigureAwait(false);
        byte[] body = response.IsSuccessStatusCode ? await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false) : [];
        string digest = response.Headers.TryGetValues("Docker-Content-Digest", out var values) ? values.First() : reference;
        result.Add(new MeasuredBlob("manifest", digest, body.Length, (int)response.StatusCode, clock.Elapsed, peers, firstPeer));
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"the manifest {reference} is not available: {(int)response.StatusCode}", null, response.StatusCode);
        }

        return body;
    }

    /// <summary>Every peer the DHT finds for a key within a second, and how long the first took.</summary>
    private async Task<(int Peers, TimeSpan? First)> LookupAsync(string key, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(1));
        var clock = Stopwatch.StartNew();
        int peers = 0;
        TimeSpan? first = null;
        try
        {
            await foreach (var _ in router.LookupAsync(key, 0, timeout.Token).ConfigureAwait(false))
            {
                first ??= clock.Elapsed;
                peers++;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }

        return (peers, first);
    }

    private Task<HttpResponseMessage> SendAsync(HttpMethod method, string pathAndQuery, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(method, new Uri(localRegistry, pathAndQuery));
        request.Headers.Accept.ParseAdd(Accept);
        if (authorization is not null)
        {
            request.Headers.Authorization = AuthenticationHeaderValue.Parse(authorization);
        }

        return http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }
}
