using System.Text;
using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Security;

/// <summary>
/// multistream-select 1.0 (specs connections/README.md): lines <c>varint(len) utf8 '\n'</c>, at most 1024 bytes.
/// Reads consume exactly one message, never more, so bytes a peer pipelines after the negotiation (lazy select)
/// stay in the stream for the protocol.
/// </summary>
public static class Multistream
{
    public const string ProtocolId = "/multistream/1.0.0";
    public const string NotAvailable = "na";
    public const int MaxMessageBytes = 1024;

    public static byte[] Encode(string line)
    {
        byte[] text = Encoding.UTF8.GetBytes(line + "\n");
        return [.. Varint.Encode((ulong)text.Length), .. text];
    }

    /// <summary>Reads one message and returns it without the newline.</summary>
    /// <exception cref="InvalidDataException">Too long, empty or without the trailing newline.</exception>
    public static async ValueTask<string> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        ulong length = await Varint.ReadAsync(stream, cancellationToken).ConfigureAwait(false);
        if (length is 0 or > MaxMessageBytes)
        {
            throw new InvalidDataException($"multistream message of {length} bytes (1..{MaxMessageBytes} allowed)");
        }

        byte[] buffer = new byte[length];
        await stream.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (buffer[^1] != (byte)'\n')
        {
            throw new InvalidDataException("multistream message without a trailing newline");
        }

        return Encoding.UTF8.GetString(buffer, 0, buffer.Length - 1);
    }

    /// <summary>
    /// Dialer side for one protocol, pipelined: header and proposal go out in one write (plus any
    /// <paramref name="firstBytes"/>), then the answers are read.
    /// </summary>
    /// <returns>False when the remote answered <c>na</c>.</returns>
    public static async Task<bool> SelectAsync(Stream stream, string protocol, CancellationToken cancellationToken)
    {
        byte[] proposal = [.. Encode(ProtocolId), .. Encode(protocol)];
        await stream.WriteAsync(proposal, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        string header = await ReadAsync(stream, cancellationToken).ConfigureAwait(false);
        if (header != ProtocolId)
        {
            throw new InvalidDataException($"expected {ProtocolId}, got '{Printable(header)}'");
        }

        string answer = await ReadAsync(stream, cancellationToken).ConfigureAwait(false);
        if (answer == protocol)
        {
            return true;
        }

        if (answer == NotAvailable)
        {
            return false;
        }

        throw new InvalidDataException($"proposed {protocol}, got '{Printable(answer)}'");
    }

    /// <summary>Dialer side with fallbacks: proposes each protocol in turn (after the first, one round trip each).</summary>
    public static async Task<string?> SelectOneOfAsync(Stream stream, IReadOnlyList<string> protocols, CancellationToken cancellationToken)
    {
        if (await SelectAsync(stream, protocols[0], cancellationToken).ConfigureAwait(false))
        {
            return protocols[0];
        }

        foreach (string protocol in protocols.Skip(1))
        {
            await stream.WriteAsync(Encode(protocol), cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            string answer = await ReadAsync(stream, cancellationToken).ConfigureAwait(false);
            if (answer == protocol)
            {
                return protocol;
            }

            if (answer != NotAvailable)
            {
                throw new InvalidDataException($"proposed {protocol}, got '{Printable(answer)}'");
            }
        }

        return null;
    }

    /// <summary>
    /// Listener side: sends the header at once, then answers proposals (<c>na</c> to unknown ones, and to
    /// <c>ls</c>) until one is supported. At most <paramref name="maxProposals"/> are considered.
    /// </summary>
    public static async Task<string> AcceptAsync(Stream stream, Func<string, bool> supported, CancellationToken cancellationToken, int maxProposals = 16)
    {
        await stream.WriteAsync(Encode(ProtocolId), cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        string header = await ReadAsync(stream, cancellationToken).ConfigureAwait(false);
        if (header != ProtocolId)
        {
            throw new InvalidDataException($"expected {ProtocolId}, got '{Printable(header)}'");
        }

        for (int i = 0; i < maxProposals; i++)
        {
            string proposal = await ReadAsync(stream, cancellationToken).ConfigureAwait(false);
            if (proposal != "ls" && supported(proposal))
            {
                await stream.WriteAsync(Encode(proposal), cancellationToken).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                return proposal;
            }

            await stream.WriteAsync(Encode(NotAvailable), cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        throw new InvalidDataException($"no supported protocol in {maxProposals} proposals");
    }

    private static string Printable(string s) => s.Length > 64 ? s[..64] + "…" : s;
}
