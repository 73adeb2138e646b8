using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;
using Spegel.Libp2p.Pnet;
using Spegel.Libp2p.Security;

namespace Spegel.Libp2p.Tests.Pnet;

/// <summary>
/// The private network's layer on a real loopback TCP connection, checked against the construction of the spec
/// (pnet/Private-Networks-PSK-V1.md) computed here from the cipher alone, and against js-libp2p's cipher.
/// </summary>
public sealed class PnetStreamTests
{
    private static readonly SwarmKey Key = new(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());

    /// <summary>
    /// XSalsa20 as BouncyCastle computes it is the cipher @libp2p/pnet uses (npm xsalsa20 1.2.0): its keystream for
    /// key 00..1f and nonce 40..57, taken in two pieces (37 + 163 bytes) as a stream is, was printed by that package.
    /// </summary>
    [Fact]
    public void TheCipherIsJsLibp2psXSalsa20()
    {
        const string expected =
            "f97f0c229fd953ef0080e833bd9cf90d25ad7f4489ddd636717f1a6bbc7daf994a1755793a51bb2ac659716168895af1ce3746546d435f" +
            "c8e4d522caf9d98354d4346911eeb7c604594c1c7931f25a2f80b4236da78eb04688d2bbb207779eb59fccb8a55bcffcbd5be491058d4e" +
            "05335242701eff1c19369f67bb41d136d5c683f13f48bd1e25fd6d497d381ec20d16862768009399d35d96bc08ca28364ae2e7a43e65d3" +
            "8b70c863e5db5e406586502f6aff9a293ce43f414a146d460aa9f7745d67f32d58ad56";
        byte[] nonce = Enumerable.Range(0x40, 24).Select(i => (byte)i).ToArray();
        var engine = Cipher(nonce);
        byte[] stream = new byte[200];
        engine.ProcessBytes(stream.AsSpan(0, 37), stream.AsSpan(0, 37)); // in place, as PnetStream reads
        engine.ProcessBytes(stream.AsSpan(37), stream.AsSpan(37));
        Assert.Equal(expected, Convert.ToHexStringLower(stream));
    }

    [Fact]
    public async Task EachSideSendsItsNonceThenXorsWithItsOwnKeystream()
    {
        var (ours, raw) = await SocketPairAsync();
        await using var _ = ours;
        await using var __ = raw;
        byte[] remoteNonce = RandomNumberGenerator.GetBytes(PnetStream.NonceLength);
        await raw.WriteAsync(remoteNonce);
        var stream = await PnetStream.ProtectAsync(ours, Key, ReadOnlyMemory<byte>.Empty, CancellationToken.None);
        byte[] localNonce = new byte[PnetStream.NonceLength];
        await raw.ReadExactlyAsync(localNonce);
        Assert.NotEqual(remoteNonce, localNonce);

        // Outbound: our plaintext ⊕ XSalsa20(key, our nonce), across writes, larger than one write chunk.
        byte[] plaintext = RandomNumberGenerator.GetBytes(200_000);
        var writing = Task.Run(async () =>
        {
            await stream.WriteAsync(plaintext.AsMemory(0, 1000));
            await stream.WriteAsync(plaintext.AsMemory(1000));
        });
        byte[] wire = new byte[plaintext.Length];
        await raw.ReadExactlyAsync(wire);
        await writing;
        Assert.NotEqual(plaintext.AsSpan(0, 64).ToArray(), wire.AsSpan(0, 64).ToArray());
        Cipher(localNonce).ProcessBytes(wire, wire);
        Assert.Equal(plaintext, wire);

        // Inbound: what the remote sends under its own nonce comes out as plaintext.
        byte[] answer = RandomNumberGenerator.GetBytes(70_000);
        byte[] encrypted = new byte[answer.Length];
        Cipher(remoteNonce).ProcessBytes(answer, encrypted);
        await raw.WriteAsync(encrypted);
        byte[] received = new byte[answer.Length];
        await stream.ReadExactlyAsync(received);
        Assert.Equal(answer, received);
    }

    [Fact]
    public async Task TwoSidesExchangeLargeTransfersBothWaysAtOnce()
    {
        var (a, b) = await SocketPairAsync();
        var protecting = PnetStream.ProtectAsync(a, Key, ReadOnlyMemory<byte>.Empty, CancellationToken.None);
        await using var left = await PnetStream.ProtectAsync(b, Key, ReadOnlyMemory<byte>.Empty, CancellationToken.None);
        await using var right = await protecting;
        byte[] one = RandomNumberGenerator.GetBytes(1 << 20);
        byte[] two = RandomNumberGenerator.GetBytes(1 << 20);
        var results = await Task.WhenAll(TransferAsync(left, right, one), TransferAsync(right, left, two));
        Assert.Equal(one, results[0]);
        Assert.Equal(two, results[1]);
    }

    [Fact]
    public async Task WithoutAKeyTheConnectionIsLeftAsItIs()
    {
        var (a, b) = await SocketPairAsync();
        await using var _ = a;
        await using var __ = b;
        Assert.Same(a, await PnetStream.ProtectAsync(a, null, Multistream.Encode(Multistream.ProtocolId), CancellationToken.None));
    }

    [Fact]
    public async Task AnotherKeyFailsWithAMessageThatSaysSo()
    {
        var (a, b) = await SocketPairAsync();
        byte[] header = Multistream.Encode(Multistream.ProtocolId);
        var protecting = PnetStream.ProtectAsync(a, Key, header, CancellationToken.None);
        await using var other = await PnetStream.ProtectAsync(b, SwarmKey.Generate(), header, CancellationToken.None);
        await using var ours = await protecting;
        await other.WriteAsync(header);
        var error = await Assert.ThrowsAsync<InvalidDataException>(async () => await Multistream.ReadAsync(ours, CancellationToken.None));
        Assert.Contains("do not decrypt with our swarm key", error.Message, StringComparison.Ordinal);

        // The positive control: the same bytes under the same key are the header.
        var (c, d) = await SocketPairAsync();
        var same = PnetStream.ProtectAsync(c, Key, header, CancellationToken.None);
        await using var sender = await PnetStream.ProtectAsync(d, Key, header, CancellationToken.None);
        await using var receiver = await same;
        await sender.WriteAsync(header);
        Assert.Equal(Multistream.ProtocolId, await Multistream.ReadAsync(receiver, CancellationToken.None));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(23)]
    public async Task AHangUpDuringTheNonceExchangeIsAnEndOfStream(int sent)
    {
        var (ours, raw) = await SocketPairAsync();
        await using var _ = ours;
        await raw.WriteAsync(new byte[sent]);
        await raw.DisposeAsync();
        var error = await Assert.ThrowsAsync<EndOfStreamException>(() => PnetStream.ProtectAsync(ours, Key, ReadOnlyMemory<byte>.Empty, CancellationToken.None));
        Assert.Contains("nonce exchange", error.Message, StringComparison.Ordinal);
    }

    private static async Task<byte[]> TransferAsync(Stream from, Stream to, byte[] data)
    {
        var random = new Random(data[0]);
        var sending = Task.Run(async () =>
        {
            for (int offset = 0; offset < data.Length;)
            {
                int n = Math.Min(data.Length - offset, random.Next(1, 100_000));
                await from.WriteAsync(data.AsMemory(offset, n));
                offset += n;
            }
        });
        byte[] received = new byte[data.Length];
        await to.ReadExactlyAsync(received);
        await sending;
        return received;
    }

    private static XSalsa20Engine Cipher(byte[] nonce)
    {
        var engine = new XSalsa20Engine();
        engine.Init(true, new ParametersWithIV(new KeyParameter(Key.Bytes), nonce));
        return engine;
    }

    /// <summary>Both ends of a loopback TCP connection.</summary>
    internal static async Task<(NetworkStream A, NetworkStream B)> SocketPairAsync()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var accepting = listener.AcceptSocketAsync();
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        var server = await accepting;
        return (new NetworkStream(client, ownsSocket: true), new NetworkStream(server, ownsSocket: true));
    }
}
