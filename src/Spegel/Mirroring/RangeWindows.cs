using Spegel.Routing;

namespace Spegel.Mirroring;

/// <summary>
/// How the relay of an open-ended range (<c>bytes=first-</c>) asks peers: in windows of at most
/// <see cref="MirrorOptions.RangeWindow"/> bytes that never cross the end of the client's chunk once the blob's
/// <see cref="ChunkGrid"/> is known, each window asked of the peers in the stripe order of its chunk. containerd 2.1
/// reads one chunk of such a range and closes: a peer then never sends more than what the client reads plus at most one
/// window (and none when the client closes within <see cref="MirrorOptions.ChunkEndGrace"/> of its chunk's end).
/// </summary>
internal sealed class RangeWindows(ChunkGrid grid, string blob, long window, Func<long, IAsyncEnumerator<RoutedPeer>> peersFrom)
{
    /// <summary>The last byte of the window starting at <paramref name="position"/>, at most <paramref name="last"/>.</summary>
    public long EndOf(long position, long last)
    {
        long end = position > long.MaxValue - window ? long.MaxValue : position + window;
        if (grid.Grid(blob) is { } g)
        {
            end = Math.Min(end, ((position / g) + 1) * g);
        }

        return Math.Min(end - 1, last);
    }

    /// <summary>Whether <paramref name="position"/> starts a chunk of the client's grid (the client may be gone).</summary>
    public bool AtChunkStart(long position) => grid.Grid(blob) is { } g && position % g == 0;

    /// <summary>The peers to ask for the window at <paramref name="position"/>, in its stripe's order.</summary>
    public IAsyncEnumerator<RoutedPeer> PeersFrom(long position) => peersFrom(position);
}
