using System.Net;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protos;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Tests.Kademlia;

/// <summary>
/// DHT nodes whose messages are carried in memory through <see cref="IKadTransport"/>: a request is answered by the
/// other node's <see cref="Dht.Answer"/> at once. First contact does what identify does (both sides learn each other and
/// add each other to their routing tables). For placement questions at a hundred nodes, where sockets only add time.
/// </summary>
internal sealed class InMemoryKadNetwork
{
    private readonly Dictionary<PeerId, Dht> _nodes = [];
    private readonly HashSet<(PeerId, PeerId)> _connected = [];

    public List<Dht> Nodes { get; } = [];

    /// <summary>Every message sent, in order: sender, receiver, the message.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<(PeerId From, PeerId To, Message Message)> Sent { get; } = new();

    /// <summary>Requests (not one-way messages) this says fail are answered with an IOException, as a peer that resets the stream.</summary>
    public Func<Message, bool>? FailRequests { get; set; }

    /// <summary>A message (a request or a one-way one) to a peer for which this returns an exception fails with it, as the transport would throw it.</summary>
    public Func<PeerId, Message, Exception?>? FailWith { get; set; }

    /// <summary>How many <paramref name="type"/> messages for <paramref name="key"/> <paramref name="from"/> sent (any sender when null).</summary>
    public int Count(Message.Types.MessageType type, Multihash key, PeerId? from = null) =>
        Sent.Count(m => m.Message.Type == type && m.Message.Key.Span.SequenceEqual(key.Bytes) && (from is null || m.From.Equals(from)));

    /// <summary>Nodes with identities from <paramref name="seed"/>; each joins through one earlier node and refreshes.</summary>
    public static async Task<InMemoryKadNetwork> StartAsync(int count, int seed, DhtOptions options)
    {
        var network = new InMemoryKadNetwork();
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            var key = new byte[32];
            random.NextBytes(key);
            var address = Multiaddr.FromEndPoint(new IPEndPoint(new IPAddress([10, 77, 0, (byte)(i + 1)]), 5001));
            var host = new Libp2pHost(new HostOptions { Identity = new PrivateKey(key), AnnounceAlso = [address] });
            await host.StartAsync(CancellationToken.None); // no listeners: only the announced address
            var dht = new Dht(host, options, logger: null, new Transport(network, host.Id));
            network._nodes[host.Id] = dht;
            network.Nodes.Add(dht);
            if (i > 0)
            {
                network.Connect(dht.Host.Id, network.Nodes[random.Next(i)].Host.Id);
                await dht.RefreshAsync(CancellationToken.None);
            }
        }

        return network;
    }

    /// <summary>
    /// Every node learns every other's address, as in a cluster that has run a while (each node has met each other
    /// through lookups, ADD_PROVIDERs and identify); here nodes know only those they exchanged a message with.
    /// </summary>
    public void MeetEveryone(TimeSpan ttl)
    {
        foreach (var node in Nodes)
        {
            foreach (var other in Nodes.Where(o => o != node))
            {
                node.Host.Peers.AddAddresses(other.Host.Id, other.Host.Addresses, ttl);
            }
        }
    }

    private void Connect(PeerId a, PeerId b)
    {
        lock (_connected)
        {
            if (!_connected.Add((a, b)))
            {
                return;
            }

            _connected.Add((b, a));
        }

        foreach (var (self, other) in new[] { (a, b), (b, a) })
        {
            _nodes[self].Host.Peers.AddAddresses(other, _nodes[other].Host.Addresses, TimeSpan.FromHours(1));
            _nodes[self].RoutingTable.TryAdd(other);
        }
    }

    private sealed class Transport(InMemoryKadNetwork network, PeerId self) : IKadTransport
    {
        public Task<Message> RequestAsync(PeerId peer, IReadOnlyList<Multiaddr> hints, Message request, CancellationToken cancellationToken)
        {
            network.Connect(self, peer);
            network.Sent.Enqueue((self, peer, request));
            if (network.FailRequests?.Invoke(request) == true)
            {
                return Task.FromException<Message>(new IOException($"{peer} reset the stream"));
            }

            if (network.FailWith?.Invoke(peer, request) is { } failure)
            {
                return Task.FromException<Message>(failure);
            }

            return Task.FromResult(network._nodes[peer].Answer(self, request) ?? new Message { Type = request.Type });
        }

        public Task SendAsync(PeerId peer, IReadOnlyList<Message> messages, CancellationToken cancellationToken)
        {
            network.Connect(self, peer);
            foreach (var message in messages)
            {
                network.Sent.Enqueue((self, peer, message));
                if (network.FailWith?.Invoke(peer, message) is { } failure)
                {
                    return Task.FromException(failure);
                }

                network._nodes[peer].Answer(self, message);
            }

            return Task.CompletedTask;
        }
    }
}
