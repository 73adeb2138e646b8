using System.Security.Cryptography;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Tests.Primitives;

/// <summary>The vectors of P2P-WIRE.md (A.4, B.1, B.8, B.10), reproduced there with js-libp2p.</summary>
public sealed class VectorTests
{
    [Theory]
    [InlineData("foobar", "bafkreigdvoh7cnza5cwzar65hfdgwpejotszfqx2ha6uuolaofgk54ge6i", "1220c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2")]
    [InlineData("sha256:3caa2469de2a23cbcc209dd0b9d01cd78ff9a0f88741655991d36baede5b0996", "bafkreibvztr22db666h4vl3ozfdvbefdarbz54iuhenlvr6bvz5fxlfrwy", "122035cce3ad0c3ef78fcaaf6ec9475090a304439ef114391abac7c1ae7a5bacb1b6")]
    [InlineData("docker.io/library/nginx:1.27", "bafkreidjmwqqyfjjblilfhfh7umgnxqykbaiwpfrl6yruo53xqx53mkyxu", "12206965a10c15290ad0b29ca7fd1866de1850408b3cb15fb11a3bbbbc2fddb158bd")]
    public void SpegelKeysToCidsAndDhtKeys(string key, string cid, string multihash)
    {
        var actual = Cid.ForKey(key);
        Assert.Equal(cid, actual.ToString());
        Assert.Equal(multihash, Convert.ToHexStringLower(actual.Hash.Bytes));
        Assert.True(Cid.TryParse(cid, out var parsed));
        Assert.Equal(actual, parsed);
    }

    [Theory]
    [InlineData(19UL, "13")]
    [InlineData(273UL, "9102")]
    [InlineData(421UL, "a503")]
    [InlineData(461UL, "cd03")]
    [InlineData(0UL, "00")]
    [InlineData(127UL, "7f")]
    [InlineData(128UL, "8001")]
    public void Varints(ulong value, string hex)
    {
        Assert.Equal(hex, Convert.ToHexStringLower(Varint.Encode(value)));
        Assert.True(Varint.TryRead(Convert.FromHexString(hex), out ulong read, out int consumed));
        Assert.Equal(value, read);
        Assert.Equal(hex.Length / 2, consumed);
    }

    [Fact]
    public void PeerIdOfTheSpecPrivateKey()
    {
        var key = PrivateKey.FromProtobuf(Convert.FromHexString("080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e"));
        Assert.Equal("080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e", Convert.ToHexStringLower(key.PublicKey.ToProtobuf()));
        Assert.Equal("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq", key.PeerId.ToString());
        Assert.Equal("0024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e", Convert.ToHexStringLower(key.PeerId.Bytes));
        Assert.Equal("080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e", Convert.ToHexStringLower(key.ToProtobuf()));
        Assert.Equal(key.PublicKey, key.PeerId.TryGetPublicKey());
    }

    [Fact]
    public void PeerIdsParseFromBase58AndCid()
    {
        var id = PeerId.Parse("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
        string cid = id.ToCidString();
        Assert.StartsWith("bafz", cid, StringComparison.Ordinal);
        Assert.Equal(id, PeerId.Parse(cid));
        var sha = PeerId.Parse("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N");
        Assert.Equal(Multihash.Sha2_256, Multihash.TryParse(sha.Bytes, out var h) ? h!.Code : 0);
        Assert.Null(sha.TryGetPublicKey());
    }

    [Fact]
    public void MultiaddrOfTheSpecExample()
    {
        var id = PrivateKey.Generate().PeerId;
        var addr = Multiaddr.Parse($"/ip4/127.0.0.1/tcp/4101/p2p/{id}");
        string hex = Convert.ToHexStringLower(addr.Bytes);
        Assert.StartsWith("047f000001061005a50326", hex, StringComparison.Ordinal);
        Assert.EndsWith(Convert.ToHexStringLower(id.Bytes), hex, StringComparison.Ordinal);
        Assert.Equal($"/ip4/127.0.0.1/tcp/4101/p2p/{id}", addr.ToString());
        Assert.True(Multiaddr.TryDecode(addr.Bytes, out var decoded));
        Assert.Equal(addr, decoded);
        Assert.Equal(id, addr.PeerId);
        Assert.Equal(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 4101), addr.TcpEndPoint);
    }

    [Theory]
    [InlineData("/ip6/::1/tcp/5001", "29000000000000000000000000000000010613 89")]
    [InlineData("/ip4/10.0.0.5/udp/5001/quic-v1", "040a0000059102 1389cd03")]
    [InlineData("/dns4/spegel-bootstrap.spegel.svc/tcp/5001", null)]
    [InlineData("/dnsaddr/bootstrap.libp2p.io", null)]
    [InlineData("/ip6zone/eth0/ip6/fe80::1/tcp/1", null)]
    [InlineData("/ip4/1.2.3.4/tcp/443/tls/ws", null)]
    [InlineData("/unix/var/run/x.sock", null)]
    public void MultiaddrsRoundTripAndOnlyIpTcpIsDialable(string text, string? hex)
    {
        var addr = Multiaddr.Parse(text);
        Assert.Equal(text, addr.ToString());
        if (hex is not null)
        {
            Assert.Equal(hex.Replace(" ", string.Empty, StringComparison.Ordinal), Convert.ToHexStringLower(addr.Bytes));
        }

        Assert.True(Multiaddr.TryDecode(addr.Bytes, out var decoded));
        Assert.Equal(addr, decoded);
        bool dialable = text.StartsWith("/ip", StringComparison.Ordinal) && text.Contains("/tcp/", StringComparison.Ordinal) && !text.StartsWith("/ip6zone", StringComparison.Ordinal);
        Assert.Equal(dialable, addr.TcpEndPoint is not null);
    }

    [Fact]
    public void NoiseHkdfIsRfc5869()
    {
        // RFC 5869 test case 1 for the BCL primitive, then the Noise form (salt = chaining key, info empty) against
        // the HMAC construction of the Noise spec.
        byte[] okm = new byte[42];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, Convert.FromHexString("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), okm, Convert.FromHexString("000102030405060708090a0b0c"), Convert.FromHexString("f0f1f2f3f4f5f6f7f8f9"));
        Assert.Equal("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865", Convert.ToHexStringLower(okm));

        byte[] ck = SHA256.HashData("chaining key"u8);
        byte[] rfc = new byte[64];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, SHA256.HashData("input"u8), rfc, ck, []);
        Assert.Equal(rfc, (byte[])[.. Spegel.Libp2p.Security.NoiseSymmetricState.Hkdf(ck, SHA256.HashData("input"u8)).First, .. Spegel.Libp2p.Security.NoiseSymmetricState.Hkdf(ck, SHA256.HashData("input"u8)).Second]);
        byte[] ikm = SHA256.HashData("input"u8);
        var (first, second) = Spegel.Libp2p.Security.NoiseSymmetricState.Hkdf(ck, ikm);
        byte[] temp = HMACSHA256.HashData(ck, ikm);
        byte[] expectedFirst = HMACSHA256.HashData(temp, new byte[] { 0x01 });
        byte[] expectedSecond = HMACSHA256.HashData(temp, (byte[])[.. expectedFirst, 0x02]);
        Assert.Equal(expectedFirst, first);
        Assert.Equal(expectedSecond, second);
    }

    [Fact]
    public void NoiseInitialStateIsTheProtocolName()
    {
        using var state = new Spegel.Libp2p.Security.NoiseSymmetricState();
        byte[] name = "Noise_XX_25519_ChaChaPoly_SHA256"u8.ToArray();
        Assert.Equal(name, state.ChainingKey.ToArray());
        Assert.Equal(SHA256.HashData(name), state.Hash.ToArray());
    }
}
