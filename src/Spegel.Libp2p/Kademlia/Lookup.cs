using Google.Protobuf;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protos;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Kademlia;

/// <summary>
/// One iterative Kademlia lookup (FIND_NODE or GET_PROVIDERS): start from the k closest peers we know, keep α
/// requests in flight to the closest unqueried peers, learn closer peers from every answer, and stop when the k
/// closest peers seen have all answered (or failed), when candidates run out, or when the caller says so.
/// </summary>
internal sealed class Lookup
{
    private readonly Dht _dht;
    private readonly byte[] _key;
    private readonly byte[] _target;
    private readonly Message.Types.MessageType _type;
    private readonly Dictionary<PeerId, Candidate> _candidates = [];

    public Lookup(Dht dht, byte[] key, Message.Types.MessageType type)
    {
        _dht = dht;
        _key = key;
        _target = KeySpace.Position(key);
        _type = type;
    }

    /// <summary>Peers that answered, closest first.</summary>
    public IReadOnlyList<PeerId> Responded =>
        _candidates.Values.Where(c => c.State == CandidateState.Responded).OrderBy(c => c, new ByDistance(_target)).Select(c => c.Peer).ToList();

    /// <summary>Runs the lookup; <paramref name="onResponse"/> sees every answer and returns true to stop early.</summary>
    public async Task RunAsync(Func<PeerId, Message, bool> onResponse, CancellationToken cancellationToken)
    {
        foreach (var peer in _dht.RoutingTable.Nearest(_target, _dht.Options.K))
        {
            Add(peer);
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(_dht.Options.LookupTimeout);
        var inFlight = new Dictionary<Task<Message>, Candidate>();
        int queries = 0;
        try
        {
            while (true)
            {
                if (stop.IsCancellationRequested)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    return; // out of time: what was found stands
                }

                var window = _candidates.Values.Where(c => c.State != CandidateState.Failed).OrderBy(c => c, new ByDistance(_target)).Take(_dht.Options.K).ToList();
                foreach (var next in window.Where(c => c.State == CandidateState.Pending))
                {
                    if (inFlight.Count >= _dht.Options.Alpha || queries >= _dht.Options.MaxQueriesPerLookup)
                    {
                        break;
                    }

                    next.State = CandidateState.InFlight;
                    queries++;
                    var request = new Message { Type = _type, Key = ByteString.CopyFrom(_key) };
                    inFlight[_dht.Client.RequestAsync(next.Peer, next.Hints, request, stop.Token)] = next;
                }

                if (inFlight.Count == 0)
                {
                    return; // the k closest all answered or failed, or nobody is left to ask
                }

                // Every request ends by its own timeout or by the lookup's, so this wait ends too.
                var done = await Task.WhenAny(inFlight.Keys).ConfigureAwait(false);
                var candidate = inFlight[done];
                inFlight.Remove(done);
                if (done.IsCompletedSuccessfully)
                {
                    candidate.State = CandidateState.Responded;
                    _dht.RoutingTable.TryAdd(candidate.Peer);
                    // A server answers with k closer peers; their addresses are hints for this lookup only (the peer
                    // store keeps what peers say of themselves, not what others say of them).
                    foreach (var closer in done.Result.CloserPeers.Take(_dht.Options.K))
                    {
                        if (PeerInfo.FromProto(closer) is { } info && !info.Id.Equals(_dht.Host.Id))
                        {
                            var hints = info.Addresses.Where(a => a.TcpEndPoint is not null).Take(PeerStore.MaxAddressesPerPeer).ToList();
                            if (hints.Count > 0 || _dht.Host.Peers.GetAddresses(info.Id).Count > 0 || _dht.Host.GetConnection(info.Id) is not null)
                            {
                                Add(info.Id, hints);
                            }
                        }
                    }

                    if (onResponse(candidate.Peer, done.Result))
                    {
                        return;
                    }
                }
                else
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (stop.IsCancellationRequested)
                    {
                        return; // the lookup's deadline cancelled this request: not the peer's failure
                    }

                    candidate.State = CandidateState.Failed;
                    _dht.RoutingTable.MarkFailed(candidate.Peer);
                }
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            foreach (var task in inFlight.Keys)
            {
                _ = task.ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
            }
        }
    }

    private void Add(PeerId peer, IReadOnlyList<Multiaddr>? hints = null)
    {
        if (!_candidates.ContainsKey(peer) && !peer.Equals(_dht.Host.Id))
        {
            _candidates[peer] = new Candidate(peer, KeySpace.Position(peer.Bytes), hints ?? []);
        }
    }

    private enum CandidateState
    {
        Pending,
        InFlight,
        Responded,
        Failed,
    }

    private sealed class Candidate(PeerId peer, byte[] position, IReadOnlyList<Multiaddr> hints)
    {
        public PeerId Peer { get; } = peer;

        /// <summary>Addresses the answer that named this peer gave for it.</summary>
        public IReadOnlyList<Multiaddr> Hints { get; } = hints;

        public byte[] Position { get; } = position;

        public CandidateState State { get; set; }
    }

    private sealed class ByDistance(byte[] target) : IComparer<Candidate>
    {
        public int Compare(Candidate? x, Candidate? y) => KeySpace.CompareDistance(target, x!.Position, y!.Position);
    }
}
