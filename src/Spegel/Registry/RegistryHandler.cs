using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Spegel.Mirroring;
using Spegel.Oci;
using Spegel.Store;
using Spegel.Telemetry;

namespace Spegel.Registry;

/// <summary>
/// The OCI registry API (SPEC §3), read-only. Every request passes through <see cref="HandleAsync"/>:
/// <list type="number">
/// <item>health endpoints answer without auth;</item>
/// <item>anything but GET/HEAD under <c>/v2/</c> is 405 (we never write);</item>
/// <item>Basic auth, when configured;</item>
/// <item>the raw request target is decoded once and parsed strictly (name, tag, digest, <c>ns</c>);</item>
/// <item>a reference the registry filters or mirrored registries exclude is 404 before anything else, as in
/// Spegel, so containerd asks the upstream (<see cref="ContentPolicy.IsFiltered"/>);</item>
/// <item>manifests and blobs are served from the local store;</item>
/// <item>a miss goes through <see cref="MissChain"/> (a download in progress for a peer; the peers; a coalesced pull),
/// which returns what it found; this handler alone writes the answer (a peer's relayed blob included) and aborts it
/// when a relay cannot complete.</item>
/// </list>
/// </summary>
internal sealed partial class RegistryHandler(
    IContentStore store,
    IReadiness readiness,
    BasicAuth auth,
    ContentPolicy policy,
    MissChain misses,
    MirrorStats stats,
    ILogger<RegistryHandler> logger,
    PeerAuthenticator? peers = null,
    INodeAddresses? node = null,
    Refusals? refusals = null)
{
    private readonly PeerAuthenticator _peers = peers ?? PeerAuthenticator.None;
    private readonly INodeAddresses _node = node ?? FixedNodeAddresses.None;
    private readonly Refusals _refusals = refusals ?? new Refusals(stats.Instruments);

    private const int MaxHeaderBytes = 16 * 1024;

    /// <summary>
    /// The most bytes held at once by whole reads of manifests whose type is not known yet (two of the largest, 4 MiB,
    /// or thousands of ordinary ones of a few KiB); a read waits at most <see cref="ManifestReadWait"/> for it. Once
    /// read, a manifest's type is remembered and later requests stream it like a blob.
    /// </summary>
    public const long ManifestReadBudget = 8 * 1024 * 1024;

    public static readonly TimeSpan ManifestReadWait = TimeSpan.FromSeconds(1);

    private readonly ContentTypes _types = new(new ByteBudget(ManifestReadBudget, TimeProvider.System), ManifestReadWait);

    // A store that fails mid-transfer fails every request the same way: a line per second is enough.
    private readonly Timing.LogBudget _serveFailureLogs = new("blobs that failed while being served", 10, 1);
    private readonly Timing.LogBudget _storeFailureLogs = new("requests containerd did not answer", 10, 1);

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        var log = RequestLogFeature.Of(context);
        string target = RawTarget(context);
        string rawPath = PathOf(target);

        if (rawPath is "/healthz" or "/readyz")
        {
            log.Handler = "healthz";
            response.StatusCode = readiness.Ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
            return;
        }

        if (rawPath == "/livez")
        {
            log.Handler = "livez";
            response.StatusCode = StatusCodes.Status200OK;
            return;
        }

        if (target.Length > Oci.DistributionPath.MaxTargetLength)
        {
            log.Handler = "invalid";
            await OciError.WriteAsync(context, StatusCodes.Status414UriTooLong, OciErrorCodes.NameInvalid, $"request target is longer than {Oci.DistributionPath.MaxTargetLength} bytes").ConfigureAwait(false);
            return;
        }

        if (HeaderBytes(request) > MaxHeaderBytes)
        {
            log.Handler = "invalid";
            await OciError.WriteAsync(context, StatusCodes.Status431RequestHeaderFieldsTooLarge, OciErrorCodes.Unsupported, $"request headers are larger than {MaxHeaderBytes} bytes").ConfigureAwait(false);
            return;
        }

        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            log.Handler = "invalid";
            response.Headers.Allow = "GET, HEAD";
            await OciError.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, OciErrorCodes.Unsupported, "this mirror is read-only: only GET and HEAD are allowed").ConfigureAwait(false);
            return;
        }

        var origin = Classify(context, target);
        if (!auth.IsAuthorized(request) && !origin.ProofValid)
        {
            log.Handler = "unauthorized";
            response.Headers.WWWAuthenticate = "Basic realm=\"spegel\"";
            await OciError.WriteAsync(context, StatusCodes.Status401Unauthorized, OciErrorCodes.Unauthorized, "authentication required").ConfigureAwait(false);
            return;
        }

        if (origin.Mirrored && _peers.ProofRequired && !origin.ProofValid)
        {
            // With a swarm key, X-Spegel-Mirrored is a member's claim: without its proof, nothing is answered as a peer's.
            log.Handler = "unauthorized";
            await OciError.WriteAsync(
                context, StatusCodes.Status403Forbidden, OciErrorCodes.Denied,
                $"a peer request ({PeerProtocol.MirroredHeader}) needs a valid {PeerProtocol.ProofHeader}: every node needs the same swarm key, and clocks within {PeerAuthenticator.MaxSkew.TotalSeconds} s").ConfigureAwait(false);
            return;
        }

        log.FromPeer = origin.Mirrored;

        string path;
        try
        {
            path = Uri.UnescapeDataString(rawPath);
        }
        catch (UriFormatException)
        {
            log.Handler = "invalid";
            await OciError.WriteAsync(context, StatusCodes.Status400BadRequest, OciErrorCodes.NameInvalid, "request path is not valid percent-encoding").ConfigureAwait(false);
            return;
        }

        if (Oci.DistributionPath.IsBase(path))
        {
            log.Handler = "v2";
            response.StatusCode = StatusCodes.Status200OK;
            response.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
            response.ContentLength = 0;
            return;
        }

        string? ns = request.Query.TryGetValue("ns", out var nsValues) ? nsValues[0] : null;
        var distribution = Oci.DistributionPath.Parse(path, ns, out var error);
        if (distribution is null)
        {
            log.Handler = "invalid";
            await OciError.WriteAsync(context, error!.Status, error.Code, error.Message).ConfigureAwait(false);
            return;
        }

        log.Handler = distribution.Kind == DistributionKind.Manifest ? "manifest" : "blob";
        if (policy.IsFiltered(distribution))
        {
            log.Source = "filtered";
            await NotFoundResponseAsync(context, distribution, "is excluded by --registry-filters or --mirrored-registries").ConfigureAwait(false);
            return;
        }

        try
        {
            if (distribution.Kind == DistributionKind.Manifest)
            {
                await ServeManifestAsync(context, distribution).ConfigureAwait(false);
            }
            else
            {
                await ServeBlobAsync(context, distribution).ConfigureAwait(false);
            }
        }
        catch (Grpc.Core.RpcException ex) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
        {
            // containerd is restarting or gone: every request would fail the same way. Answered 503 (its client asks
            // the next host) with one log line a second, not an unhandled-exception error with a stack trace each.
            if (_storeFailureLogs.TryTake(logger))
            {
                LogStoreUnavailable(logger, ex.StatusCode.ToString(), ex.Status.Detail);
            }

            log.Source = "store-error";
            context.Response.Headers.RetryAfter = "1";
            await OciError.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, OciErrorCodes.Unavailable, "the content store (containerd) did not answer: try again or ask another host").ConfigureAwait(false);
        }
    }

    private async Task ServeManifestAsync(HttpContext context, DistributionRequest distribution)
    {
        var cancellationToken = context.RequestAborted;
        Digest digest;
        string? descriptorType = null;
        if (distribution.Digest is { } d)
        {
            digest = d;
        }
        else
        {
            var image = await store.ResolveImageAsync(distribution.Key, cancellationToken).ConfigureAwait(false);
            if (image is null)
            {
                await NotFoundAsync(context, distribution).ConfigureAwait(false);
                return;
            }

            digest = image.Target;
            descriptorType = image.MediaType;
        }

        await using var blob = await store.OpenAsync(digest, cancellationToken).ConfigureAwait(false);
        if (blob is null)
        {
            await NotFoundAsync(context, distribution).ConfigureAwait(false);
            return;
        }

        // Only an image index or manifest is served here, as Spegel does; a layer is told apart by its first bytes,
        // never read whole (any blob used to be read into memory here, whatever its kind).
        var (outcome, kind) = await _types.GetAsync(blob, cancellationToken).ConfigureAwait(false);
        if (outcome == ContentTypes.Lookup.Busy)
        {
            await RefuseAsync(context, Refusals.ManifestReadBudget, $"reading manifests holds {ManifestReadBudget / 1024 / 1024} MiB at most and it is in use: try again or ask another host").ConfigureAwait(false);
            return;
        }

        string? mediaType = outcome == ContentTypes.Lookup.Known ? kind.ManifestType(descriptorType) : null;
        if (mediaType is null)
        {
            string why = outcome == ContentTypes.Lookup.Unreadable ? "could not be read" : blob.Size > MediaTypes.MaxManifestBytes ? $"is {blob.Size} bytes: too large to be a manifest" : "is not an image manifest or index";
            await OciError.WriteAsync(context, StatusCodes.Status404NotFound, OciErrorCodes.ManifestUnknown, $"{digest} {why}").ConfigureAwait(false);
            return;
        }

        var response = context.Response;
        RequestLogFeature.Of(context).Source = "local";
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = mediaType;
        response.ContentLength = blob.Size;
        response.Headers["Docker-Content-Digest"] = digest.ToString();
        SetNamespace(response, distribution);
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await CopyAsync(context, blob, 0, blob.Size).ConfigureAwait(false);
        }
    }

    private async Task ServeBlobAsync(HttpContext context, DistributionRequest distribution)
    {
        var digest = distribution.Digest!.Value;
        await using var blob = await store.OpenAsync(digest, context.RequestAborted).ConfigureAwait(false);
        if (blob is null)
        {
            await NotFoundAsync(context, distribution).ConfigureAwait(false);
            return;
        }

        await WriteBlobAsync(context, distribution, blob, "local").ConfigureAwait(false);
    }

    /// <summary>
    /// Answers with <paramref name="blob"/> (or the requested range of it), streamed. As in Spegel, a whole local
    /// blob's <c>Content-Type</c> is its fingerprinted media type and a range is <c>application/octet-stream</c>; a
    /// download still in progress is always octet-stream (its bytes are not all there to look at).
    /// </summary>
    private async Task WriteBlobAsync(HttpContext context, DistributionRequest distribution, BlobReader blob, string source)
    {
        var cancellationToken = context.RequestAborted;
        var digest = blob.Digest;
        var response = context.Response;
        response.Headers.AcceptRanges = "bytes";
        response.Headers["Docker-Content-Digest"] = digest.ToString();
        var range = RangeRequest.Parse(context.Request.Headers.Range, blob.Size);
        switch (range.Outcome)
        {
            case RangeOutcome.Malformed:
                response.Headers.ContentRange = $"bytes */{blob.Size}";
                await OciError.WriteAsync(context, StatusCodes.Status416RangeNotSatisfiable, OciErrorCodes.RangeInvalid, "Range header is malformed: expected bytes=first-last, bytes=first- or bytes=-suffix").ConfigureAwait(false);
                return;
            case RangeOutcome.Unsatisfiable:
                response.Headers.ContentRange = $"bytes */{blob.Size}";
                await OciError.WriteAsync(context, StatusCodes.Status416RangeNotSatisfiable, OciErrorCodes.RangeInvalid, $"Range is outside the blob's {blob.Size} bytes").ConfigureAwait(false);
                return;
            case RangeOutcome.Partial:
                response.StatusCode = StatusCodes.Status206PartialContent;
                response.Headers.ContentRange = string.Create(CultureInfo.InvariantCulture, $"bytes {range.Start}-{range.End}/{blob.Size}");
                break;
            default:
                response.StatusCode = StatusCodes.Status200OK;
                range = new RangeRequest(RangeOutcome.Whole, 0, blob.Size - 1);
                break;
        }

        RequestLogFeature.Of(context).Source = source;
        // A JSON blob whose type cannot be read now (budget spent, read error) is sent as octet-stream: containerd
        // ignores a blob's Content-Type, and refusing a blob we hold would be worse.
        response.ContentType = range.Outcome == RangeOutcome.Whole && source == "local"
            ? (await _types.GetAsync(blob, cancellationToken).ConfigureAwait(false)).Kind.BlobType
            : MediaTypes.OctetStream;
        response.ContentLength = range.Length;
        SetNamespace(response, distribution);
        if (HttpMethods.IsHead(context.Request.Method) || range.Length == 0)
        {
            return;
        }

        await CopyAsync(context, blob, range.Start, range.Length).ConfigureAwait(false);
    }

    /// <summary>Streams bytes [start, start+length) of <paramref name="blob"/> into the response, as they are read.</summary>
    private async Task CopyAsync(HttpContext context, BlobReader blob, long start, long length)
    {
        var cancellationToken = context.RequestAborted;
        var body = new CountingPipeWriter(context.Response.BodyWriter);
        try
        {
            await blob.CopyToAsync(body, start, length, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or Grpc.Core.RpcException && !cancellationToken.IsCancellationRequested)
        {
            // Headers are gone: the only honest signal left is to abort the connection so the client sees a
            // broken transfer, never a short body presented as complete.
            if (_serveFailureLogs.TryTake(logger))
            {
                LogServeFailed(logger, blob.Digest.ToString(), ex.Message);
            }

            context.Abort();
        }
        finally
        {
            RequestLogFeature.Of(context).BytesSent = body.Count;
        }
    }

    /// <summary>
    /// Who is asking: a peer (<c>X-Spegel-Mirrored</c>), proven or not (<see cref="PeerAuthenticator"/>), and whether the
    /// client is this node's containerd. Checked once per request (a proof's nonce is spent); refusals are counted.
    /// </summary>
    private RequestOrigin Classify(HttpContext context, string target)
    {
        var request = context.Request;
        var connection = context.Connection;
        var proof = _peers.Check(request.Headers[PeerProtocol.ProofHeader], request.Method, request.Headers.Host, target, connection.LocalIpAddress);
        bool mirrored = PeerProtocol.IsMirrored(request.Headers[PeerProtocol.MirroredHeader]);
        RefusalReason? refused = proof switch
        {
            ProofStatus.Invalid => RefusalReason.ProofInvalid,
            ProofStatus.Expired => RefusalReason.ProofExpired,
            ProofStatus.Replayed => RefusalReason.ProofReplayed,
            ProofStatus.WindowFull => RefusalReason.ProofWindowFull,
            ProofStatus.Absent when mirrored && _peers.ProofRequired => RefusalReason.ProofMissing,
            _ => null,
        };
        if (refused is { } reason)
        {
            _refusals.Refuse(reason, $"{request.Method} {PathOf(target)} from {connection.RemoteIpAddress}");
        }

        var origin = new RequestOrigin(
            mirrored,
            proof == ProofStatus.Valid,
            proof == ProofStatus.Valid || _peers.Key is null,
            !mirrored && NodeAddress.IsLocalClient(connection.RemoteIpAddress, connection.LocalIpAddress, _node));
        context.Features.Set(origin);
        return origin;
    }

    /// <summary>
    /// 503 for a request refused by a bound (<paramref name="reason"/> names it in <c>spegel_refused_total</c>).
    /// Not 429: containerd retries a 429 (and a 408) on the same host up to five times, while any other error sends
    /// it on to the next host at once, which is what a bound is for.
    /// </summary>
    private Task RefuseAsync(HttpContext context, string reason, string message)
    {
        stats.Instruments.Refused.WithLabels(reason).Inc();
        RequestLogFeature.Of(context).Source = "refused";
        context.Response.Headers.RetryAfter = "1";
        return OciError.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, OciErrorCodes.Unavailable, message);
    }

    /// <summary>A local miss: whatever <see cref="MissChain"/> finds, written here, or 404.</summary>
    private async Task NotFoundAsync(HttpContext context, DistributionRequest distribution)
    {
        var request = context.Request;
        var origin = context.Features.Get<RequestOrigin>() ?? RequestOrigin.Unknown;
        var client = new RegistryRequest(
            origin.Mirrored,
            HttpMethods.IsHead(request.Method),
            request.Headers.Range.Count > 0 ? request.Headers.Range.ToString() : null,
            [.. request.Headers.Accept.OfType<string>()],
            context.Connection.RemoteIpAddress)
        {
            PeerVerified = origin.PeerVerified,
            FromThisNode = origin.FromThisNode,
        };
        var miss = await misses.ResolveAsync(distribution, client, context.RequestAborted).ConfigureAwait(false);
        switch (miss)
        {
            case Miss.InProgress inProgress:
                await using (inProgress.Reader)
                {
                    context.Response.Headers[PeerProtocol.InProgressHeader] = "true";
                    stats.OnInProgressServed();
                    await WriteBlobAsync(context, distribution, inProgress.Reader, "in-progress").ConfigureAwait(false);
                }

                return;
            case Miss.FromPeers fromPeers:
                await WritePeerFetchAsync(context, distribution, fromPeers.Fetch).ConfigureAwait(false);
                return;
            case Miss.Refused refused:
                await RefuseAsync(
                    context,
                    refused.Reason == LookupAdmission.ClientRate ? Refusals.LookupClientRate : Refusals.LookupCapacity,
                    refused.Reason == LookupAdmission.ClientRate
                        ? "this client started more peer lookups than allowed: try again later or ask another host"
                        : "this node runs as many peer lookups as it allows: try again or ask another host").ConfigureAwait(false);
                return;
            case Miss.NotFound notFound:
                if (notFound.PeersAsked)
                {
                    stats.OnMiss(distribution.Registry ?? string.Empty);
                }

                RequestLogFeature.Of(context).Source = "miss";
                await NotFoundResponseAsync(context, distribution, notFound.Why).ConfigureAwait(false);
                return;
        }
    }

    /// <summary>
    /// Writes what a peer answered: its status and headers, then the checked body, or the relayed blob. A relay that
    /// cannot complete (no peer to resume, a digest mismatch, a lying range) aborts the response: a client never sees
    /// a short or corrupt body presented as complete, and the request is not counted as served.
    /// </summary>
    private async Task WritePeerFetchAsync(HttpContext context, DistributionRequest distribution, PeerFetch fetch)
    {
        var response = context.Response;
        var log = RequestLogFeature.Of(context);
        log.Source = fetch.Source;
        var headers = fetch.Headers;
        response.StatusCode = headers.Status;
        response.ContentType = headers.ContentType;
        response.ContentLength = headers.ContentLength;
        if (headers.ContentRange is { } contentRange)
        {
            response.Headers.ContentRange = contentRange;
        }

        SetIfPresent(response, "Docker-Content-Digest", headers.DockerContentDigest);
        SetIfPresent(response, "Accept-Ranges", headers.AcceptRanges);
        SetIfPresent(response, "Docker-Distribution-API-Version", headers.ApiVersion);
        string registry = distribution.Registry ?? string.Empty;
        if (fetch is PeerFetch.Whole whole)
        {
            if (whole.Body is { } body)
            {
                await response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
            }

            stats.OnServed(registry);
            return;
        }

        await using var relay = ((PeerFetch.Stream)fetch).Relay;
        var result = await relay.CopyToAsync(response.BodyWriter, context.RequestAborted).ConfigureAwait(false);
        log.BytesSent = relay.BytesSent;
        if (relay.Resumes > 0)
        {
            log.Source = $"{log.Source} +{relay.Resumes} resumes";
        }

        if (result == RelayResult.Completed)
        {
            stats.OnServed(registry);
            return;
        }

        log.Error = $"relay ended: {result}";
        stats.OnAborted(registry, result);
        context.Abort();
    }

    private static void SetIfPresent(HttpResponse response, string name, string? value)
    {
        if (value is not null)
        {
            response.Headers[name] = value;
        }
    }

    private static Task NotFoundResponseAsync(HttpContext context, DistributionRequest distribution, string why)
    {
        return distribution.Kind == DistributionKind.Manifest
            ? OciError.WriteAsync(context, StatusCodes.Status404NotFound, OciErrorCodes.ManifestUnknown, $"manifest {distribution.Key} {why}")
            : OciError.WriteAsync(context, StatusCodes.Status404NotFound, OciErrorCodes.BlobUnknown, $"blob {distribution.Key} {why}");
    }

    /// <summary><c>OCI-Namespace: &lt;ns&gt;</c> on local answers, as Spegel sends it (not on answers relayed from peers).</summary>
    private static void SetNamespace(HttpResponse response, DistributionRequest distribution)
    {
        if (distribution.Registry is { } registry)
        {
            response.Headers["OCI-Namespace"] = registry;
        }
    }

    /// <summary>The path of the request target as sent, without the query.</summary>
    public static string RawPath(HttpContext context) => PathOf(RawTarget(context));

    private static string PathOf(string target)
    {
        int queryStart = target.IndexOf('?', StringComparison.Ordinal);
        return queryStart < 0 ? target : target[..queryStart];
    }

    /// <summary>The request target as sent (Kestrel's <c>Path</c> is decoded and dot-segment normalised).</summary>
    private static string RawTarget(HttpContext context)
    {
        string? raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(raw) || raw[0] != '/')
        {
            // Absolute-form or missing: fall back to the parsed path.
            return context.Request.Path.Value + context.Request.QueryString.Value;
        }

        return raw;
    }

    private static long HeaderBytes(HttpRequest request)
    {
        long total = 0;
        foreach (var (key, value) in request.Headers)
        {
            total += key.Length;
            foreach (string? v in value)
            {
                total += v?.Length ?? 0;
            }
        }

        return total;
    }

    /// <summary>Who sent a request (<see cref="Classify"/>), for the steps after the local store.</summary>
    /// <param name="Mirrored">Marked as a peer's request (and, with a swarm key, proven).</param>
    /// <param name="ProofValid">A valid proof of the peer key came with it.</param>
    /// <param name="PeerVerified">Valid proof, or the node has no peer key to check one with.</param>
    /// <param name="FromThisNode">Not a peer's, and from this node's containerd (loopback or the node's addresses).</param>
    private sealed record RequestOrigin(bool Mirrored, bool ProofValid, bool PeerVerified, bool FromThisNode)
    {
        public static RequestOrigin Unknown { get; } = new(false, false, false, false);
    }

    [LoggerMessage(EventId = 1202, Level = LogLevel.Warning, Message = "containerd did not answer a request ({Code}: {Detail}); answering 503")]
    private static partial void LogStoreUnavailable(ILogger logger, string code, string detail);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Warning, Message = "Serving blob {Digest} failed after the headers were sent; aborting the response: {Reason}")]
    private static partial void LogServeFailed(ILogger logger, string digest, string reason);
}
