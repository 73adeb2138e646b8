using Spegel.Telemetry;

namespace Spegel.Mirroring;

/// <summary>Counters of mirroring, for the debug page; each also moves its Prometheus metric.</summary>
internal sealed class MirrorStats
{
    private long _bytesFromPeers;
    private long _peerFailures;
    private long _resumes;
    private long _hedges;
    private long _digestMismatches;
    private long _served;
    private long _notFound;

    public long BytesFromPeers => Interlocked.Read(ref _bytesFromPeers);

    public long PeerFailures => Interlocked.Read(ref _peerFailures);

    public long Resumes => Interlocked.Read(ref _resumes);

    public long Hedges => Interlocked.Read(ref _hedges);

    public long DigestMismatches => Interlocked.Read(ref _digestMismatches);

    public long Served => Interlocked.Read(ref _served);

    public long NotFound => Interlocked.Read(ref _notFound);

    public DateTimeOffset? LastSuccess { get; private set; }

    public void AddBytes(long bytes)
    {
        Interlocked.Add(ref _bytesFromPeers, bytes);
        SpegelMetrics.PeerBytesFetched.Inc(bytes);
    }

    public void PeerFailed()
    {
        Interlocked.Increment(ref _peerFailures);
        SpegelMetrics.PeerFailures.Inc();
    }

    public void Resumed()
    {
        Interlocked.Increment(ref _resumes);
        SpegelMetrics.MirrorResumes.Inc();
    }

    public void Hedged()
    {
        Interlocked.Increment(ref _hedges);
        SpegelMetrics.MirrorHedges.Inc();
    }

    public void DigestMismatch()
    {
        Interlocked.Increment(ref _digestMismatches);
        SpegelMetrics.MirrorDigestMismatches.Inc();
    }

    /// <summary>A request mirrored from a peer (Spegel counts it as cache "hit").</summary>
    public void Success(DateTimeOffset when, string registry)
    {
        Interlocked.Increment(ref _served);
        LastSuccess = when;
        SpegelMetrics.MirrorRequests.WithLabels(registry, "hit").Inc();
        SpegelMetrics.MirrorLastSuccess.Set(when.ToUnixTimeMilliseconds() / 1000.0);
    }

    /// <summary>A request no peer could serve (cache "miss").</summary>
    public void Miss(string registry)
    {
        Interlocked.Increment(ref _notFound);
        SpegelMetrics.MirrorRequests.WithLabels(registry, "miss").Inc();
    }
}
