using System.Buffers.Binary;
using System.Net.Sockets;
using Google.Protobuf;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protocols;
using Spegel.Libp2p.Protos;
using Spegel.Libp2p.Security;
using Spegel.Libp2p.Tests.Kademlia;
using Spegel.Libp2p.Tests.Primitives;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Tests.Fuzz;

/// <summary>
/// Random and mutated input at every layer of a live node: before multistream, inside Noise, as yamux frames on an
/// authenticated connection, and as DHT messages. The offending connection or stream is dropped; the node keeps
/// serving a well-behaved peer; nothing allocates what an attacker claims (checked with the process's allocation
/// counter, so these tests run alone).
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class WireFuzzTests : IAsyncLifetime
{
    private Libp2pHost _target = null!;
    private Dht _dht = null!;
    private Libp2pHost _witness = null!;

    public async Task InitializeAsync()
    {
        _target = await TestHosts.StartAsync(TestHosts.Options() with { HandshakeTimeout = TimeSpan.FromSeconds(1), NegotiationTimeout = TimeSpan.FromSeconds(1) });
        _dht = new Dht(_target, new DhtOptions { ServerIdleTimeout = TimeSpan.FromSeconds(2) });
        _dht.Start();
        _witness = await TestHosts.StartAsync();
        await _witness.ConnectAsync(TestHosts.AddressOf(_target), CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _witness.DisposeAsync();
        await _dht.DisposeAsync();
        await _target.DisposeAsync();
    }

    [Fact]
    public async Task GarbageBeforeAndDuringMultistreamAndNoise()
    {
        var random = new Random(21);
        long allocatedBefore = GC.GetTotalAllocatedBytes();
        byte[] noiseProposal = [.. Multistream.Encode(Multistream.ProtocolId), .. Multistream.Encode(NoiseHandshake.ProtocolId)];
        for (int i = 0; i < 150; i++)
        {
            byte[] payload = (i % 5) switch
            {
                0 => MalformedInputTests.RandomBytes(random, 512),
                1 => MalformedInputTests.Mutate(noiseProposal, random),
                2 => [.. noiseProposal, .. MalformedInputTests.RandomBytes(random, 200)],
                3 => [.. noiseProposal, 0xff, 0xff, .. MalformedInputTests.RandomBytes(random, 100)],
                _ => [.. Varint.Encode(60_000), .. MalformedInputTests.RandomBytes(random, 100)],
            };
            await SendRawAsync(payload);
        }

        await AssertStillServingAsync();
        Assert.InRange(GC.GetTotalAllocatedBytes() - allocatedBefore, 0, 400L * 1024 * 1024);
    }

    [Fact]
    public async Task RandomYamuxFramesOnAnAuthenticatedConnection()
    {
        var random = new Random(22);
        long allocatedBefore = GC.GetTotalAllocatedBytes();
        for (int i = 0; i < 120; i++)
        {
            using var socket = new TcpClient();
            await socket.ConnectAsync(_target.BoundEndPoints[0]);
            var network = socket.GetStream();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            Assert.True(await Multistream.SelectAsync(network, NoiseHandshake.ProtocolId, timeout.Token));
            var secure = await NoiseHandshake.InitiateAsync(network, PrivateKey.Generate(), _target.Id, [Libp2pHost.YamuxProtocol], timeout.Token);
            var frames = new List<byte>();
            for (int f = 0; f < random.Next(1, 6); f++)
            {
                frames.AddRange(RandomFrame(random));
            }

            try
            {
                await secure.Stream.WriteAsync(frames.ToArray(), timeout.Token);
                await DrainUntilClosedAsync(secure.Stream, TimeSpan.FromMilliseconds(200));
            }
            catch (IOException)
            {
                // The node hung up on us: that is the expected answer to garbage.
            }

            await secure.Stream.DisposeAsync();
        }

        await AssertStillServingAsync();
        Assert.InRange(GC.GetTotalAllocatedBytes() - allocatedBefore, 0, 400L * 1024 * 1024);
    }

    [Fact]
    public async Task RandomAndOversizedDhtMessages()
    {
        var random = new Random(23);
        var valid = new Message { Type = Message.Types.MessageType.GetProviders, Key = ByteString.CopyFrom(Cid.ForKey("x").Hash.Bytes) }.ToByteArray();
        for (int i = 0; i < 200; i++)
        {
            await using var stream = await _witness.NewStreamAsync(_target.Id, DhtOptions.SpegelProtocol, CancellationToken.None);
            byte[] body = (i % 4) switch
            {
                0 => MalformedInputTests.RandomBytes(random, 200),
                1 => MalformedInputTests.Mutate(valid, random),
                2 => new Message { Type = (Message.Types.MessageType)random.Next(0, 9), Key = ByteString.CopyFrom(MalformedInputTests.RandomBytes(random, 120)) }.ToByteArray(),
                _ => new Message { Type = Message.Types.MessageType.AddProvider, Key = ByteString.CopyFrom(Cid.ForKey("y").Hash.Bytes), ProviderPeers = { new Message.Types.Peer { Id = ByteString.CopyFrom(PrivateKey.Generate().PeerId.Bytes), Addrs = { ByteString.CopyFrom(MalformedInputTests.RandomBytes(random, 20)) } } } }.ToByteArray(),
            };
            byte[] framed = i % 10 == 9 ? [.. Varint.Encode(5 * 1024 * 1024), .. body] : [.. Varint.Encode((ulong)body.Length), .. body];
            try
            {
                await stream.WriteAsync(framed);
                await stream.CloseWriteAsync();
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                _ = await LengthPrefixed.ReadAsync(stream, DhtOptions.MaxMessageBytes, timeout.Token);
            }
            catch (IOException)
            {
            }
        }

        // Nobody but the sender can sign a peer up as a provider.
        Assert.Empty(_dht.Providers.Get(Cid.ForKey("y").Hash));
        await AssertStillServingAsync();
    }

    [Fact]
    public void DecodersOfDhtAndIdentifyMessagesSurviveRandomBytes()
    {
        var random = new Random(24);
        var server = new KadServer(_dht, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var requester = PrivateKey.Generate().PeerId;
        for (int i = 0; i < 20_000; i++)
        {
            byte[] bytes = MalformedInputTests.RandomBytes(random, 100);
            try
            {
                var message = Message.Parser.ParseFrom(bytes);
                _ = server.Handle(requester, message);
            }
            catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidDataException)
            {
            }

            try
            {
                var identify = new Identify();
                identify.MergeFrom(bytes);
            }
            catch (InvalidProtocolBufferException)
            {
            }
        }
    }

    private static byte[] RandomFrame(Random random)
    {
        byte[] header = new byte[12];
        header[0] = random.Next(10) == 0 ? (byte)random.Next(256) : (byte)0;
        header[1] = (byte)random.Next(5);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), (ushort)random.Next(16));
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), (uint)random.Next(0, 6));
        uint length = random.Next(4) switch
        {
            0 => uint.MaxValue,
            1 => (uint)random.Next(0, 64),
            2 => 300_000,
            _ => (uint)random.Next(0, 16),
        };
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), length);
        // Data frames carry at most 64 bytes, often fewer than the header claims.
        byte[] payload = new byte[header[1] == 0 ? random.Next(0, (int)Math.Min(length, 64) + 1) : 0];
        random.NextBytes(payload);
        return [.. header, .. payload];
    }

    private async Task SendRawAsync(byte[] payload)
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(_target.BoundEndPoints[0]);
        var stream = socket.GetStream();
        try
        {
            await stream.WriteAsync(payload);
            await DrainUntilClosedAsync(stream, TimeSpan.FromMilliseconds(100));
        }
        catch (IOException)
        {
        }
    }

    private static async Task DrainUntilClosedAsync(Stream stream, TimeSpan wait)
    {
        using var timeout = new CancellationTokenSource(wait);
        byte[] buffer = new byte[4096];
        try
        {
            while (await stream.ReadAsync(buffer, timeout.Token) > 0)
            {
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task AssertStillServingAsync()
    {
        await PingService.PingAsync(_witness, _target.Id, CancellationToken.None);
        var other = await TestHosts.StartAsync();
        await using (other)
        {
            await other.ConnectAsync(TestHosts.AddressOf(_target), CancellationToken.None);
            await PingService.PingAsync(other, _target.Id, CancellationToken.None);
        }
    }
}
