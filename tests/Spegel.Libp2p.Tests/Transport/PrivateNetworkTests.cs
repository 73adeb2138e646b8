using System.Net.Sockets;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Pnet;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protocols;
using Spegel.Libp2p.Security;
using Spegel.Libp2p.Tests.Kademlia;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Tests.Transport;

/// <summary>
/// Hosts in a private network (<see cref="HostOptions.PrivateNetwork"/>): members connect and run the DHT as
/// usual; a host with another key, or none, cannot connect in either direction, and the members keep serving.
/// </summary>
public sealed class PrivateNetworkTests
{
    private static HostOptions Options(SwarmKey? key) => TestHosts.Options() with { PrivateNetwork = key };

    [Fact]
    public async Task MembersConnectPingAndFindEachOthersProviders()
    {
        var key = SwarmKey.Generate();
        var nodes = new List<(Libp2pHost Host, Dht Dht)>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                var host = await TestHosts.StartAsync(Options(key));
                var dht = new Dht(host, new DhtOptions { RequestTimeout = TimeSpan.FromSeconds(5) });
                dht.Start();
                nodes.Add((host, dht));
            }

            await Task.WhenAll(nodes.Skip(1).Select(n => n.Dht.BootstrapAsync([TestHosts.AddressOf(nodes[0].Host)], CancellationToken.None)));
            await PingService.PingAsync(nodes[1].Host, nodes[0].Host.Id, CancellationToken.None);
            var hash = Cid.ForKey("sha256:aaaa").Hash;
            await nodes[2].Dht.ProvideAsync([hash], CancellationToken.None);
            var found = await DhtNetwork.FindAsync(nodes[1].Dht, hash);
            Assert.Equal(nodes[2].Host.Id, Assert.Single(found).Id);
        }
        finally
        {
            foreach (var (host, dht) in nodes)
            {
                await dht.DisposeAsync();
                await host.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task AnotherKeyOrNoKeyCannotConnectEitherWayAndMembersStillCan()
    {
        var key = SwarmKey.Generate();
        await using var member = await TestHosts.StartAsync(Options(key));
        await using var stranger = await TestHosts.StartAsync(Options(SwarmKey.Generate()));
        await using var open = await TestHosts.StartAsync(Options(null));

        foreach (var (from, to) in new[] { (stranger, member), (member, stranger), (open, member), (member, open) })
        {
            // Refused at once, or, when the open side reads our nonce as the start of a long multistream message and
            // waits for the rest while we wait for its nonce, when the handshake's deadline passes.
            var error = await Assert.ThrowsAnyAsync<Exception>(() => from.ConnectAsync(TestHosts.AddressOf(to), CancellationToken.None));
            Assert.True(error is IOException or InvalidDataException or OperationCanceledException, error.ToString());
        }

        // A member that dials one with another key is told why (the other cases end in a hang-up or a timeout).
        var told = await Assert.ThrowsAsync<InvalidDataException>(() => member.ConnectAsync(TestHosts.AddressOf(stranger), CancellationToken.None));
        Assert.Contains("do not decrypt with our swarm key", told.Message, StringComparison.Ordinal);

        Assert.Empty(member.ConnectedPeers);
        Assert.Empty(stranger.ConnectedPeers);
        Assert.Empty(open.ConnectedPeers);

        // The positive control: a host with the same key connects, both ways.
        await using var other = await TestHosts.StartAsync(Options(new SwarmKey(key.Bytes)));
        await other.ConnectAsync(TestHosts.AddressOf(member), CancellationToken.None);
        await PingService.PingAsync(other, member.Id, CancellationToken.None);
        await member.DisconnectAsync(other.Id);
        await member.ConnectAsync(TestHosts.AddressOf(other), CancellationToken.None);
        await PingService.PingAsync(member, other.Id, CancellationToken.None);
    }

    /// <summary>
    /// On the wire, each side sends its nonce and then nothing in the clear: the client here is written from the spec
    /// alone (nonce, then XSalsa20 with the key and the sender's nonce) and negotiates multistream with it. The dialer
    /// speaks first (as js-libp2p and go-libp2p do: go sends its nonce with its first write, multistream's header): an
    /// accepted socket that sends nothing is dropped after <c>FirstByteTimeout</c> without holding a handshake slot.
    /// </summary>
    [Fact]
    public async Task AMemberSpeaksTheSpecsWireAndNothingInTheClear()
    {
        var key = SwarmKey.Generate();
        await using var member = await TestHosts.StartAsync(Options(key));
        using var socket = new TcpClient();
        await socket.ConnectAsync(member.BoundEndPoints[0]);
        var raw = socket.GetStream();

        byte[] ourNonce = System.Security.Cryptography.RandomNumberGenerator.GetBytes(PnetStream.NonceLength);
        var send = Cipher(key, ourNonce);
        byte[] proposal = [.. Multistream.Encode(Multistream.ProtocolId), .. Multistream.Encode(NoiseHandshake.ProtocolId)];
        byte[] encrypted = new byte[proposal.Length];
        send.ProcessBytes(proposal, encrypted);
        await raw.WriteAsync((byte[])[.. ourNonce, .. encrypted]);

        // The member's nonce comes first, then its answer.
        byte[] theirNonce = new byte[PnetStream.NonceLength];
        await raw.ReadExactlyAsync(theirNonce);
        var receive = Cipher(key, theirNonce);
        byte[] answer = new byte[proposal.Length];
        await raw.ReadExactlyAsync(answer);
        Assert.NotEqual(proposal, answer); // the member's answer is the same text, but not in the clear
        receive.ProcessBytes(answer, answer);
        Assert.Equal(proposal, answer);
    }

    private static XSalsa20Engine Cipher(SwarmKey key, byte[] nonce)
    {
        var engine = new XSalsa20Engine();
        engine.Init(true, new ParametersWithIV(new KeyParameter(key.Bytes), nonce));
        return engine;
    }
}
