using System.Net;

namespace Spegel.Libp2p.Transport;

/// <summary>
/// Who may start a handshake: per source IP and in all, with fair eviction when the host's handshake slots are full,
/// and per-IP counts of established inbound connections. One lock; every operation is O(1) but for the search of the
/// IP holding the most handshakes, which only runs when all slots are taken (at most <see cref="HostOptions.MaxPendingHandshakes"/> IPs).
/// </summary>
internal sealed class ConnectionAdmission(HostOptions options)
{
    private readonly object _gate = new();
    private readonly Dictionary<IPAddress, LinkedList<Ticket>> _pending = [];
    private readonly Dictionary<IPAddress, int> _established = [];
    private int _pendingCount;

    public int PendingCount
    {
        get
        {
            lock (_gate)
            {
                return _pendingCount;
            }
        }
    }

    /// <summary>A handshake slot, or null with the reason it is refused.</summary>
    public Ticket? TryAdmit(IPAddress ip, out string? refusal)
    {
        Ticket? evicted = null;
        Ticket ticket;
        lock (_gate)
        {
            if (_established.TryGetValue(ip, out int connected) && connected >= options.MaxConnectionsPerIp)
            {
                refusal = $"{connected} connections from this address (limit {options.MaxConnectionsPerIp})";
                return null;
            }

            _pending.TryGetValue(ip, out var mine);
            int held = mine?.Count ?? 0;
            if (held >= options.MaxPendingHandshakesPerIp)
            {
                refusal = $"{held} handshakes from this address (limit {options.MaxPendingHandshakesPerIp})";
                return null;
            }

            if (_pendingCount >= options.MaxPendingHandshakes)
            {
                // Full: the address holding the most slots gives up its oldest to an address holding fewer.
                var heaviest = _pending.MaxBy(p => p.Value.Count).Value;
                if (heaviest is null || heaviest.Count <= held + 1)
                {
                    refusal = $"{_pendingCount} handshakes in progress (limit {options.MaxPendingHandshakes})";
                    return null;
                }

                evicted = heaviest.First!.Value;
                RemoveLocked(evicted);
            }

            if (mine is null)
            {
                _pending[ip] = mine = new LinkedList<Ticket>();
            }

            ticket = new Ticket(this, ip);
            ticket.Node = mine.AddLast(ticket);
            _pendingCount++;
        }

        evicted?.Evict();
        refusal = null;
        return ticket;
    }

    /// <summary>An inbound connection from <paramref name="ip"/> was established.</summary>
    public void Connected(IPAddress ip)
    {
        lock (_gate)
        {
            _established[ip] = _established.GetValueOrDefault(ip) + 1;
        }
    }

    public void Disconnected(IPAddress ip)
    {
        lock (_gate)
        {
            if (_established.TryGetValue(ip, out int n))
            {
                if (n <= 1)
                {
                    _established.Remove(ip);
                }
                else
                {
                    _established[ip] = n - 1;
                }
            }
        }
    }

    public int ConnectedFrom(IPAddress ip)
    {
        lock (_gate)
        {
            return _established.GetValueOrDefault(ip);
        }
    }

    private void Release(Ticket ticket)
    {
        lock (_gate)
        {
            RemoveLocked(ticket);
        }
    }

    private void RemoveLocked(Ticket ticket)
    {
        if (ticket.Node?.List is not { } list)
        {
            return; // released already (evicted, then ended)
        }

        list.Remove(ticket.Node);
        ticket.Node = null;
        _pendingCount--;
        if (list.Count == 0)
        {
            _pending.Remove(ticket.Address);
        }
    }

    /// <summary>One handshake's slot: disposed when the handshake ends; <see cref="Evicted"/> fires if it was given away.</summary>
    internal sealed class Ticket(ConnectionAdmission owner, IPAddress address) : IDisposable
    {
        private readonly CancellationTokenSource _evicted = new();

        public IPAddress Address { get; } = address;

        public CancellationToken Evicted => _evicted.Token;

        internal LinkedListNode<Ticket>? Node { get; set; }

        internal void Evict()
        {
            try
            {
                _evicted.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        public void Dispose()
        {
            owner.Release(this);
            _evicted.Dispose();
        }
    }
}

/// <summary>Says when a repeated event may be logged at its full level: once per interval, with how many were not.</summary>
internal sealed class LogThrottle(TimeSpan interval, TimeProvider time)
{
    private readonly object _gate = new();
    private DateTimeOffset _next = DateTimeOffset.MinValue;
    private long _suppressed;

    /// <summary>True once per interval, with the count of events since the last true; false otherwise.</summary>
    public bool ShouldLog(out long suppressed)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            if (now < _next)
            {
                _suppressed++;
                suppressed = 0;
                return false;
            }

            _next = now + interval;
            suppressed = _suppressed;
            _suppressed = 0;
            return true;
        }
    }
}
