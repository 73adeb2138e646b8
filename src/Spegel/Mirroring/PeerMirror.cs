using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Spegel.Oci;
using Spegel.Routing;
using Spegel.Telemetry;

namespace Spegel.Mirroring;

/// <summary>
/// Fetches what this node lacks from the peers that have it (SPEC §3.1), and returns it to the registry, which alone
/// writes the response:
/// <list type="number">
/// <item>peers come from the lookup cache as they are found (at most the resolve timeout between two), or from the
/// caller (the leaders of a coalesced pull);</item>
/// <item><see cref="PeerClient"/> asks them, hedged, at most <c>--mirror-resolve-retries</c> of them;</item>
/// <item>a manifest is fetched whole for HEAD and GET alike and checked before a byte is sent
/// (<see cref="PeerFetch.Whole"/>): by digest, against the digest; by tag, by agreement of
/// <see cref="MirrorOptions.TagConfirmations"/> independent peers (<see cref="TagAgreement"/>);</item>
/// <item>a blob HEAD passes the peer's headers, named with the digest asked for;</item>
/// <item>a blob GET becomes a <see cref="VerifiedBlobRelay"/> (<see cref="PeerFetch.Stream"/>): resumed across peers,
/// verified when whole.</item>
/// </list>
/// What the client asked for decides what is accepted: a request without a Range is answered 200 or not at all (a
/// peer's 206 or 416 to it is refused: it would bypass the whole-blob digest check).
/// </summary>
internal sealed partial class PeerMirror(LookupCache lookups, PeerClient client, MirrorOptions options, MirrorStats stats, ILogger<PeerMirror> logger, Refusals refusals, ChunkGrid grid)
{
    /// <summary>The mirror over <paramref name="router"/>'s lookups, asking peers with <paramref name="http"/>.</summary>
    public static PeerMirror Create(IRouter router, HttpClient http, MirrorOptions options, MirrorStats stats, ILoggerFactory? loggers = null, Refusals? refusals = null)
    {
        loggers ??= Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
        return new PeerMirror(
            new LookupCache(router, options, stats.Instruments), new PeerClient(http, options, stats, loggers.CreateLogger<PeerClient>()), options, stats, loggers.CreateLogger<PeerMirror>(),
            refusals ?? new Refusals(stats.Instruments, loggers.CreateLogger<Refusals>(), options.Time), new ChunkGrid(options.Time));
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
        // A range of a blob GET is striped: its chunk's peers first (see ChunkGrid); anything else asks in lookup order.
        long? start = request.IsBlobStream && peers is null ? ChunkGrid.RangeStart(request.Range, out _) : null;
        if (start is { } first)
        {
            grid.Observe(request.Distribution.Digest!.Value.ToString(), first);
        }

        // A peer with no address cannot be asked (the routers never yield one; a caller's list is checked all the same).
        var candidates = (peers?.Where(p => p.Addresses.Count > 0) ?? (start is { } at ? StripedPeers(request, at, cancellationToken) : lookups.PeersAsync(request.Key, options.ResolveRetries, cancellationToken)))
            .GetAsyncEnumerator(cancellationToken);
        PeerFetch? fetch = null;
        try
        {
            fetch = request.Distribution.Kind == DistributionKind.Manifest
                ? await FetchManifestAsync(request, candidates, cancellationToken).ConfigureAwait(false)
                : request.IsBlobStream
                    ? await FetchStreamAsync(request, candidates, start is not null, cancellationToken).ConfigureAwait(false)
                    : await FetchBlobHeadAsync(request, candidates, cancellationToken).ConfigureAwait(false);
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

    /// <summary>
    /// HEAD or GET of a manifest: fetched whole (≤ 4 MiB) and checked before anything is sent. By digest the bytes must
    /// hash to it; by tag, <see cref="MirrorOptions.TagConfirmations"/> peers with no address in common must answer
    /// the same bytes, and a peer's <c>Docker-Content-Digest</c> must name what it sent. The answer is named with the
    /// verified digest and the media type sniffed from the bytes, as a local manifest is.
    /// </summary>
    private async Task<PeerFetch?> FetchManifestAsync(PeerRequest request, IAsyncEnumerator<RoutedPeer> peers, CancellationToken cancellationToken)
    {
        bool byTag = request.Distribution.Digest is null;
        var agreement = byTag ? new TagAgreement(options.TagConfirmations) : null;
        await using var independent = byTag ? TagAgreement.Independent(peers, cancellationToken).GetAsyncEnumerator(cancellationToken) : null;
        var candidates = independent ?? peers;
        int budget = byTag ? Math.Max(options.ResolveRetries, options.TagConfirmations) : options.ResolveRetries;
        while (budget > 0)
        {
            var answer = await client.FirstAnswerAsync(request, candidates, null, options.HeaderTimeout, budget, cancellationToken).ConfigureAwait(false);
            if (answer is not { } found)
            {
                break;
            }

            budget -= found.Attempts;
            using var response = found.Response;
            if (response.StatusCode != HttpStatusCode.OK)
            {
                // A Range was never sent for a manifest: a 206 or 416 answers something else.
                refusals.Refuse(RefusalReason.PartialForWhole, $"peer {found.Peer.Id} answered {(int)response.StatusCode} for manifest {request.Key}");
                client.Failed(found.Peer, request.Key, $"answered {(int)response.StatusCode} for a whole manifest");
                continue;
            }

            if (await ReadBodyAsync(found, request, cancellationToken).ConfigureAwait(false) is not { } body)
            {
                continue;
            }

            if (Verify(request, found.Peer, response, body) is not { } digest)
            {
                continue;
            }

            if (agreement is not null && !agreement.Add(digest))
            {
                continue; // not confirmed yet: ask the next independent peer
            }

            stats.AddBytes(body.Length);
            var headers = PeerHeaders.From(response, body.Length) with
            {
                DockerContentDigest = digest.ToString(),
                ContentType = MediaTypes.Fingerprint(body) ?? response.Content.Headers.ContentType?.ToString(),
            };
            return new PeerFetch.Whole(found.Peer, headers, request.Head ? null : body);
        }

        if (agreement is not null)
        {
            refusals.Refuse(
                agreement.Disagreement ? RefusalReason.TagDisagreement : RefusalReason.TagUnconfirmed,
                $"tag {request.Key}: {agreement.Answers} independent peers answered, {options.TagConfirmations} must agree; containerd resolves it upstream");
        }

        return null;
    }

    /// <summary>
    /// The digest of a manifest answer, or null when it is refused: by digest, the bytes must hash to the digest asked
    /// for; by tag, the digest is the bytes' own, and a <c>Docker-Content-Digest</c> the peer sent must name the same.
    /// </summary>
    private Digest? Verify(PeerRequest request, RoutedPeer peer, HttpResponseMessage response, byte[] body)
    {
        if (request.Distribution.Digest is { } asked)
        {
            if (asked.MatchesContent(body))
            {
                return asked;
            }

            stats.DigestMismatch();
            client.Failed(peer, request.Key, "manifest does not match its digest");
            return null;
        }

        string? named = PeerHeaders.First(response, "Docker-Content-Digest");
        if (named is null)
        {
            return Digest.Sha256(SHA256.HashData(body));
        }

        if (Digest.TryParse(named, out var digest, out _) && digest.MatchesContent(body))
        {
            return digest;
        }

        stats.DigestMismatch();
        refusals.Refuse(RefusalReason.DigestHeaderMismatch, $"peer {peer.Id} answered tag {request.Key} with bytes that are not {named}");
        client.Failed(peer, request.Key, "manifest does not match the digest the peer named");
        return null;
    }

    /// <summary>HEAD of a blob: the first peer's headers, for the span asked for, named with the digest asked for.</summary>
    private async Task<PeerFetch?> FetchBlobHeadAsync(PeerRequest request, IAsyncEnumerator<RoutedPeer> peers, CancellationToken cancellationToken)
    {
        var asked = request.Distribution.Digest!.Value;
        int budget = options.ResolveRetries;
        while (budget > 0)
        {
            var answer = await client.FirstAnswerAsync(request, peers, request.Range, options.HeaderTimeout, budget, cancellationToken).ConfigureAwait(false);
            if (answer is not { } found)
            {
                return null;
            }

            budget -= found.Attempts;
            using var response = found.Response;
            if (!AnswersWhatWasAsked(request, found, "HEAD"))
            {
                continue;
            }

            string? named = PeerHeaders.First(response, "Docker-Content-Digest");
            if (named is not null && named != asked.ToString())
            {
                refusals.Refuse(RefusalReason.DigestHeaderMismatch, $"peer {found.Peer.Id} named {named} for blob {asked}");
                client.Failed(found.Peer, request.Key, "named another digest");
                continue;
            }

            var headers = PeerHeaders.From(response, response.Content.Headers.ContentLength) with { DockerContentDigest = asked.ToString() };
            return new PeerFetch.Whole(found.Peer, headers, null);
        }

        return null;
    }

    /// <summary>The peers of a ranged request in the stripe order of the chunk at <paramref name="start"/>.</summary>
    private IAsyncEnumerable<RoutedPeer> StripedPeers(PeerRequest request, long start, CancellationToken cancellationToken)
    {
        string blob = request.Distribution.Digest!.Value.ToString();
        ulong stripe = ChunkGrid.StripeIndex(start, grid.Grid(blob));
        return lookups.PeersAsync(request.Key, options.ResolveRetries, cancellationToken, known => ChunkGrid.StripeOrder(known, p => p.Id, blob, stripe));
    }

    /// <summary>GET of a blob: the first peer to answer what was asked, as a relay that resumes from the others.</summary>
    private async Task<PeerFetch?> FetchStreamAsync(PeerRequest request, IAsyncEnumerator<RoutedPeer> peers, bool striped, CancellationToken cancellationToken)
    {
        // An open-ended range is asked of peers a window at a time (RangeWindows): a client that reads one chunk and
        // closes (containerd 2.1) must not leave peers sending the rest of the blob.
        long openStart = -1;
        RangeWindows? windows = null;
        if (striped && ChunkGrid.RangeStart(request.Range, out bool openEnded) is { } rangeStart && openEnded)
        {
            openStart = rangeStart;
            windows = new RangeWindows(
                grid, request.Distribution.Digest!.Value.ToString(), options.RangeWindow,
                at => StripedPeers(request, at, cancellationToken).GetAsyncEnumerator(cancellationToken));
        }

        long windowEnd = windows?.EndOf(openStart, long.MaxValue) ?? -1;
        string? asked = windows is null ? request.Range : $"bytes={openStart}-{windowEnd}";
        int budget = options.ResolveRetries;
        while (budget > 0)
        {
            var answer = await client.FirstAnswerAsync(request, peers, asked, options.BlobHeaderTimeout, budget, cancellationToken).ConfigureAwait(false);
            if (answer is not { } found)
            {
                return null;
            }

            budget -= found.Attempts;
            var response = found.Response;
            if (!AnswersWhatWasAsked(request, found, "GET"))
            {
                response.Dispose();
                continue;
            }

            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            {
                // The blob exists; the range asked for is wrong: pass the peer's answer on.
                using (response)
                {
                    if (await ReadBodyAsync(found, request, cancellationToken).ConfigureAwait(false) is not { } error)
                    {
                        continue; // stalled, reset or too large: the next peer
                    }

                    return new PeerFetch.Whole(found.Peer, PeerHeaders.From(response, error.Length), error);
                }
            }

            if (!PeerHeaders.TryGetSpan(response, out long start, out long end, out long? total))
            {
                client.Failed(found.Peer, request.Key, "answer without a usable Content-Length or Content-Range");
                response.Dispose();
                continue;
            }

            if (windows is not null && response.StatusCode == HttpStatusCode.PartialContent)
            {
                // The window's answer must be exactly the window (clipped at the blob's end), with the blob's size: the
                // client is promised the rest of the blob, which later windows must add up to.
                if (start != openStart || total is not { } size || end != Math.Min(windowEnd, size - 1))
                {
                    client.Failed(found.Peer, request.Key, "window answer does not match the requested range");
                    response.Dispose();
                    continue;
                }

                return new PeerFetch.Stream(new VerifiedBlobRelay(client, request, peers, found, (start, size - 1, size), budget, options, stats, logger, windows, end));
            }

            return new PeerFetch.Stream(new VerifiedBlobRelay(client, request, peers, found, (start, end, total), budget, options, stats, logger));
        }

        return null;
    }

    /// <summary>
    /// A request for the whole blob is answered 200 and nothing else: a 206 (even of every byte) or a 416 would be
    /// passed on unverified, since only a whole answer is hashed. Refused here, counted and logged; the next peer is asked.
    /// </summary>
    private bool AnswersWhatWasAsked(PeerRequest request, PeerAnswer answer, string method)
    {
        if (!request.IsWhole || answer.Response.StatusCode == HttpStatusCode.OK)
        {
            return true;
        }

        int status = (int)answer.Response.StatusCode;
        refusals.Refuse(RefusalReason.PartialForWhole, $"peer {answer.Peer.Id} answered {status} to a {method} of the whole of {request.Key}");
        client.Failed(answer.Peer, request.Key, $"answered {status} for the whole blob");
        return false;
    }

    /// <summary>
    /// A small answer's body (a manifest, a 416's error), within the header timeout; null when the peer stalls, resets or
    /// sends more than 4 MiB (the peer is marked failed: the caller asks the next one).
    /// </summary>
    private async Task<byte[]?> ReadBodyAsync(PeerAnswer found, PeerRequest request, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.HeaderTimeout);
            return await ReadSmallAsync(found.Response, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or InvalidDataException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            client.Failed(found.Peer, request.Key, ex.Message);
            return null;
        }
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
}
