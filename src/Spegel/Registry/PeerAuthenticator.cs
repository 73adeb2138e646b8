using System.Net;
using Spegel.Oci;
using Spegel.Telemetry;

namespace Spegel.Registry;

/// <summary>What a request's <see cref="PeerProtocol.ProofHeader"/> proved.</summary>
internal enum ProofStatus
{
    /// <summary>No proof sent.</summary>
    Absent,

    /// <summary>Signed with our peer key, for this node, recently, never seen before.</summary>
    Valid,

    /// <summary>Malformed, another key's, or addressed to another host (<see cref="RefusalReason.ProofInvalid"/>).</summary>
    Invalid,

    /// <summary>Outside the clock skew.</summary>
    Expired,

    /// <summary>Seen before.</summary>
    Replayed,

    /// <summary>The replay window is full (refused rather than risk a replay).</summary>
    WindowFull,
}

/// <summary>
/// Checks the proofs our peers send (<see cref="PeerProof"/>): the MAC under this node's peer key over the request as
/// received, the <c>Host</c> the sender addressed being this node's (a proof one node received cannot be replayed at
/// another), the time within <see cref="MaxSkew"/> of ours, and the nonce never seen within that window. Nonces are
/// remembered only after the MAC matched (so only key holders fill the window), at most <see cref="MaxRemembered"/>.
/// </summary>
internal sealed class PeerAuthenticator(PeerKey? key, INodeAddresses node, TimeProvider time)
{
    /// <summary>Clocks of nodes may differ by this much (nodes run NTP; a larger drift makes peers refuse each other).</summary>
    public static readonly TimeSpan MaxSkew = TimeSpan.FromSeconds(60);

    /// <summary>The most proofs remembered at once: 2 minutes of ~500 peer requests a second to this node.</summary>
    public const int MaxRemembered = 65_536;

    private readonly Dictionary<string, long> _seen = new(StringComparer.Ordinal);
    private readonly Queue<(string Nonce, long Expires)> _order = new();

    public static PeerAuthenticator None { get; } = new(null, FixedNodeAddresses.None, TimeProvider.System);

    /// <summary>The key our proofs are checked with, or null (no swarm key and no Basic auth: nothing to prove with).</summary>
    public PeerKey? Key => key;

    /// <summary>
    /// With a swarm key, peer-only behaviour (a request answered as a peer's, a download in progress) needs a valid
    /// proof: <c>X-Spegel-Mirrored</c> alone is refused.
    /// </summary>
    public bool ProofRequired => key?.Source == PeerKeySource.SwarmKey;

    /// <summary>Checks the proof header of a request for <paramref name="target"/> (the raw request target).</summary>
    public ProofStatus Check(string? header, string method, string? host, string target, IPAddress? connectionLocal)
    {
        if (string.IsNullOrEmpty(header))
        {
            return ProofStatus.Absent;
        }

        if (key is null || PeerProof.Parse(header) is not { } proof || string.IsNullOrEmpty(host) || !IsAddressedHere(host, connectionLocal)
            || !proof.Verify(key, method, host, target))
        {
            return ProofStatus.Invalid;
        }

        long now = time.GetUtcNow().ToUnixTimeSeconds();
        if (Math.Abs(now - proof.UnixSeconds) > (long)MaxSkew.TotalSeconds)
        {
            return ProofStatus.Expired;
        }

        return Remember(proof.Nonce, proof.UnixSeconds + (long)MaxSkew.TotalSeconds, now);
    }

    private ProofStatus Remember(string nonce, long expires, long now)
    {
        lock (_seen)
        {
            while (_order.TryPeek(out var oldest) && oldest.Expires < now)
            {
                _order.Dequeue();
                _seen.Remove(oldest.Nonce);
            }

            if (_seen.ContainsKey(nonce))
            {
                return ProofStatus.Replayed;
            }

            if (_seen.Count >= MaxRemembered)
            {
                Prune(now);
                if (_seen.Count >= MaxRemembered)
                {
                    return ProofStatus.WindowFull;
                }
            }

            _seen[nonce] = expires;
            _order.Enqueue((nonce, expires));
            return ProofStatus.Valid;
        }
    }

    /// <summary>Drops every expired nonce, wherever it is in arrival order (proof times may arrive out of order).</summary>
    private void Prune(long now)
    {
        int count = _order.Count;
        for (int i = 0; i < count; i++)
        {
            var entry = _order.Dequeue();
            if (entry.Expires < now)
            {
                _seen.Remove(entry.Nonce);
            }
            else
            {
                _order.Enqueue(entry);
            }
        }
    }

    /// <summary>The Host names an IP of this node: the one the connection arrived on, or another of its own.</summary>
    private bool IsAddressedHere(string host, IPAddress? connectionLocal)
    {
        // "ip:port" or "[ipv6]:port", as our peer client writes it.
        int colon = host.LastIndexOf(':');
        if (colon <= 0)
        {
            return false;
        }

        string ip = host[..colon];
        if (ip.StartsWith('[') && ip.EndsWith(']'))
        {
            ip = ip[1..^1];
        }

        if (!IPAddress.TryParse(ip, out var address) || !ushort.TryParse(host.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _))
        {
            return false;
        }

        address = NodeAddress.Normalize(address);
        return (connectionLocal is not null && address.Equals(NodeAddress.Normalize(connectionLocal))) || node.Contains(address);
    }
}
