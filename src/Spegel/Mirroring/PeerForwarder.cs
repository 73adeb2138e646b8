using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Spegel.Coalescing;
using Spegel.Oci;
using Spegel.Registry;
using Spegel.Routing;

namespace Spegel.Mirroring;

/// <summary>
/// Fetches what this node lacks from the peers that have it (SPEC §3.1). The one place for peer timeouts, hedging,
/// resuming and digest checks:
/// <list type="number">
/// <item>peers come from the lookup cache as they are found (at most the resolve timeout between two);</item>
/// <item>the request goes to <c>http://&lt;peer ip&gt;:&lt;our registry port&gt;</c> (a new connection tries every IP of the
/// peer, see <see cref="PeerDialer"/>) with <c>X-Spegel-Mirrored: true</c>
/// (the peer never forwards again); a peer slow to answer gets a hedge to the next one; a 404 or an error moves on at
/// once; at most <c>--mirror-resolve-retries</c> peers;</item>
/// <item>manifests are read whole and checked against their digest before a byte is sent; HEAD passes headers;</item>
/// <item>blobs stream through unchanged (206 stays 206) under a minimum-rate timeout; a peer that fails or stalls
/// mid-body is replaced by the next one with a Range request from the bytes already sent; a whole blob is hashed on
/// the way and its last chunk held back until the digest matches, so a corrupt or short body is never presented as
/// complete — the response is aborted instead.</item>
/// </list>
/// </summary>
internal sealed partial class PeerForwarder(
    LookupCache lookups,
    HttpClient http,
    MirrorOptions options,
    MirrorStats stats,
    ILogger<PeerForwarder> logger,
    PullCoalescer? coalescer = null)
{
    public const string MirroredHeader = "X-Spegel-Mirrored";

    /// <summary>On a peer's answer: the bytes come from a download still in progress there (see <see cref="PullCoalescer"/>).</summary>
    public const string InProgressHeader = "X-Spegel-In-Progress";
    private const int ChunkSize = 256 * 1024;

    /// <summary>Serves the request from a peer; false when no peer could (the caller answers 404).</summary>
    public async Task<bool> TryServeAsync(HttpContext context, DistributionRequest request)
    {
        bool head = HttpMethods.IsHead(context.Request.Method);
        bool served = head || request.Kind == DistributionKind.Manifest
            ? await ServeWholeAsync(context, request, head).ConfigureAwait(false)
            : await ServeBlobAsync(context, request).ConfigureAwait(false);
        if (served)
        {
            stats.Success(options.Time.GetUtcNow(), request.Registry ?? string.Empty);
        }
        else
        {
            stats.Miss(request.Registry ?? string.Empty);
        }

        return served;
    }

    /// <summary>HEAD requests and manifests: small answers, checked completely before anything is sent.</summary>
    private async Task<bool> ServeWholeAsync(HttpContext context, DistributionRequest request, bool head)
    {
        var cancellationToken = context.RequestAborted;
        await using var peers = lookups.PeersAsync(request.Key, options.ResolveRetries, cancellationToken).GetAsyncEnumerator(cancellationToken);
        int budget = options.ResolveRetries;
        string? range = head && request.Kind == DistributionKind.Blob ? context.Request.Headers.Range.ToString() : null;
        while (budget > 0)
        {
            var answer = await FirstAnswerAsync(context, request, peers, range, options.HeaderTimeout, budget, cancellationToken).ConfigureAwait(false);
            if (answer is null)
            {
                return false;
            }

            budget -= answer.Value.Attempts;
            using var response = answer.Value.Response;
            var peer = answer.Value.Peer;
            byte[] body = [];
            if (!head)
            {
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    timeout.CancelAfter(options.HeaderTimeout);
                    body = await ReadSmallAsync(response, timeout.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or HttpRequestException or InvalidDataException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    PeerFailed(peer, request, ex.Message);
                    continue;
                }

                if (!MatchesDigest(request, response, body))
                {
                    stats.DigestMismatch();
                    PeerFailed(peer, request, "manifest does not match its digest");
                    continue;
                }
            }

            var target = context.Response;
            target.StatusCode = (int)response.StatusCode;
            CopyHeaders(response, target);
            target.ContentLength = head ? response.Content.Headers.ContentLength : body.Length;
            context.Items[RequestLogItems.Source] = $"peer {PeerDialer.Preferred(peer.Addresses)}";
            if (!head)
            {
                stats.AddBytes(body.Length);
                await target.Body.WriteAsync(body, cancellationToken).ConfigureAwait(false);
            }

            return true;
        }

        return false;
    }

    /// <summary>GET of a blob: streamed, resumed across peers, verified when whole.</summary>
    private async Task<bool> ServeBlobAsync(HttpContext context, DistributionRequest request)
    {
        var cancellationToken = context.RequestAborted;
        var peers = lookups.PeersAsync(request.Key, options.ResolveRetries, cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            string clientRange = context.Request.Headers.Range.ToString();
            var answer = await FirstAnswerAsync(context, request, peers, clientRange, options.RateGracePeriod, options.ResolveRetries, cancellationToken).ConfigureAwait(false);
            if (answer is null && coalescer is not null && request.Digest is { } digest && clientRange.Length == 0)
            {
                // Nobody holds it: follow the node that is downloading it for the cluster, or lead (404 → upstream).
                var leaders = await coalescer.FindLeadersAsync(digest, cancellationToken).ConfigureAwait(false);
                if (leaders.Count > 0)
                {
                    await peers.DisposeAsync().ConfigureAwait(false);
                    peers = leaders.ToAsyncEnumerable().GetAsyncEnumerator(cancellationToken);
                    answer = await FirstAnswerAsync(context, request, peers, null, options.RateGracePeriod, options.ResolveRetries, cancellationToken).ConfigureAwait(false);
                }
            }

            return answer is not null && await RelayBlobAsync(context, request, peers, answer.Value, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await peers.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task<bool> RelayBlobAsync(
        HttpContext context,
        DistributionRequest request,
        IAsyncEnumerator<RoutedPeer> peers,
        (HttpResponseMessage Response, RoutedPeer Peer, int Attempts) answer,
        CancellationToken cancellationToken)
    {
        int budget = options.ResolveRetries - answer.Attempts;
        var current = answer.Response;
        var peer = answer.Peer;
        if (current.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            // The blob exists; the range is wrong: pass the peer's answer on.
            using (current)
            {
                context.Response.StatusCode = StatusCodes.Status416RangeNotSatisfiable;
                CopyHeaders(current, context.Response);
                byte[] error = await ReadSmallAsync(current, cancellationToken).ConfigureAwait(false);
                context.Response.ContentLength = error.Length;
                await context.Response.Body.WriteAsync(error, cancellationToken).ConfigureAwait(false);
                return true;
            }
        }

        if (!TryGetSpan(current, out long start, out long end, out long? total))
        {
            PeerFailed(peer, request, "answer without a usable Content-Length or Content-Range");
            current.Dispose();
            return false;
        }

        // Commit to the client: from here on, the only failure signal left is aborting the connection.
        var target = context.Response;
        target.StatusCode = (int)current.StatusCode;
        CopyHeaders(current, target);
        target.ContentLength = end - start + 1;
        context.Items[RequestLogItems.Source] = $"peer {PeerDialer.Preferred(peer.Addresses)}";

        bool verify = current.StatusCode == HttpStatusCode.OK;
        using var hash = verify ? IncrementalHash.CreateHash(request.Digest!.Value.Algorithm == "sha512" ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256) : null;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        byte[] held = ArrayPool<byte>.Shared.Rent(ChunkSize);
        int heldLength = 0;
        long sent = 0;
        long expected = end - start + 1;
        int resumes = 0;
        try
        {
            while (true)
            {
                string? failure = null;
                // A download in progress on the peer delivers at the upstream's pace: only a lack of any progress is a stall.
                bool inProgress = current.Headers.Contains(InProgressHeader);
                using (current)
                using (var monitor = inProgress
                    ? new TransferMonitor(1, options.InProgressStallLimit, options.Time, cancellationToken)
                    : new TransferMonitor(options.MinDataRate, options.RateGracePeriod, options.Time, cancellationToken))
                {
                    try
                    {
                        await using var body = await current.Content.ReadAsStreamAsync(monitor.Token).ConfigureAwait(false);
                        while (sent + heldLength < expected)
                        {
                            monitor.BeginRead();
                            int n = await body.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, expected - sent - heldLength)), monitor.Token).ConfigureAwait(false);
                            monitor.EndRead(n);
                            if (n == 0)
                            {
                                failure = $"body ended at {start + sent + heldLength} of {end + 1}";
                                break;
                            }

                            stats.AddBytes(n);
                            hash?.AppendData(buffer, 0, n);
                            if (verify)
                            {
                                // Hold the newest chunk back until the digest is known to match.
                                if (heldLength > 0)
                                {
                                    await target.Body.WriteAsync(held.AsMemory(0, heldLength), cancellationToken).ConfigureAwait(false);
                                    sent += heldLength;
                                }

                                (held, buffer) = (buffer, held);
                                heldLength = n;
                            }
                            else
                            {
                                await target.Body.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                                sent += n;
                            }
                        }
                    }
                    catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
                    {
                        failure = monitor.Stalled ? $"stalled below {options.MinDataRate} B/s" : ex.Message;
                    }
                }

                if (failure is null)
                {
                    if (hash is not null && !hash.GetHashAndReset().AsSpan().SequenceEqual(Convert.FromHexString(request.Digest!.Value.Hex)))
                    {
                        stats.DigestMismatch();
                        LogDigestMismatch(logger, request.Key, resumes);
                        context.Abort();
                        return true;
                    }

                    if (heldLength > 0)
                    {
                        await target.Body.WriteAsync(held.AsMemory(0, heldLength), cancellationToken).ConfigureAwait(false);
                        sent += heldLength;
                    }

                    if (resumes > 0)
                    {
                        context.Items[RequestLogItems.Source] = $"{context.Items[RequestLogItems.Source]} +{resumes} resumes";
                    }

                    return true;
                }

                PeerFailed(peer, request, failure);

                // Resume from the next peer at the first byte the client does not have yet (held bytes included).
                long resumeAt = start + sent + heldLength;
                string range = $"bytes={resumeAt}-{end}";
                var next = budget > 0
                    ? await FirstAnswerAsync(context, request, peers, range, options.RateGracePeriod, budget, cancellationToken).ConfigureAwait(false)
                    : null;
                if (next is null)
                {
                    LogAborted(logger, request.Key, resumeAt, end + 1);
                    context.Abort();
                    return true;
                }

                budget -= next.Value.Attempts;
                if (next.Value.Response.StatusCode != HttpStatusCode.PartialContent
                    || !TryGetSpan(next.Value.Response, out long nextStart, out long nextEnd, out long? nextTotal)
                    || nextStart != resumeAt || nextEnd != end || (total is not null && nextTotal != total))
                {
                    // A peer that lies about Content-Range could splice the wrong bytes: refuse it.
                    PeerFailed(next.Value.Peer, request, "resume answer does not match the requested range");
                    next.Value.Response.Dispose();
                    LogAborted(logger, request.Key, resumeAt, end + 1);
                    context.Abort();
                    return true;
                }

                stats.Resumed();
                resumes++;
                current = next.Value.Response;
                peer = next.Value.Peer;
            }
        }
        finally
        {
            context.Items[RequestLogItems.BytesSent] = sent;
            ArrayPool<byte>.Shared.Return(buffer);
            ArrayPool<byte>.Shared.Return(held);
        }
    }

    /// <summary>
    /// Asks peers until one answers 200/206 (a 416 is passed on too): the first gets <paramref name="headerTimeout"/>
    /// to answer; after the hedge delay the next is asked as well, and the first good answer wins.
    /// </summary>
    private async Task<(HttpResponseMessage Response, RoutedPeer Peer, int Attempts)?> FirstAnswerAsync(
        HttpContext context, DistributionRequest request, IAsyncEnumerator<RoutedPeer> peers, string? range, TimeSpan headerTimeout, int budget, CancellationToken cancellationToken)
    {
        var pending = new List<(Task<HttpResponseMessage> Task, RoutedPeer Peer, CancellationTokenSource Cancel)>();
        int attempts = 0;
        bool exhausted = false;
        bool startNext = true;
        try
        {
            while (true)
            {
                if (startNext && attempts < budget && !exhausted)
                {
                    if (await peers.MoveNextAsync().ConfigureAwait(false))
                    {
                        var peer = peers.Current;
                        var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                        cancel.CancelAfter(headerTimeout);
                        pending.Add((SendAsync(context, peer, range, cancel.Token), peer, cancel));
                        if (++attempts > 1 && pending.Count > 1)
                        {
                            stats.Hedged();
                        }
                    }
                    else
                    {
                        exhausted = true;
                    }
                }

                startNext = false;
                bool canStartMore = attempts < budget && !exhausted;
                if (pending.Count == 0)
                {
                    if (!canStartMore)
                    {
                        return null;
                    }

                    startNext = true;
                    continue;
                }

                var hedge = canStartMore ? Task.Delay(options.HedgeDelay, options.Time, cancellationToken) : Task.Delay(Timeout.Infinite, cancellationToken);
                var done = await Task.WhenAny([.. pending.Select(p => (Task)p.Task), hedge]).ConfigureAwait(false);
                if (done == hedge)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    startNext = true; // slow: hedge to the next peer
                    continue;
                }

                int index = pending.FindIndex(p => p.Task == done);
                var finished = pending[index];
                pending.RemoveAt(index);
                finished.Cancel.Dispose();
                if (finished.Task.IsCompletedSuccessfully && finished.Task.Result.StatusCode is HttpStatusCode.OK or HttpStatusCode.PartialContent or HttpStatusCode.RequestedRangeNotSatisfiable)
                {
                    return (finished.Task.Result, finished.Peer, attempts);
                }

                string reason = finished.Task.IsCompletedSuccessfully
                    ? $"answered {(int)finished.Task.Result.StatusCode}"
                    : finished.Task.Exception?.GetBaseException().Message ?? "timed out";
                if (finished.Task.IsCompletedSuccessfully)
                {
                    finished.Task.Result.Dispose();
                }

                cancellationToken.ThrowIfCancellationRequested();
                PeerFailed(finished.Peer, request, reason);
                startNext = true; // a failure moves on at once
            }
        }
        finally
        {
            foreach (var (task, _, cancel) in pending)
            {
                await cancel.CancelAsync().ConfigureAwait(false);
                _ = task.ContinueWith(t => { if (t.IsCompletedSuccessfully) { t.Result.Dispose(); } cancel.Dispose(); }, TaskScheduler.Default);
            }
        }
    }

    private Task<HttpResponseMessage> SendAsync(HttpContext context, RoutedPeer peer, string? range, CancellationToken cancellationToken)
    {
        var builder = new UriBuilder("http", PeerDialer.Preferred(peer.Addresses).ToString(), options.RegistryPort)
        {
            Path = context.Request.Path.Value,
            Query = context.Request.QueryString.Value,
        };
        var message = new HttpRequestMessage(new HttpMethod(context.Request.Method), builder.Uri) { Version = HttpVersion.Version11 };
        message.Options.Set(PeerDialer.AddressesKey, peer.Addresses); // a new connection tries every address
        message.Headers.TryAddWithoutValidation(MirroredHeader, "true");
        foreach (string? accept in context.Request.Headers.Accept)
        {
            message.Headers.TryAddWithoutValidation("Accept", accept);
        }

        if (!string.IsNullOrEmpty(range))
        {
            message.Headers.TryAddWithoutValidation("Range", range);
        }

        if (options.Authorization is { } authorization)
        {
            message.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        return http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
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

        if (expected is not { } digest)
        {
            return true;
        }

        byte[] actual = digest.Algorithm == "sha512" ? SHA512.HashData(body) : SHA256.HashData(body);
        return Convert.ToHexStringLower(actual) == digest.Hex;
    }

    /// <summary>The byte span of an answer: a 206's Content-Range, or a 200's Content-Length.</summary>
    private static bool TryGetSpan(HttpResponseMessage response, out long start, out long end, out long? total)
    {
        start = 0;
        end = -1;
        total = null;
        if (response.StatusCode == HttpStatusCode.PartialContent)
        {
            var range = response.Content.Headers.ContentRange;
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

    private static void CopyHeaders(HttpResponseMessage response, HttpResponse target)
    {
        if (response.Content.Headers.ContentType is { } type)
        {
            target.ContentType = type.ToString();
        }

        if (response.Content.Headers.ContentRange is { } range)
        {
            target.Headers.ContentRange = range.ToString();
        }

        foreach (string name in new[] { "Docker-Content-Digest", "Accept-Ranges", "Docker-Distribution-API-Version" })
        {
            if (response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values))
            {
                target.Headers[name] = values.First();
            }
        }
    }

    private void PeerFailed(RoutedPeer peer, DistributionRequest request, string reason)
    {
        stats.PeerFailed();
        LogPeerFailed(logger, request.Key, peer.Id, string.Join(' ', peer.Addresses), reason);
    }

    [LoggerMessage(EventId = 1901, Level = LogLevel.Information, Message = "Peer {PeerId} ({Addresses}) failed for {Key}: {Reason}")]
    private static partial void LogPeerFailed(ILogger logger, string key, string peerId, string addresses, string reason);

    [LoggerMessage(EventId = 1902, Level = LogLevel.Warning, Message = "No peer could continue {Key} at byte {Offset} of {Length}: aborting the response")]
    private static partial void LogAborted(ILogger logger, string key, long offset, long length);

    [LoggerMessage(EventId = 1903, Level = LogLevel.Warning, Message = "Blob {Key} from peers does not match its digest (after {Resumes} resumes): aborting the response")]
    private static partial void LogDigestMismatch(ILogger logger, string key, int resumes);
}
