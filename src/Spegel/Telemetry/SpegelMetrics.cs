using Prometheus;

namespace Spegel.Telemetry;

/// <summary>
/// The metrics of SPEC §7: Spegel's names and labels exactly (its Grafana dashboard works unchanged), plus ours for
/// peer traffic, failures, resumes and hedges. prometheus-net adds the process and .NET runtime metrics.
/// </summary>
internal static class SpegelMetrics
{
    public static readonly Gauge AdvertisedImages = Metrics.CreateGauge("spegel_advertised_images", "Number of images advertised to be available.", "registry");

    public static readonly Gauge AdvertisedImageTags = Metrics.CreateGauge("spegel_advertised_image_tags", "Number of image tags advertised to be available.", "registry");

    public static readonly Gauge AdvertisedImageDigests = Metrics.CreateGauge("spegel_advertised_image_digests", "Number of image digests advertised to be available.", "registry");

    public static readonly Gauge AdvertisedContentDigests = Metrics.CreateGauge("spegel_advertised_content_digests", "Number of content digests advertised to be available.", "registry");

    public static readonly Gauge AdvertisedKeys = Metrics.CreateGauge("spegel_advertised_keys", "Number of keys advertised to be available.", "registry");

    public static readonly Counter MirrorRequests = Metrics.CreateCounter("spegel_mirror_requests_total", "Total number of mirror requests.", "registry", "cache");

    public static readonly Gauge MirrorLastSuccess = Metrics.CreateGauge("spegel_mirror_last_success_timestamp_seconds", "The timestamp of the last successful mirror request.");

    public static readonly Histogram ResolveDuration = Metrics.CreateHistogram("spegel_resolve_duration_seconds", "The duration for router to resolve a peer.", new HistogramConfiguration { LabelNames = ["router"] });

    public static readonly Histogram HttpRequestDuration = Metrics.CreateHistogram("http_request_duration_seconds", "The latency of the HTTP requests.", new HistogramConfiguration { LabelNames = ["handler", "method", "code"] });

    public static readonly Histogram HttpResponseSize = Metrics.CreateHistogram("http_response_size_bytes", "The size of the HTTP responses.", new HistogramConfiguration
    {
        LabelNames = ["handler", "method", "code"],
        Buckets = Histogram.ExponentialBuckets(1024, 5, 10), // 1 KiB up to ~2 GB, as Spegel
    });

    public static readonly Gauge HttpRequestsInflight = Metrics.CreateGauge("http_requests_inflight", "The number of inflight requests being handled at the same time.", "handler");

    /// <summary>One finished request; <paramref name="handler"/> is one of <see cref="HttpHandlerLabel"/>'s values, the method GET or HEAD.</summary>
    public static void ObserveHttp(string handler, string method, int status, TimeSpan elapsed, long bytes)
    {
        string code = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        HttpRequestDuration.WithLabels(handler, method, code).Observe(elapsed.TotalSeconds);
        HttpResponseSize.WithLabels(handler, method, code).Observe(bytes);
    }

    public static readonly Counter PeerBytesServed = Metrics.CreateCounter("spegel_peer_bytes_served_total", "Bytes this node served to peers (requests with X-Spegel-Mirrored).");

    public static readonly Counter PeerBytesFetched = Metrics.CreateCounter("spegel_peer_bytes_fetched_total", "Bytes this node fetched from peers for its containerd.");

    public static readonly Counter PeerFailures = Metrics.CreateCounter("spegel_peer_failures_total", "Peer requests that failed, timed out, stalled or answered with an error.");

    public static readonly Counter MirrorResumes = Metrics.CreateCounter("spegel_mirror_resumes_total", "Blob transfers continued from another peer after one failed or stalled.");

    public static readonly Counter MirrorHedges = Metrics.CreateCounter("spegel_mirror_hedges_total", "Second peers asked because the first was slow to answer.");

    public static readonly Counter MirrorDigestMismatches = Metrics.CreateCounter("spegel_mirror_digest_mismatches_total", "Blobs from peers that did not match their digest (responses aborted).");

    public static readonly Counter CoalescedPulls = Metrics.CreateCounter("spegel_coalesced_pulls_total", "Blobs nobody held yet: downloaded from the upstream for the cluster (leader) or followed from the node downloading them (follower).", "role");

    public static readonly Counter InProgressServed = Metrics.CreateCounter("spegel_in_progress_served_total", "Peer requests served from a download still in progress on this node.");

    public static readonly Gauge PreflightFindings = Metrics.CreateGauge("spegel_preflight_findings", "Problems the start-up check found in containerd's configuration, 1 per finding (the log and the debug page say what to change).", "check", "severity");

    public static readonly Counter MirrorAborted = Metrics.CreateCounter("spegel_mirror_aborted_total", "Mirrored responses cut short after their headers were sent, by reason: digest_mismatch, no_peer_to_resume, resume_rejected, client_gone.", "reason");
}
