using System.Net;
using System.Net.Http.Headers;
using Spegel.Oci;
using Spegel.Routing;

namespace Spegel.Mirroring;

/// <summary>
/// What to ask peers for: built from the validated <see cref="DistributionRequest"/>, never from the server's decoded
/// path, so the request a peer sees is exactly the one this node checked.
/// </summary>
internal sealed record PeerRequest(DistributionRequest Distribution, bool Head, string? Range, IReadOnlyList<string> Accept)
{
    public string Key => Distribution.Key;

    /// <summary>
    /// <c>/v2/&lt;name&gt;/manifests|blobs/&lt;reference&gt;?ns=&lt;registry&gt;</c>. Names, tags and digests passed the
    /// strict grammar and need no escaping in a path (':' is a path character); <c>ns</c> is escaped as containerd does.
    /// </summary>
    public string PathAndQuery
    {
        get
        {
            var d = Distribution;
            string kind = d.Kind == DistributionKind.Manifest ? "manifests" : "blobs";
            string reference = d.Digest?.ToString() ?? d.Tag!;
            string path = $"/v2/{d.Name}/{kind}/{reference}";
            return d.Registry is { } registry ? $"{path}?ns={Uri.EscapeDataString(registry)}" : path;
        }
    }

    /// <summary>A blob GET, the only answer that is streamed (and resumed, and verified when whole).</summary>
    public bool IsBlobStream => !Head && Distribution.Kind == DistributionKind.Blob;

    /// <summary>
    /// Whether peers are asked with HEAD: only for a blob's HEAD. A manifest is always fetched whole, so that HEAD and
    /// GET are verified alike (a HEAD answer carries no bytes to check its digest against).
    /// </summary>
    public bool AsksHead => Head && Distribution.Kind == DistributionKind.Blob;

    /// <summary>The client asked for the whole content (no Range): only a 200 answers that.</summary>
    public bool IsWhole => string.IsNullOrEmpty(Range);
}

/// <summary>A peer's first good answer: 200, 206 or 416 (the blob exists, the range is wrong).</summary>
internal readonly record struct PeerAnswer(HttpResponseMessage Response, RoutedPeer Peer, int Attempts);

/// <summary>The headers of a peer's answer that are passed on to our client.</summary>
internal sealed record PeerHeaders(int Status, string? ContentType, long? ContentLength, string? ContentRange, string? DockerContentDigest, string? AcceptRanges, string? ApiVersion)
{
    public static PeerHeaders From(HttpResponseMessage response, long? contentLength) => new(
        (int)response.StatusCode,
        response.Content.Headers.ContentType?.ToString(),
        contentLength,
        response.Content.Headers.ContentRange?.ToString(),
        First(response, "Docker-Content-Digest"),
        First(response, "Accept-Ranges"),
        First(response, "Docker-Distribution-API-Version"));

    /// <summary>The byte span of an answer: a 206's Content-Range, or a 200's Content-Length.</summary>
    public static bool TryGetSpan(HttpResponseMessage response, out long start, out long end, out long? total)
    {
        start = 0;
        end = -1;
        total = null;
        if (response.StatusCode == HttpStatusCode.PartialContent)
        {
            ContentRangeHeaderValue? range = response.Content.Headers.ContentRange;
            if (range is not { HasRange: true, From: { } from, To: { } to } || to < from)
            {
                return false;
            }

            start = from;
            end = to;
            total = range.Length;
            return response.Content.Headers.ContentLength is null || response.Content.Headers.ContentLength == end - start + 1;
        }

        if (response.StatusCode == HttpStatusCode.OK && response.Content.Headers.ContentLength is { } length)
        {
            end = length - 1;
            total = length;
            return true;
        }

        return false;
    }

    /// <summary>The first value of a response or content header, or null.</summary>
    public static string? First(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values) ? values.FirstOrDefault() : null;
}
