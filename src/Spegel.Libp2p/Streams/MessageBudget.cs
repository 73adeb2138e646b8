namespace Spegel.Libp2p.Streams;

/// <summary>
/// Bytes of length-prefixed messages held while they arrive, per connection and for the whole host. A connection may
/// hold up to <see cref="Floor"/> bytes without asking the host (so a peer sending small requests is never starved by
/// others filling the global budget); beyond that, every byte is also charged to the parent. Thread-safe.
/// </summary>
public sealed class MessageBudget
{
    private readonly MessageBudget? _parent;
    private readonly object _gate = new();
    private long _used;

    public MessageBudget(long limit, MessageBudget? parent = null, long floor = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        ArgumentOutOfRangeException.ThrowIfNegative(floor);
        Limit = limit;
        Floor = parent is null ? 0 : Math.Min(floor, limit);
        _parent = parent;
    }

    public long Limit { get; }

    /// <summary>What this budget may hold without charging its parent.</summary>
    public long Floor { get; }

    public long InUse
    {
        get
        {
            lock (_gate)
            {
                return _used;
            }
        }
    }

    /// <summary>Reserves <paramref name="bytes"/>, here and in the parent for the part above the floor; false when either is full.</summary>
    public bool TryReserve(long bytes)
    {
        lock (_gate)
        {
            long after = _used + bytes;
            if (after > Limit)
            {
                return false;
            }

            long parentCharge = AboveFloor(after) - AboveFloor(_used);
            if (parentCharge > 0 && !_parent!.TryReserve(parentCharge))
            {
                return false;
            }

            _used = after;
            return true;
        }
    }

    public void Release(long bytes)
    {
        lock (_gate)
        {
            long after = Math.Max(0, _used - bytes);
            long parentRefund = AboveFloor(_used) - AboveFloor(after);
            _used = after;
            if (parentRefund > 0)
            {
                _parent!.Release(parentRefund);
            }
        }
    }

    private long AboveFloor(long used) => _parent is null ? 0 : Math.Max(0, used - Floor);
}

/// <summary>A message would take more memory than its connection's or the host's budget allows: the stream is reset.</summary>
public sealed class MessageBudgetExceededException(string message) : IOException(message);
