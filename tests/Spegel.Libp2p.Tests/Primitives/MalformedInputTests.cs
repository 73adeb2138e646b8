using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Tests.Primitives;

/// <summary>Every decoder of bytes from the network rejects bad input cleanly, and survives random input.</summary>
public sealed class MalformedInputTests
{
    [Theory]
    [InlineData("")]
    [InlineData("80")]
    [InlineData("8000")]
    [InlineData("ff80")]
    [InlineData("ffffffffffffffffff01")]
    [InlineData("808080808080808080")]
    public void VarintsThatAreTruncatedNonMinimalOrTooLong(string hex) =>
        Assert.False(Varint.TryRead(Convert.FromHexString(hex), out _, out _));

    [Fact]
    public async Task VarintReadsStopAtNineBytesAndAtTheEnd()
    {
        await Assert.ThrowsAsync<InvalidDataException>(async () => await Varint.ReadAsync(new MemoryStream(Convert.FromHexString("ffffffffffffffffff01")), CancellationToken.None));
        await Assert.ThrowsAsync<EndOfStreamException>(async () => await Varint.ReadAsync(new MemoryStream(Convert.FromHexString("80")), CancellationToken.None));
        await Assert.ThrowsAsync<InvalidDataException>(async () => await Varint.ReadAsync(new MemoryStream(Convert.FromHexString("8000")), CancellationToken.None));
    }

    [Theory]
    [InlineData("")]
    [InlineData("12")]
    [InlineData("1220")]
    [InlineData("1220aa")]
    [InlineData("1210aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("00ffff7f")]
    public void MultihashesWithWrongLengths(string hex) => Assert.False(Multihash.TryParse(Convert.FromHexString(hex), out _));

    [Theory]
    [InlineData("")]
    [InlineData("ip4/1.2.3.4")]
    [InlineData("/ip4")]
    [InlineData("/ip4/1.2.3")]
    [InlineData("/ip4/1.2.3.4/tcp/65536")]
    [InlineData("/ip4/1.2.3.4/tcp/-1")]
    [InlineData("/ip6/1.2.3.4")]
    [InlineData("/foo/bar")]
    [InlineData("/p2p/notapeerid")]
    [InlineData("/dns4")]
    public void MultiaddrTextThatIsInvalid(string text) => Assert.False(Multiaddr.TryParse(text, out _, out _));

    [Theory]
    [InlineData("")]
    [InlineData("04")]
    [InlineData("047f0000")]
    [InlineData("047f00000106")]
    [InlineData("ff01")]
    [InlineData("a50305")]
    [InlineData("a50326aaaa")]
    [InlineData("35ff")]
    public void MultiaddrBytesThatAreInvalid(string hex) => Assert.False(Multiaddr.TryDecode(Convert.FromHexString(hex), out _));

    [Theory]
    [InlineData("")]
    [InlineData("12D3KooW")]
    [InlineData("0OIl")]
    [InlineData("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi")]
    [InlineData("not a peer id at all")]
    public void PeerIdsThatAreInvalid(string text) => Assert.False(PeerId.TryParse(text, out _));

    [Fact]
    public void KeysOfOtherTypesAreRefusedWithAClearError()
    {
        var rsa = new Spegel.Libp2p.Protos.PublicKeyProto { Type = Spegel.Libp2p.Protos.KeyType.Rsa, Data = Google.Protobuf.ByteString.CopyFrom(new byte[270]) };
        var ex = Assert.Throws<NotSupportedException>(() => PublicKey.FromProtobuf(Google.Protobuf.MessageExtensions.ToByteArray(rsa)));
        Assert.Contains("Ed25519", ex.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidDataException>(() => new PublicKey(new byte[31]));
    }

    [Fact]
    public void RandomAndMutatedBytesNeverCrashTheDecoders()
    {
        var random = new Random(11);
        var seeds = new List<byte[]>
        {
            Multiaddr.Parse("/ip4/10.0.0.5/tcp/5001").ToArray(),
            Multiaddr.Parse($"/ip6/::1/tcp/1/p2p/{PrivateKey.Generate().PeerId}").ToArray(),
            Cid.ForKey("foobar").ToBytes(),
            PrivateKey.Generate().PeerId.ToArray(),
        };
        for (int i = 0; i < 50_000; i++)
        {
            byte[] input = i % 2 == 0 ? Mutate(seeds[random.Next(seeds.Count)], random) : RandomBytes(random);
            _ = Varint.TryRead(input, out _, out _);
            _ = Multihash.TryParse(input, out _);
            _ = Multiaddr.TryDecode(input, out var addr);
            _ = addr?.ToString();
            _ = Cid.TryParseBytes(input, out _);
            _ = PeerId.TryFromBytes(input, out var id);
            _ = id?.TryGetPublicKey();
        }
    }

    [Fact]
    public void RandomTextNeverCrashesTheParsers()
    {
        var random = new Random(12);
        const string alphabet = "/ip46tcpudp2fsdn0123456789.:abcxyzQmW";
        for (int i = 0; i < 20_000; i++)
        {
            var text = new string(Enumerable.Range(0, random.Next(0, 40)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            _ = Multiaddr.TryParse(text, out _, out _);
            _ = PeerId.TryParse(text, out _);
            _ = Cid.TryParse(text, out _);
        }
    }

    internal static byte[] Mutate(byte[] seed, Random random)
    {
        byte[] copy = (byte[])seed.Clone();
        switch (random.Next(4))
        {
            case 0 when copy.Length > 0:
                copy[random.Next(copy.Length)] = (byte)random.Next(256);
                return copy;
            case 1 when copy.Length > 0:
                return copy[..random.Next(copy.Length)];
            case 2:
                return [.. copy, .. RandomBytes(random, 8)];
            default:
                if (copy.Length > 0)
                {
                    copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8));
                }

                return copy;
        }
    }

    internal static byte[] RandomBytes(Random random, int max = 64)
    {
        byte[] bytes = new byte[random.Next(0, max)];
        random.NextBytes(bytes);
        return bytes;
    }
}
