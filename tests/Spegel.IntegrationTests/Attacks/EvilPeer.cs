using System.Collections.Concurrent;
using System.Net;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protocols;
using Spegel.Libp2p.Protos;
using Spegel.Libp2p.Transport;

namespace Spegel.IntegrationTests.Attacks;

/// <summary>How an <see cref="EvilPeer"/> answers the DHT.</summary>
public enum EvilDht
{
    /// <summary>Empty answers (a member that knows nothing).</summary>
    Quiet,

    /// <summary>Every GET_PROVIDERS answered with 256 providers × 32 addresses and 40 closer peers (B6, poisoning).</summary>
    Poison,

    /// <summary>FIND_NODE answered after 9.5 s (B6, slow member), GET_PROVIDERS at once.</summary>
    Slow,
}

/// <summary>
/// A DHT member that anyone can become (a fresh Ed25519 key and a TCP connection): our own libp2p stack with a Kademlia
/// handler that misbehaves on demand, and optionally a registry on its IP at the node's registry port (where the node
/// sends peer requests) that serves its own manifest for any tag and records every Authorization header it receives.
/// </summary>
public sealed class EvilPeer : IAsyncDisposable
{
    private readonly Libp2pHost _host;
    private readonly EvilDht _mode;
    private readonly List<Message.Types.Peer> _fakeProviders;
    private WebApplication? _registry;

    private EvilPeer(Libp2pHost host, EvilDht mode)
    {
        _host = host;
        _mode = mode;
        _fakeProviders = mode == EvilDht.Poison ? FakePeers(256, 32) : [];
    }

    public Libp2pHost Host => _host;

    public IPAddress Address { get; private init; } = IPAddress.Loopback;

    /// <summary>Authorization headers the evil registry received (the node must never send containerd's).</summary>
    public ConcurrentBag<string> AuthorizationsSeen { get; } = [];

    /// <summary>Requests the evil registry received (path and query).</summary>
    public ConcurrentBag<string> RequestsSeen { get; } = [];

    /// <summary>The manifest the evil registry serves for any tag.</summary>
    public static byte[] EvilManifest { get; } = System.Text.Encoding.UTF8.GetBytes(
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:" + new string('e', 64) + "\",\"size\":2},\"layers\":[]}");

    public static string EvilManifestDigest { get; } = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(EvilManifest));

    /// <summary>Starts on <paramref name="address"/> and joins the node's DHT (it enters the routing table once identified).</summary>
    public static async Task<EvilPeer> StartAsync(AttackNode node, IPAddress address, EvilDht mode, bool withRegistry = false)
    {
        var host = new Libp2pHost(new HostOptions { Identity = PrivateKey.Generate(), Listen = [new IPEndPoint(address, 0)], AnnounceLoopback = true });
        var peer = new EvilPeer(host, mode) { Address = address };
        host.Handle(DhtOptions.SpegelProtocol, peer.ServeAsync);
        await host.StartAsync(CancellationToken.None);
        if (withRegistry)
        {
            await peer.StartRegistryAsync(node.RegistryPort);
        }

        using var connect = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await host.ConnectAsync(Multiaddr.Parse($"/ip4/{node.RouterEndPoint.Address}/tcp/{node.RouterEndPoint.Port}/p2p/{node.RouterId}"), connect.Token);
        return peer;
    }

    /// <summary>Tells the node we provide <paramref name="keys"/> (ADD_PROVIDER with ourselves as provider, as any member may).</summary>
    public Task AdvertiseAsync(AttackNode node, IEnumerable<string> keys) => SendAsync(node, EncodeAdvertisements(keys));

    /// <summary>
    /// The ADD_PROVIDER messages for <paramref name="keys"/>, length-prefixed, ready to send: a flood is encoded before
    /// the attack so that the test process's own work (300,000 messages) does not delay the legitimate client's timing.
    /// </summary>
    public byte[] EncodeAdvertisements(IEnumerable<string> keys)
    {
        var self = new Message.Types.Peer { Id = ByteString.CopyFrom(_host.Id.Bytes), Addrs = { _host.Addresses.Select(a => ByteString.CopyFrom(a.ToArray())) } };
        using var buffer = new MemoryStream();
        foreach (string key in keys)
        {
            var message = new Message { Type = Message.Types.MessageType.AddProvider, Key = ByteString.CopyFrom(Cid.ForKey(key).Hash.Bytes), ProviderPeers = { self } };
            message.WriteDelimitedTo(buffer);
        }

        return buffer.ToArray();
    }

    /// <summary>Writes <paramref name="encoded"/> messages on one DHT stream to the node, in 64 KiB writes, then closes it.</summary>
    public async Task SendAsync(AttackNode node, byte[] encoded)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var stream = await _host.NewStreamAsync(node.RouterId, DhtOptions.SpegelProtocol, timeout.Token);
        for (int offset = 0; offset < encoded.Length; offset += 64 * 1024)
        {
            await stream.WriteAsync(encoded.AsMemory(offset, Math.Min(64 * 1024, encoded.Length - offset)), timeout.Token);
        }

        await stream.FlushAsync(timeout.Token);
        await stream.CloseWriteAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_registry is not null)
        {
            await _registry.StopAsync();
            await _registry.DisposeAsync();
        }

        await _host.DisposeAsync();
    }

    /// <summary>Many made-up peers with long, never-dialable addresses (what a poisoning member hands out).</summary>
    internal static List<Message.Types.Peer> FakePeers(int count, int addresses)
    {
        var peers = new List<Message.Types.Peer>(count);
        for (int i = 0; i < count; i++)
        {
            var peer = new Message.Types.Peer { Id = ByteString.CopyFrom(PrivateKey.Generate().PeerId.Bytes) };
            for (int a = 0; a < addresses; a++)
            {
                peer.Addrs.Add(ByteString.CopyFrom(Multiaddr.Parse($"/dns4/{new string((char)('a' + (a % 26)), 200)}.{i}-{a}.invalid/tcp/5001").ToArray()));
            }

            peers.Add(peer);
        }

        return peers;
    }

    private async Task ServeAsync(Spegel.Libp2p.Muxing.YamuxStream stream, Connection connection, CancellationToken cancellationToken)
    {
        await using (stream)
        {
            try
            {
                while (await LengthPrefixed.ReadAsync(stream, DhtOptions.MaxMessageBytes, cancellationToken) is { } bytes)
                {
                    var request = Message.Parser.ParseFrom(bytes);
                    var answer = new Message { Type = request.Type, Key = request.Key };
                    switch (_mode, request.Type)
                    {
                        case (EvilDht.Poison, Message.Types.MessageType.GetProviders):
                            answer.ProviderPeers.AddRange(_fakeProviders);
                            answer.CloserPeers.AddRange(_fakeProviders.Take(40));
                            break;
                        case (EvilDht.Poison, Message.Types.MessageType.FindNode):
                            answer.CloserPeers.AddRange(_fakeProviders.Take(40));
                            break;
                        case (EvilDht.Slow, Message.Types.MessageType.FindNode):
                            await Task.Delay(TimeSpan.FromSeconds(9.5), cancellationToken);
                            break;
                        case (_, Message.Types.MessageType.AddProvider):
                            continue;
                    }

                    await LengthPrefixed.WriteAsync(stream, answer, cancellationToken);
                }
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException or OperationCanceledException or InvalidProtocolBufferException)
            {
            }
        }
    }

    private async Task StartRegistryAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(Address, port));
        _registry = builder.Build();
        _registry.Run(async context =>
        {
            RequestsSeen.Add(context.Request.Path + context.Request.QueryString);
            if (context.Request.Headers.Authorization.Count > 0)
            {
                AuthorizationsSeen.Add(context.Request.Headers.Authorization.ToString());
            }

            if (context.Request.Path.Value?.Contains("/manifests/", StringComparison.Ordinal) == true)
            {
                context.Response.ContentType = "application/vnd.oci.image.manifest.v1+json";
                context.Response.Headers["Docker-Content-Digest"] = EvilManifestDigest;
                context.Response.ContentLength = EvilManifest.Length;
                if (!HttpMethods.IsHead(context.Request.Method))
                {
                    await context.Response.Body.WriteAsync(EvilManifest);
                }

                return;
            }

            context.Response.StatusCode = 404;
        });
        await _registry.StartAsync();
    }
}
