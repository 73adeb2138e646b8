using System.Buffers.Binary;

namespace Spegel.Libp2p.Muxing;

internal enum YamuxType : byte
{
    Data = 0,
    WindowUpdate = 1,
    Ping = 2,
    GoAway = 3,
}

[Flags]
internal enum YamuxFlags : ushort
{
    None = 0,
    Syn = 0x1,
    Ack = 0x2,
    Fin = 0x4,
    Rst = 0x8,
}

/// <summary>A yamux frame header (specs yamux/README.md): 12 bytes, big-endian.</summary>
internal readonly record struct YamuxHeader(byte Version, YamuxType Type, YamuxFlags Flags, uint StreamId, uint Length)
{
    public const int Size = 12;

    public void Write(Span<byte> destination)
    {
        destination[0] = Version;
        destination[1] = (byte)Type;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)Flags);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], StreamId);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], Length);
    }

    public static YamuxHeader Read(ReadOnlySpan<byte> source) => new(
        source[0],
        (YamuxType)source[1],
        (YamuxFlags)BinaryPrimitives.ReadUInt16BigEndian(source[2..]),
        BinaryPrimitives.ReadUInt32BigEndian(source[4..]),
        BinaryPrimitives.ReadUInt32BigEndian(source[8..]));
}

/// <summary>GoAway codes.</summary>
internal static class YamuxGoAway
{
    public const uint Normal = 0;
    public const uint ProtocolError = 1;
    public const uint InternalError = 2;
}

public sealed record YamuxOptions
{
    /// <summary>The spec's initial window: 256 KiB per stream and direction.</summary>
    public const int InitialWindow = 256 * 1024;

    /// <summary>The receive window we grant once data flows (≥ 256 KiB); bounds memory per stream.</summary>
    public int ReceiveWindow { get; init; } = 1024 * 1024;

    /// <summary>Largest data frame we send: one yamux frame fills one Noise frame.</summary>
    public int MaxDataFrame { get; init; } = 65519 - YamuxHeader.Size;

    /// <summary>Inbound streams open at once; more are refused with RST.</summary>
    public int MaxInboundStreams { get; init; } = 512;

    /// <summary>
    /// Bytes of frames that may wait for the connection before the session is closed as a peer that does not read. The
    /// libp2p connection carries DHT messages only (blobs go over HTTP): its writers are a few answers (4 MiB at most
    /// each) and window updates, so 16 MiB is never reached by a peer that reads.
    /// </summary>
    public long MaxQueuedWriteBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>Keep-alive ping period (go sends one every 30 s and drops sessions that do not answer).</summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a keep-alive ping may go unanswered before the session is closed.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(15);
}

/// <summary>The peer broke the yamux protocol; the session is closed with GoAway(protocol error).</summary>
public sealed class YamuxProtocolException(string message) : IOException(message);

/// <summary>The stream was reset (RST) by either side, or its session closed.</summary>
public sealed class YamuxStreamResetException(string message) : IOException(message);
