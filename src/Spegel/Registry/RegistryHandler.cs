using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Spegel.Oci;
using Spegel.Mirroring;
using Spegel.Store;

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
/// <item>a miss is mirrored from peers (<see cref="PeerForwarder"/>) unless the request came from a peer
/// (<c>X-Spegel-Mirrored: true</c>: loop prevention) or the policy excludes it; otherwise 404 at once.</item>
/// </list>
/// </summary>
internal sealed partial class RegistryHandler(
    IContentStore store,
    IReadiness readiness,
    BasicAuth auth,
    ContentPolicy policy,
    PeerForwarder? forwarder,
    Coalescing.PullCoalescer? coalescer,
    ILogger<RegistryHandler> logger)
{
    private const int MaxHeaderBytes = 16 * 1024;
    private readonly BlobContentTypes _blobTypes = new();

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        string target = RawTarget(context);
        string rawPath = PathOf(target);

        if (rawPath is "/healthz" or "/readyz")
        {
            context.Items[RequestLogItems.Handler] = "healthz";
            response.StatusCode = readiness.Ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
            return;
        }

        if (rawPath == "/livez")
        {
            context.Items[RequestLogItems.Handler] = "livez";
            response.StatusCode = StatusCodes.Status200OK;
            return;
        }

        if (target.Length > Oci.DistributionPath.MaxTargetLength)
        {
            context.Items[RequestLogItems.Handler] = "invalid";
            await OciError.WriteAsync(context, StatusCodes.Status414UriTooLong, OciErrorCodes.NameInvalid, $"request target is longer than {Oci.DistributionPath.MaxTargetLength} bytes").ConfigureAwait(false);
            return;
        }

        if (HeaderBytes(request) > MaxHeaderBytes)
        {
            context.Items[RequestLogItems.Handler] = "invalid";
            await OciError.WriteAsync(context, StatusCodes.Status431RequestHeaderFieldsTooLarge, OciErrorCodes.Unsupported, $"request headers are larger than {MaxHeaderBytes} bytes").ConfigureAwait(false);
            return;
        }

        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            context.Items[RequestLogItems.Handler] = "invalid";
            response.Headers.Allow = "GET, HEAD";
            await OciError.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, OciErrorCodes.Unsupported, "this mirror is read-only: only GET and HEAD are allowed").ConfigureAwait(false);
            return;
        }

        if (!auth.IsAuthorized(request))
        {
            context.Items[RequestLogItems.Handler] = "unauthorized";
            response.Headers.WWWAuthenticate = "Basic realm=\"spegel\"";
            await OciError.WriteAsync(context, StatusCodes.Status401Unauthorized, OciErrorCodes.Unauthorized, "authentication required").ConfigureAwait(false);
            return;
        }

        string path;
        try
        {
            path = Uri.UnescapeDataString(rawPath);
        }
        catch (UriFormatException)
        {
            context.Items[RequestLogItems.Handler] = "invalid";
            await OciError.WriteAsync(context, StatusCodes.Status400BadRequest, OciErrorCodes.NameInvalid, "request path is not valid percent-encoding").ConfigureAwait(false);
            return;
        }

        if (Oci.DistributionPath.IsBase(path))
        {
            context.Items[RequestLogItems.Handler] = "v2";
            response.StatusCode = StatusCodes.Status200OK;
            response.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
            response.ContentLength = 0;
            return;
        }

        string? ns = request.Query.TryGetValue("ns", out var nsValues) ? nsValues[0] : null;
        var distribution = Oci.DistributionPath.Parse(path, ns, out var error);
        if (distribution is null)
        {
            context.Items[RequestLogItems.Handler] = "invalid";
            await OciError.WriteAsync(context, error!.Status, error.Code, error.Message).ConfigureAwait(false);
            return;
        }

        context.Items[RequestLogItems.Handler] = distribution.Kind == DistributionKind.Manifest ? "manifest" : "blob";
        if (policy.IsFiltered(distribution))
        {
            context.Items[RequestLogItems.Source] = "filtered";
            await NotFoundResponseAsync(context, distribution, "is excluded by --registry-filters or --mirrored-registries").ConfigureAwait(false);
            return;
        }

        if (distribution.Kind == DistributionKind.Manifest)
        {
            await ServeManifestAsync(context, distribution).ConfigureAwait(false);
        }
        else
        {
            await ServeBlobAsync(context, distribution).ConfigureAwait(false);
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

        byte[] manifest;
        await using (var blob = await store.OpenAsync(digest, cancellationToken).ConfigureAwait(false))
        {
            if (blob is null)
            {
                await NotFoundAsync(context, distribution).ConfigureAwait(false);
                return;
            }

            if (blob.Size > MediaTypes.MaxManifestBytes)
            {
                await OciError.WriteAsync(context, StatusCodes.Status404NotFound, OciErrorCodes.ManifestUnknown, $"{digest} is {blob.Size} bytes: too large to be a manifest").ConfigureAwait(false);
                return;
            }

            manifest = await blob.ReadAllAsync(MediaTypes.MaxManifestBytes, cancellationToken).ConfigureAwait(false);
        }

        var response = context.Response;
        context.Items[RequestLogItems.Source] = "local";
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = MediaTypes.Sniff(manifest) ?? (string.IsNullOrEmpty(descriptorType) ? MediaTypes.OctetStream : descriptorType);
        response.ContentLength = manifest.Length;
        response.Headers["Docker-Content-Digest"] = digest.ToString();
        SetNamespace(response, distribution);
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await response.Body.WriteAsync(manifest, cancellationToken).ConfigureAwait(false);
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

        context.Items[RequestLogItems.Source] = source;
        response.ContentType = range.Outcome == RangeOutcome.Whole && source == "local"
            ? await _blobTypes.GetAsync(blob, cancellationToken).ConfigureAwait(false)
            : MediaTypes.OctetStream;
        response.ContentLength = range.Length;
        SetNamespace(response, distribution);
        if (HttpMethods.IsHead(context.Request.Method) || range.Length == 0)
        {
            return;
        }

        var body = new CountingPipeWriter(response.BodyWriter);
        try
        {
            await blob.CopyToAsync(body, range.Start, range.Length, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or Grpc.Core.RpcException && !cancellationToken.IsCancellationRequested)
        {
            // Headers are gone: the only honest signal left is to abort the connection so the client sees a
            // broken transfer, never a short body presented as complete.
            LogServeFailed(logger, digest.ToString(), ex.Message);
            context.Abort();
        }
        finally
        {
            context.Items[RequestLogItems.BytesSent] = body.Count;
        }
    }

    /// <summary>
    /// A local miss: mirrored from peers when allowed, else 404 at once. A peer asking for a blob this node is
    /// downloading gets the bytes as they arrive (pull coalescing).
    /// </summary>
    private async Task NotFoundAsync(HttpContext context, DistributionRequest distribution)
    {
        bool fromPeer = string.Equals(context.Request.Headers[PeerForwarder.MirroredHeader], "true", StringComparison.OrdinalIgnoreCase);
        if (fromPeer && coalescer is not null && distribution is { Kind: DistributionKind.Blob, Digest: { } digest })
        {
            await using var inProgress = await coalescer.OpenInProgressAsync(digest, context.RequestAborted).ConfigureAwait(false);
            if (inProgress is not null)
            {
                context.Response.Headers[PeerForwarder.InProgressHeader] = "true";
                Telemetry.SpegelMetrics.InProgressServed.Inc();
                await WriteBlobAsync(context, distribution, inProgress, "in-progress").ConfigureAwait(false);
                return;
            }
        }

        if (!fromPeer && forwarder is not null && policy.AllowsMirroring(distribution) && await forwarder.TryServeAsync(context, distribution).ConfigureAwait(false))
        {
            return;
        }

        if (context.Response.HasStarted)
        {
            return;
        }

        context.Items[RequestLogItems.Source] = "miss";
        await NotFoundResponseAsync(context, distribution, "is not on this node").ConfigureAwait(false);
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

    [LoggerMessage(EventId = 1201, Level = LogLevel.Warning, Message = "Serving blob {Digest} failed after the headers were sent; aborting the response: {Reason}")]
    private static partial void LogServeFailed(ILogger logger, string digest, string reason);
}
