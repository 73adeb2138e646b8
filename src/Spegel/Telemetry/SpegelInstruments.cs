using Prometheus;

namespace Spegel.Telemetry;

/// <summary>
/// The metrics of SPEC §7: Spegel's names and labels exactly (its Grafana dashboard works unchanged), plus ours for
/// peer traffic, failures, resumes and hedges. One instance per node, on one collector registry (the one
/// <c>/metrics</c> exports), injected into the parts that count: no static state, so tests running side by side each
/// count their own. The node uses prometheus-net's default registry, which adds the process and .NET runtime metrics.
/// </summary>
internal sealed class SpegelInstruments
{
    public SpegelInstruments(CollectorRegistry? registry = null)
    {
        Registry = registry ?? Metrics.NewCustomRegistry();
        var f = Metrics.WithCustomRegistry(Registry);
        AdvertisedImages = f.CreateGauge("spegel_advertised_images", "Number of images advertised to be available.", "registry");
        AdvertisedImageTags = f.CreateGauge("spegel_advertised_image_tags", "Number of image tags advertised to be available.", "registry");
        AdvertisedImageDigests = f.CreateGauge("spegel_advertised_image_digests", "Number of image digests advertised to be available.", "registry");
        AdvertisedContentDigests = f.CreateGauge("spegel_advertised_content_digests", "Number of content digests advertised to be available.", "registry");
        AdvertisedKeys = f.CreateGauge("spegel_advertised_keys", "Number of keys advertised to be available.", "registry");
        MirrorRequests = f.CreateCounter("spegel_mirror_requests_total", "Total number of mirror requests.", "registry", "cache");
        MirrorLastSuccess = f.CreateGauge("spegel_mirror_last_success_timestamp_seconds", "The timestamp of the last successful mirror request.");
        ResolveDuration = f.CreateHistogram("spegel_resolve_duration_seconds", "The duration for router to resolve a peer.", new HistogramConfiguration { LabelNames = ["router"] });
        HttpRequestDuration = f.CreateHistogram("http_request_duration_seconds", "The latency of the HTTP requests.", new HistogramConfiguration { LabelNames = ["handler", "method", "code"] });
        HttpResponseSize = f.CreateHistogram("http_response_size_bytes", "The size of the HTTP responses.", new HistogramConfiguration
        {
            LabelNames = ["handler", "method", "code"],
            Buckets = Histogram.ExponentialBuckets(1024, 5, 10), // 1 KiB up to ~2 GB, as Spegel
        });
        HttpRequestsInflight = f.CreateGauge("http_requests_inflight", "The number of inflight requests being handled at the same time.", "handler");
        PeerBytesServed = f.CreateCounter("spegel_peer_bytes_served_total", "Bytes this node served to peers (requests with X-Spegel-Mirrored).");
        PeerBytesFetched = f.CreateCounter("spegel_peer_bytes_fetched_total", "Bytes this node fetched from peers for its containerd.");
        PeerFailures = f.CreateCounter("spegel_peer_failures_total", "Peer requests that failed, timed out, stalled or answered with an error.");
        MirrorResumes = f.CreateCounter("spegel_mirror_resumes_total", "Blob transfers continued from another peer after one failed or stalled.");
        MirrorHedges = f.CreateCounter("spegel_mirror_hedges_total", "Second peers asked because the first was slow to answer.");
        MirrorDigestMismatches = f.CreateCounter("spegel_mirror_digest_mismatches_total", "Blobs from peers that did not match their digest (responses aborted).");
        CoalescedPulls = f.CreateCounter("spegel_coalesced_pulls_total", "Blobs nobody held yet: downloaded from the upstream for the cluster (leader) or followed from the node downloading them (follower).", "role");
        InProgressServed = f.CreateCounter("spegel_in_progress_served_total", "Peer requests served from a download still in progress on this node.");
        PreflightFindings = f.CreateGauge("spegel_preflight_findings", "Problems the start-up check found in containerd's configuration, 1 per finding (the log and the debug page say what to change).", "check", "severity");
        Refused = f.CreateCounter("spegel_refused_total", "Requests, connections, peer answers and claims refused, by reason (a fixed set, see docs/security.md): by a bound (connection_limit, manifest_read_budget, lookup_client_rate, lookup_capacity, measure_busy) or on trust grounds (proof_*, claim_not_local, tag_*, partial_for_whole, digest_header_mismatch).", "reason");
        MirrorAborted = f.CreateCounter("spegel_mirror_aborted_total", "Mirrored responses cut short after their headers were sent, by reason: digest_mismatch, no_peer_to_resume, resume_rejected, client_gone.", "reason");
    }

    /// <summary>The registry these instruments are in (exported by the metrics endpoint).</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>The last requests, for the debug page.</summary>
    public RecentRequests Recent { get; } = new();

    /// <summary>The registries <see cref="MirrorRequests"/> may name (the ones this node holds content of).</summary>
    public RegistryLabels Registries { get; } = new();

    public Gauge AdvertisedImages { get; }

    public Gauge AdvertisedImageTags { get; }

    public Gauge AdvertisedImageDigests { get; }

    public Gauge AdvertisedContentDigests { get; }

    public Gauge AdvertisedKeys { get; }

    public Counter MirrorRequests { get; }

    public Gauge MirrorLastSuccess { get; }

    public Histogram ResolveDuration { get; }

    public Histogram HttpRequestDuration { get; }

    public Histogram HttpResponseSize { get; }

    public Gauge HttpRequestsInflight { get; }

    public Counter PeerBytesServed { get; }

    public Counter PeerBytesFetched { get; }

    public Counter PeerFailures { get; }

    public Counter MirrorResumes { get; }

    public Counter MirrorHedges { get; }

    public Counter MirrorDigestMismatches { get; }

    public Counter CoalescedPulls { get; }

    public Counter InProgressServed { get; }

    public Gauge PreflightFindings { get; }

    public Counter MirrorAborted { get; }

    /// <summary>
    /// What the bounds refused, and (through <see cref="Telemetry.Refusals"/>, with its rate-limited log) what was refused
    /// on trust grounds; the reason is one of a fixed set (never request text).
    /// </summary>
    public Counter Refused { get; }

    /// <summary>One finished request; <paramref name="handler"/> is one of <see cref="HttpHandlerLabel"/>'s values, the method GET or HEAD (or POST on the measure route).</summary>
    public void ObserveHttp(string handler, string method, int status, TimeSpan elapsed, long bytes)
    {
        string code = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        HttpRequestDuration.WithLabels(handler, method, code).Observe(elapsed.TotalSeconds);
        HttpResponseSize.WithLabels(handler, method, code).Observe(bytes);
    }

}
