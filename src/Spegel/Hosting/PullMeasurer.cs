using System.Diagnostics;
using System.Net.Http.Headers;
using Spegel.Oci;
using Spegel.Routing;

namespace Spegel.Hosting;

/// <summary>One blob of a measured pull.</summary>
internal sealed record MeasuredBlob(string Kind, string Digest, long Bytes, int Status, TimeSpan Duration, int Peers, TimeSpan? FirstPeer);

/// <summary>
/// "Measure image pull" of the debug page: resolves an image's peers and pulls it through the local instance, as
/// containerd would (manifest, the linux/amd64 manifest of an index, config, layers), timing every blob. The image
/// reference and every digest read from a manifest are validated before they become a URL path
/// (<see cref="MeasureTarget"/>, <see cref="MeasuredManifest"/>); a failure names what was wrong and never quotes
/// fetched bytes (<see cref="MeasureFailedException"/>).
/// </summary>
internal sealed class PullMeasurer(HttpClient http, Uri localRegistry, IRouter router, string? authorization)
{
    private const string Accept = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

    public async Task<IReadOnlyList<MeasuredBlob>> MeasureAsync(string image, CancellationToken cancellationToken)
    {
        var target = MeasureTarget.Parse(image);
        var result = new List<MeasuredBlob>();
        var (isIndex, manifest) = await GetManifestAsync(target, target.Reference, target.Key, target.Digest, result, cancellationToken).ConfigureAwait(false);
        try
        {
            if (isIndex)
            {
                var chosen = MeasuredManifest.ChoosePlatform(manifest.RootElement);
                manifest.Dispose();
                (isIndex, manifest) = await GetManifestAsync(target, chosen.ToString(), chosen.ToString(), chosen, result, cancellationToken).ConfigureAwait(false);
                if (isIndex)
                {
                    throw new MeasureFailedException("the index's platform entry is another index, not an image manifest");
                }
            }

            foreach (var (kind, digest) in MeasuredManifest.Blobs(manifest.RootElement))
            {
                result.Add(await GetBlobAsync(target, kind, digest, cancellationToken).ConfigureAwait(false));
            }
        }
        finally
        {
            manifest.Dispose();
        }

        return result;
    }

    private async Task<MeasuredBlob> GetBlobAsync(MeasureTarget target, string kind, Digest digest, CancellationToken cancellationToken)
    {
        var (peers, firstPeer) = await LookupAsync(digest.ToString(), cancellationToken).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        using var response = await SendAsync($"/v2/{target.Name.Repository}/blobs/{digest}", target, cancellationToken).ConfigureAwait(false);
        long bytes = 0;
        if (response.IsSuccessStatusCode)
        {
            // Counted, never kept: the page shows sizes and times, no content.
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            byte[] buffer = new byte[64 * 1024];
            int n;
            while ((n = await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                bytes += n;
            }
        }

        return new MeasuredBlob(kind, digest.ToString(), bytes, (int)response.StatusCode, clock.Elapsed, peers, firstPeer);
    }

    private async Task<(bool IsIndex, System.Text.Json.JsonDocument Manifest)> GetManifestAsync(MeasureTarget target, string reference, string key, Digest? digest, List<MeasuredBlob> result, CancellationToken cancellationToken)
    {
        var (peers, firstPeer) = await LookupAsync(key, cancellationToken).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        using var response = await SendAsync($"/v2/{target.Name.Repository}/manifests/{reference}", target, cancellationToken).ConfigureAwait(false);
        byte[] body = response.IsSuccessStatusCode ? await ReadManifestAsync(response, cancellationToken).ConfigureAwait(false) : [];
        // The digest shown is the one asked for, or the hash of what came: never the answer's header.
        string shown = digest?.ToString() ?? Digest.Sha256(System.Security.Cryptography.SHA256.HashData(body)).ToString();
        result.Add(new MeasuredBlob("manifest", shown, body.Length, (int)response.StatusCode, clock.Elapsed, peers, firstPeer));
        if (!response.IsSuccessStatusCode)
        {
            throw new MeasureFailedException($"the manifest {reference} is not available from this node: HTTP {(int)response.StatusCode}");
        }

        if (digest is { } expected && !expected.MatchesContent(body))
        {
            throw new MeasureFailedException($"the manifest fetched as {reference} does not match that digest");
        }

        var document = MeasuredManifest.Parse(body);
        try
        {
            return (MeasuredManifest.IsIndex(response.Content.Headers.ContentType?.MediaType, document.RootElement), document);
        }
        catch
        {
            document.Dispose();
            throw;
        }
    }

    /// <summary>The manifest's bytes, refused beyond <see cref="MediaTypes.MaxManifestBytes"/> whatever the answer's length says.</summary>
    private static async Task<byte[]> ReadManifestAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        const int max = MediaTypes.MaxManifestBytes;
        string tooLarge = $"the manifest is larger than {max / 1024 / 1024} MiB";
        if (response.Content.Headers.ContentLength > max)
        {
            throw new MeasureFailedException(tooLarge);
        }

        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[16 * 1024];
        int n;
        while ((n = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > max)
            {
                throw new MeasureFailedException(tooLarge);
            }

            buffer.Write(chunk, 0, n);
        }

        return buffer.ToArray();
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

    /// <summary>A GET to the local instance. Every part of <paramref name="path"/> was validated by the caller.</summary>
    private async Task<HttpResponseMessage> SendAsync(string path, MeasureTarget target, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(localRegistry, $"{path}?ns={Uri.EscapeDataString(target.Name.Registry)}"));
        request.Headers.Accept.ParseAdd(Accept);
        if (authorization is not null)
        {
            request.Headers.Authorization = AuthenticationHeaderValue.Parse(authorization);
        }

        try
        {
            return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException)
        {
            throw new MeasureFailedException("the local registry could not be reached");
        }
    }
}
