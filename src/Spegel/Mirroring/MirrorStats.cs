using Spegel.Oci;
using Spegel.Telemetry;

namespace Spegel.Mirroring;

/// <summary>
/// Counters of mirroring, for the debug page; each also moves its Prometheus metric. The <c>registry</c> label is
/// never request text: with <c>--mirrored-registries</c> (<paramref name="policy"/> restricts registries) only those
/// reach a counter, otherwise <see cref="RegistryLabels"/> keeps the registries this node holds and names the rest
/// <c>other</c>.
/// </summary>
internal sealed class MirrorStats(TimeProvider? time = null, SpegelInstruments? instruments = null, ContentPolicy? policy = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly bool _registriesBounded = policy?.RestrictsRegistries ?? false;
    private long _bytesFromPeers;
    private long _peerFailures;
    private long _resumes;
    private long _hedges;
    private long _digestMismatches;
    private long _served;
    private long _notFound;
    private long _aborted;

    /// <summary>Where the counts also go (the node's metrics).</summary>
    public SpegelInstruments Instruments { get; } = instruments ?? new();

    public long BytesFromPeers => Interlocked.Read(ref _bytesFromPeers);

    public long PeerFailures => Interlocked.Read(ref _peerFailures);

    public long Resumes => Interlocked.Read(ref _resumes);

    public long Hedges => Interlocked.Read(ref _hedges);

    public long DigestMismatches => Interlocked.Read(ref _digestMismatches);

    public long Served => Interlocked.Read(ref _served);

    public long NotFound => Interlocked.Read(ref _notFound);

    /// <summary>Responses cut short after their headers were sent (never counted as served).</summary>
    public long Aborted => Interlocked.Read(ref _aborted);

    public DateTimeOffset? LastSuccess { get; private set; }

    public void AddBytes(long bytes)
    {
        Interlocked.Add(ref _bytesFromPeers, bytes);
        Instruments.PeerBytesFetched.Inc(bytes);
    }

    public void PeerFailed()
    {
        Interlocked.Increment(ref _peerFailures);
        Instruments.PeerFailures.Inc();
    }

    public void Resumed()
    {
        Interlocked.Increment(ref _resumes);
        Instruments.MirrorResumes.Inc();
    }

    public void Hedged()
    {
        Interlocked.Increment(ref _hedges);
        Instruments.MirrorHedges.Inc();
    }

    public void DigestMismatch()
    {
        Interlocked.Increment(ref _digestMismatches);
        Instruments.MirrorDigestMismatches.Inc();
    }

    /// <summary>A request mirrored from a peer, every byte delivered (Spegel counts it as cache "hit").</summary>
    public void OnServed(string registry)
    {
        var when = _time.GetUtcNow();
        Interlocked.Increment(ref _served);
        LastSuccess = when;
        Instruments.MirrorRequests.WithLabels(RegistryLabel(registry), "hit").Inc();
        Instruments.MirrorLastSuccess.Set(when.ToUnixTimeMilliseconds() / 1000.0);
    }

    /// <summary>A peer's request served from a download in progress here (pull coalescing).</summary>
    public void OnInProgressServed() => Instruments.InProgressServed.Inc();

    /// <summary>A request no peer could serve (cache "miss").</summary>
    public void OnMiss(string registry)
    {
        Interlocked.Increment(ref _notFound);
        Instruments.MirrorRequests.WithLabels(RegistryLabel(registry), "miss").Inc();
    }

    /// <summary>
    /// A relay that ended before its last byte (<see cref="RelayResult"/>): the response was aborted. Failures of the
    /// peers count as a cache "miss", as Spegel counts a mirror error; a client that went away is neither.
    /// </summary>
    public void OnAborted(string registry, RelayResult result)
    {
        Interlocked.Increment(ref _aborted);
        Instruments.MirrorAborted.WithLabels(result switch
        {
            RelayResult.DigestMismatch => "digest_mismatch",
            RelayResult.NoPeerToResume => "no_peer_to_resume",
            RelayResult.ResumeRejected => "resume_rejected",
            _ => "client_gone",
        }).Inc();
        if (result != RelayResult.ClientGone)
        {
            Instruments.MirrorRequests.WithLabels(RegistryLabel(registry), "miss").Inc();
        }
    }

    private string RegistryLabel(string registry) => _registriesBounded ? registry : Instruments.Registries.Of(registry);
}
