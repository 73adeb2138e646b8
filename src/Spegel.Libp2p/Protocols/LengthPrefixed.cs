using System.Buffers;
using Google.Protobuf;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Streams;

namespace Spegel.Libp2p.Protocols;

/// <summary>
/// Messages framed as <c>uvarint(length) || bytes</c>. The claimed length is only checked against a limit: memory is
/// taken as bytes arrive, in pooled chunks charged to a <see cref="MessageBudget"/>, so a peer that announces a large
/// message and sends nothing costs nothing, and one that sends costs what it sent, within the budget.
/// </summary>
public static class LengthPrefixed
{
    /// <summary>Bytes read into one pooled chunk at most; small messages take one small chunk.</summary>
    private const int ChunkSize = 16 * 1024;

    /// <summary>What is read of a chunk before it is taken: a message that sends nothing holds no more than this.</summary>
    private const int HeadSize = 256;

    /// <summary>Reads one message; null at a clean end of stream.</summary>
    /// <exception cref="InvalidDataException">Longer than <paramref name="maxBytes"/>, or a bad varint.</exception>
    public static Task<byte[]?> ReadAsync(Stream stream, int maxBytes, CancellationToken cancellationToken) =>
        ReadAsync(stream, maxBytes, budget: null, started: null, cancellationToken);

    /// <summary>
    /// Reads one message; null at a clean end of stream. <paramref name="started"/> is called once the message's first
    /// byte has arrived (a server shortens its deadline from idle to one message's). While the message arrives, the
    /// bytes received so far are held in <paramref name="budget"/>; they are released when this returns.
    /// </summary>
    /// <exception cref="InvalidDataException">Longer than <paramref name="maxBytes"/>, or a bad varint.</exception>
    /// <exception cref="MessageBudgetExceededException">The budget cannot hold the bytes that arrived.</exception>
    public static async Task<byte[]?> ReadAsync(Stream stream, int maxBytes, MessageBudget? budget, Action? started, CancellationToken cancellationToken)
    {
        int? length = await ReadLengthAsync(stream, maxBytes, started, cancellationToken).ConfigureAwait(false);
        if (length is not { } total)
        {
            return null;
        }

        if (total == 0)
        {
            return [];
        }

        // Each chunk is taken (and charged) only once its first bytes are here, read into this small array first.
        byte[] head = new byte[Math.Min(total, HeadSize)];
        var chunks = new List<byte[]>();
        long charged = 0;
        try
        {
            int received = 0;
            while (received < total)
            {
                int want = Math.Min(total - received, ChunkSize);
                int first = await stream.ReadAsync(head.AsMemory(0, Math.Min(want, head.Length)), cancellationToken).ConfigureAwait(false);
                if (first == 0)
                {
                    throw new EndOfStreamException($"stream ended after {received} of a message's {total} bytes");
                }

                if (budget is not null && !budget.TryReserve(want))
                {
                    throw new MessageBudgetExceededException(
                        $"a message of {total} bytes does not fit: {received} received, {budget.InUse} of {budget.Limit} bytes in use on this connection, or the host's budget is spent");
                }

                charged += want;
                byte[] chunk = ArrayPool<byte>.Shared.Rent(want);
                chunks.Add(chunk);
                head.AsSpan(0, first).CopyTo(chunk);
                await stream.ReadExactlyAsync(chunk.AsMemory(first, want - first), cancellationToken).ConfigureAwait(false);
                received += want;
            }

            // Only now, with every byte here, is the message's own array allocated.
            byte[] message = GC.AllocateUninitializedArray<byte>(total);
            int offset = 0;
            foreach (var chunk in chunks)
            {
                int n = Math.Min(ChunkSize, total - offset);
                chunk.AsSpan(0, n).CopyTo(message.AsSpan(offset));
                offset += n;
            }

            return message;
        }
        finally
        {
            foreach (var chunk in chunks)
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }

            budget?.Release(charged);
        }
    }

    public static async Task WriteAsync(Stream stream, IMessage message, CancellationToken cancellationToken)
    {
        byte[] body = message.ToByteArray();
        await stream.WriteAsync((byte[])[.. Varint.Encode((ulong)body.Length), .. body], cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The length varint, one byte at a time (nothing past it is consumed); null at a clean end of stream.</summary>
    private static async Task<int?> ReadLengthAsync(Stream stream, int maxBytes, Action? started, CancellationToken cancellationToken)
    {
        byte[] varint = new byte[Varint.MaxBytes];
        for (int i = 0; i < varint.Length; i++)
        {
            int n = await stream.ReadAsync(varint.AsMemory(i, 1), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return i == 0 ? null : throw new EndOfStreamException("stream ended inside a varint");
            }

            if (i == 0)
            {
                started?.Invoke();
            }

            if ((varint[i] & 0x80) == 0)
            {
                if (!Varint.TryRead(varint.AsSpan(0, i + 1), out ulong length, out _))
                {
                    throw new InvalidDataException("non-minimal varint");
                }

                if (length > (ulong)maxBytes)
                {
                    throw new InvalidDataException($"message of {length} bytes exceeds the limit of {maxBytes}");
                }

                return (int)length;
            }
        }

        throw new InvalidDataException($"varint longer than {Varint.MaxBytes} bytes");
    }
}
