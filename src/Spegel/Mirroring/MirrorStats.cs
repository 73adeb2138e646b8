namespace Spegel.Mirroring;

/// <summary>Counters of mirroring, for metrics and the debug page.</summary>
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

    public void AddBytes(long bytes) => Interlocked.Add(ref _bytesFromPeers, bytes);

    public void PeerFailed() => Interlocked.Increment(ref _peerFailures);

    public void Resumed() => Interlocked.Increment(ref _resumes);

    public void Hedged() => Interlocked.Increment(ref _hedges);

    public void DigestMismatch() => Interlocked.Increment(ref _digestMismatches);

    public void Success(DateTimeOffset when)
    {
        Interlocked.Increment(ref _served);
        LastSuccess = when;
    }

    public void Miss() => Interlocked.Increment(ref _notFound);
}
