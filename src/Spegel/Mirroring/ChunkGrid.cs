using System.Collections.Concurrent;
using System.Globalization;

namespace Spegel.Mirroring;

/// <summary>
/// The chunk size a multipart client cuts a blob into, learnt from the ranges it asks for. containerd 2.1
/// (<c>max_concurrent_downloads</c> with <c>concurrent_layer_fetch_buffer</c> = C) asks for chunk i of a layer as the
/// open-ended <c>Range: bytes=i·C-</c>, reads C bytes and closes the connection. The greatest common divisor of the
/// starts seen for a blob is C as soon as two chunks were asked (gcd(C, 2C) = gcd(2C, 3C) = C), so the mirror can
/// ask peers for no more than the chunk (<see cref="VerifiedBlobRelay"/>) and send consecutive chunks to different
/// peers (<see cref="StripeIndex"/>).
/// <para>
/// Bounded and forgetful: a grid is believed only from two starts and when it is at least <see cref="MinGrid"/>; a
/// start that would make it smaller (another client's ranges, a resume at an odd offset) starts it again from that
/// start, so the next two chunks of a multipart client set it right; an entry is forgotten after
/// <see cref="Lifetime"/> without a request; at most <see cref="MaxEntries"/> blobs are remembered (beyond that the
/// oldest half is dropped).
/// </para>
/// </summary>
internal sealed class ChunkGrid(TimeProvider time)
{
    /// <summary>The smallest chunk size believed (containerd's own minimum is 512 bytes; chunks that small would cost
    /// a request per chunk to peers).</summary>
    public const long MinGrid = 1024 * 1024;

    public const int MaxEntries = 4096;

    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(2);

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    private sealed record Entry(long Gcd, int Starts, DateTimeOffset Seen);

    public int Count => _entries.Count;

    /// <summary>Records a ranged request for <paramref name="key"/> starting at <paramref name="start"/>; returns the grid.</summary>
    public long? Observe(string key, long start)
    {
        var now = time.GetUtcNow();
        if (start <= 0)
        {
            return Grid(key);
        }

        if (_entries.Count >= MaxEntries && !_entries.ContainsKey(key))
        {
            Trim(now);
        }

        var entry = _entries.AddOrUpdate(
            key,
            _ => new Entry(start, 1, now),
            (_, old) => Expired(old, now) || Gcd(old.Gcd, start) < MinGrid ? new Entry(start, 1, now) : new Entry(Gcd(old.Gcd, start), old.Starts + 1, now));
        return Believed(entry);
    }

    /// <summary>The grid of <paramref name="key"/> when known (two starts, at least <see cref="MinGrid"/>), else null.</summary>
    public long? Grid(string key) =>
        _entries.TryGetValue(key, out var entry) && !Expired(entry, time.GetUtcNow()) ? Believed(entry) : null;

    /// <summary>
    /// Which stripe a range starting at <paramref name="start"/> belongs to: its chunk index when the grid is known,
    /// else a hash of the offset (so unknown chunks still spread). The first peer asked is the stripe's, counted from
    /// a per-blob origin (<see cref="StripeOrder{T}"/>).
    /// </summary>
    public static ulong StripeIndex(long start, long? grid) =>
        grid is { } g ? (ulong)(start / g) : unchecked((ulong)start * 0x9E3779B97F4A7C15UL) >> 17;

    /// <summary>
    /// <paramref name="peers"/> (sorted by <paramref name="id"/>, so every node orders them alike) rotated to start at
    /// (hash(<paramref name="key"/>) + <paramref name="stripe"/>) mod n: chunk i, i+1, i+2 of one blob start at
    /// different peers; chunk 0 of different blobs start at different peers.
    /// </summary>
    public static List<T> StripeOrder<T>(IEnumerable<T> peers, Func<T, string> id, string key, ulong stripe)
    {
        var sorted = peers.OrderBy(id, StringComparer.Ordinal).ToList();
        if (sorted.Count < 2)
        {
            return sorted;
        }

        int first = (int)((Fnv1a(key) + stripe) % (ulong)sorted.Count);
        return [.. sorted.Skip(first), .. sorted.Take(first)];
    }

    /// <summary>The start of a single <c>bytes=first-</c> or <c>bytes=first-last</c> range; null for anything else.</summary>
    public static long? RangeStart(string? range, out bool openEnded)
    {
        openEnded = false;
        if (range is null || !range.StartsWith("bytes=", StringComparison.Ordinal))
        {
            return null;
        }

        var spec = range.AsSpan(6);
        int dash = spec.IndexOf('-');
        if (dash <= 0 || spec.Contains(',')
            || !long.TryParse(spec[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out long first))
        {
            return null;
        }

        var last = spec[(dash + 1)..];
        if (last.IsEmpty)
        {
            openEnded = true;
            return first;
        }

        return long.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out long end) && end >= first ? first : null;
    }

    private static long? Believed(Entry entry) => entry.Starts >= 2 && entry.Gcd >= MinGrid ? entry.Gcd : null;

    private static bool Expired(Entry entry, DateTimeOffset now) => now - entry.Seen > Lifetime;

    private void Trim(DateTimeOffset now)
    {
        foreach (var (key, _) in _entries.OrderBy(e => e.Value.Seen).Take(Math.Max(1, _entries.Count / 2)))
        {
            _entries.TryRemove(key, out _);
        }

        foreach (var (key, entry) in _entries)
        {
            if (Expired(entry, now))
            {
                _entries.TryRemove(key, out _);
            }
        }
    }

    private static long Gcd(long a, long b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return a;
    }

    private static ulong Fnv1a(string text)
    {
        ulong hash = 14695981039346656037UL;
        foreach (char c in text)
        {
            hash = unchecked((hash ^ c) * 1099511628211UL);
        }

        return hash;
    }
}
