using System.Net;
using Microsoft.Extensions.Logging;
using Spegel.Oci;
using Spegel.Routing;

namespace Spegel.Mirroring;

/// <summary>
/// Fetches what this node lacks from the peers that have it (SPEC §3.1), and returns it to the registry, which alone
/// writes the response:
/// <list type="number">
/// <item>peers come from the lookup cache as they are found (at most the resolve timeout between two), or from the
/// caller (the leaders of a coalesced pull);</item>
/// <item><see cref="PeerClient"/> asks them, hedged, at most <c>--mirror-resolve-retries</c> of them;</item>
/// <item>HEAD answers pass their headers; manifests are read whole and checked against their digest before a byte is
/// sent (<see cref="PeerFetch.Whole"/>);</item>
/// <item>a blob GET becomes a <see cref="VerifiedBlobRelay"/> (<see cref="PeerFetch.Stream"/>): resumed across peers,
/// verified when whole.</item>
/// </list>
/// </summary>
internal sealed partial class PeerMirror(LookupCache lookups, PeerClient client, MirrorOptions options, MirrorStats stats, ILogger<PeerMirror> logger)
{
    /// <summary>The mirror over <paramref name="router"/>'s lookups, asking peers with <paramref name="http"/>.</summary>
    public static PeerMirror Create(IRouter router, HttpClient http, MirrorOptions options, MirrorStats stats, ILoggerFactory? loggers = null)
    {
        loggers ??= Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
        return new PeerMirror(
            new LookupCache(router, options, stats.Instruments), new PeerClient(http, options, stats, loggers.CreateLogger<PeerClient>()), options, stats, loggers.CreateLogger<PeerMirror>());
    }

    /// <summary>
    /// Whether <paramref name="client"/> may have <paramref name="request"/> looked up now (<see cref="LookupCache.Admit"/>):
    /// asked before <see cref="FetchAsync"/> for a request from a client, so a flood of misses is refused before it
    /// reaches the DHT.
    /// </summary>
    public LookupAdmission Admit(IPAddress? client, PeerRequest request) => lookups.Admit(client, request.Key, options.ResolveRetries);

    /// <summary>What peers have for <paramref name="request"/>; null when none of them could answer.</summary>
    /// <param name="peers">Whom to ask; null: the peers the DHT knows for the key.</param>
    public async Task<PeerFetch?> FetchAsync(PeerRequest request, IAsyncEnumerable<RoutedPeer>? peers, CancellationToken cancellationToken)
    {
        var candidates = (peers ?? lookups.PeersAsync(request.Key, options.ResolveRetries, cancellationToken)).GetAsyncEnumerator(cancellationToken);
        PeerFetch? fetch = null;
        try
        {
            fetch = request.IsBlobStream
                ? await FetchStreamAsync(request, candidates, cancellationToken).ConfigureAwait(false)
                : await FetchWholeAsync(request, candidates, cancellationToken).ConfigureAwait(false);
            return fetch;
        }
        finally
        {
            if (fetch is not PeerFetch.Stream)
            {
                await candidates.DisposeAsync().ConfigureAwait(false); // a relay owns its peers for resuming
            }
        }
    }

    /// <summary>HEAD requests and manifests: small answers, checked completely before anything is sent.</summary>
    private async Task<PeerFetch?> FetchWholeAsync(PeerRequest request, IAsyncEnumerator<RoutedPeer> peers, CancellationToken cancellationToken)
    {
        int budget = options.ResolveRetries;
        string? range = request.Head && request.Distribution.Kind == DistributionKind.Blob ? request.Range : null;
        while (budget > 0)
        {
            var answer = await client.FirstAnswerAsync(request, peers, range, options.HeaderTimeout, budget, cancellationToken).ConfigureAwait(false);
            if (answer is not { } found)
            {
                return null;
            }

            budget -= found.Attempts;
            using var response = found.Response;
            if (request.Head)
            {
                return new PeerFetch.Whole(found.Peer, PeerHeaders.From(response, response.Content.Headers.ContentLength), null);
            }

            byte[] body;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(options.HeaderTimeout);
                body = await ReadSmallAsync(response, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException or InvalidDataException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                client.Failed(found.Peer, request.Key, ex.Message);
                continue;
            }

            if (!MatchesDigest(request.Distribution, response, body))
            {
                stats.DigestMismatch();
                client.Failed(found.Peer, request.Key, "manifest does not match its digest");
                continue;
            }

            stats.AddBytes(body.Length);
            return new PeerFetch.Whole(found.Peer, PeerHeaders.From(response, body.Length), body);
        }

        return null;
    }

    /// <summary>GET of a blob: the first peer to answer, as a relay that resumes from the others.</summary>
    private async Task<PeerFetch?> FetchStreamAsync(PeerRequest request, IAsyncEnumerator<RoutedPeer> peers, CancellationToken cancellationToken)
    {
        var answer = await client.FirstAnswerAsync(request, peers, request.Range, options.BlobHeaderTimeout, options.ResolveRetries, cancellationToken).ConfigureAwait(false);
        if (answer is not { } found)
        {
            return null;
        }

        var response = found.Response;
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            // The blob exists; the range is wrong: pass the peer's answer on.
            using (response)
            {
                byte[] error = await ReadSmallAsync(response, cancellationToken).ConfigureAwait(false);
                return new PeerFetch.Whole(found.Peer, PeerHeaders.From(response, error.Length), error);
            }
        }

        if (!PeerHeaders.TryGetSpan(response, out long start, out long end, out long? total))
        {
            client.Failed(found.Peer, request.Key, "answer without a usable Content-Length or Content-Range");
            response.Dispose();
            return null;
        }

        return new PeerFetch.Stream(new VerifiedBlobRelay(
            client, request, peers, found, (start, end, total), options.ResolveRetries - found.Attempts, options, stats, logger));
    }

    private static async Task<byte[]> ReadSmallAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength > MediaTypes.MaxManifestBytes)
        {
            throw new InvalidDataException("manifest larger than 4 MiB");
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new MemoryStream();
        byte[] chunk = new byte[16 * 1024];
        int n;
        while ((n = await body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            buffer.Write(chunk, 0, n);
            if (buffer.Length > MediaTypes.MaxManifestBytes)
            {
                throw new InvalidDataException("manifest larger than 4 MiB");
            }
        }

        if (response.Content.Headers.ContentLength is { } length && length != buffer.Length)
        {
            throw new InvalidDataException($"manifest body of {buffer.Length} bytes, {length} announced");
        }

        return buffer.ToArray();
    }

    /// <summary>By digest: the body must hash to it. By tag: to the digest the peer names, when it names one.</summary>
    private static bool MatchesDigest(DistributionRequest request, HttpResponseMessage response, byte[] body)
    {
        Digest? expected = request.Digest;
        if (expected is null && response.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault(), out var named, out _))
        {
            expected = named;
        }

        return expected is not { } digest || digest.MatchesContent(body);
    }
}
