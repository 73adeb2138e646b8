using Microsoft.AspNetCore.Http;

namespace Spegel.Registry;

/// <summary>
/// What the registry handler tells the request log and the metrics about a request: which handler answered, where
/// the answer came from, the body bytes actually sent (when they may differ from Content-Length), the error. A typed
/// feature, written by the registry only (the handler is the one place that writes a response).
/// </summary>
internal sealed class RequestLogFeature
{
    /// <summary>The handler that answered: healthz, livez, v2, manifest, blob, invalid, unauthorized.</summary>
    public string Handler { get; set; } = "unknown";

    /// <summary>Where the answer came from: local, in-progress, peer &lt;ip&gt; [+n resumes], miss, filtered, or empty.</summary>
    public string Source { get; set; } = string.Empty;

    /// <summary>Body bytes sent, when counted (a stream that may be cut short); null: the Content-Length.</summary>
    public long? BytesSent { get; set; }

    /// <summary>Answered as a peer's request (<c>X-Spegel-Mirrored</c>, proven where a swarm key requires it).</summary>
    public bool FromPeer { get; set; }

    /// <summary>The OCI error code and message of an error answer.</summary>
    public string Error { get; set; } = string.Empty;

    /// <summary>The request's feature, created on first use.</summary>
    public static RequestLogFeature Of(HttpContext context)
    {
        var feature = context.Features.Get<RequestLogFeature>();
        if (feature is null)
        {
            feature = new RequestLogFeature();
            context.Features.Set(feature);
        }

        return feature;
    }
}
