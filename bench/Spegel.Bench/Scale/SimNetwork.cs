using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Time.Testing;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protos;
using Spegel.Libp2p.Transport;

namespace Spegel.Bench.Scale;

/// <summary>Link model of the simulation: round trips by zone, TCP-like loss, and what a request to a departed node costs.</summary>
internal sealed record LinkModel
{
    /// <summary>Round trip between two nodes of one zone (pod network, same zone).</summary>
    public double SameZoneRttMs { get; init; } = 0.4;

    /// <summary>Round trip across zones.</summary>
    public double CrossZoneRttMs { get; init; } = 1.5;

    public int Zones { get; init; } = 3;

    /// <summary>
    /// Probability that a message's packet is lost. The DHT runs on TCP, so a loss is not a lost request but a
    /// retransmission: <see cref="RetransmitMs"/> more for that message (Linux's minimum RTO), repeated while it is lost.
    /// </summary>
    public double Loss { get; init; } = 0.001;

    public double RetransmitMs { get; init; } = 200;

    /// <summary>
    /// A first contact costs a TCP handshake, multistream, Noise XX and yamux before the request: three more round trips
    /// and the handshake's crypto.
    /// </summary>
    public double HandshakeCpuMs { get; init; } = 1.0;

    /// <summary>A departed node on an open connection: the request waits for the request timeout (DhtOptions.RequestTimeout).</summary>
    public double DeadConnectedMs { get; init; } = 10_000;

    /// <summary>A departed node without a connection: the dial times out (HostOptions.DialTimeout).</summary>
    public double DeadDialMs { get; init; } = 5_000;
}

/// <summary>One node of the simulation: a real <see cref="Dht"/> (routing table, provider store, lookups, sweep) on an unstarted host.</summary>
internal sealed class SimNode(int index, Libp2pHost host, int zone, int phaseSeconds)
{
    public int Index { get; } = index;

    /// <summary>The node's host; released when it leaves (a departed node's state is gone, as its pod is).</summary>
    public Libp2pHost Host { get; private set; } = host;

    /// <summary>The node's DHT; released when it leaves.</summary>
    public Dht Dht { get; set; } = null!;

    public PeerId Id { get; } = host.Id;

    public void Release()
    {
        Host = null!;
        Dht = null!;
    }

    public int Zone { get; } = zone;

    /// <summary>The second within each minute at which this node's reprovide ticks (its start time).</summary>
    public int PhaseSeconds { get; } = phaseSeconds;

    public int JoinedSecond { get; set; }

    public int NextSlice { get; set; }

    public volatile bool Alive = true;

    public int LeftSecond { get; set; } = -1;

    public List<Multihash> Keys { get; set; } = [];

    /// <summary>Peers this node has a connection to (identify done both ways).</summary>
    public HashSet<int> Connected { get; } = [];

    public long[] Counters { get; } = new long[(int)Counter.Count];

    public int[]? SentPerSecond { get; set; }

    public int[]? ReceivedPerSecond { get; set; }
}

internal enum Counter
{
    AddProviderSent,
    AddProviderReceived,
    FindNodeSent,
    FindNodeReceived,
    GetProvidersSent,
    GetProvidersReceived,

    /// <summary>GET_PROVIDERS of a reprovide asking whether a key is provided enough (outside timed lookups).</summary>
    ProbeSent,
    ProbeReceived,

    /// <summary>Bytes of those probes and their answers, both ways (a node's own probes and the ones it answered).</summary>
    ProbeBytes,
    BytesSent,
    BytesReceived,
    HotKeyAddReceived,
    Count,
}

/// <summary>
/// N real DHT nodes in one process, their messages carried in memory: a node's request is answered by the other
/// node's <see cref="Dht.Answer"/> (the server's own code) at once in the background (reprovide, refresh), or after a
/// simulated latency inside a timed lookup (<see cref="SimLookup"/>). First contact between two nodes does what
/// identify does (both learn the other's addresses and add it to their routing tables). Messages are counted per node
/// and per simulated second.
/// </summary>
internal sealed class SimNetwork
{
    private readonly ConcurrentDictionary<PeerId, SimNode> _byPeer = new();
    private readonly List<SimNode> _nodes = [];
    private int _windowStart = -1;
    private int _windowLength;

    public SimNetwork(LinkModel links, DhtOptions dhtOptions, FakeTimeProvider time, int seed)
    {
        Links = links;
        Time = time;
        DhtOptions = dhtOptions with { Time = time };
        Seed = seed;
    }

    public LinkModel Links { get; }

    public FakeTimeProvider Time { get; }

    public DhtOptions DhtOptions { get; }

    public int Seed { get; }

    /// <summary>The simulated second now (set by the driver).</summary>
    public int Second { get; set; }

    public Multihash? HotKey { get; set; }

    public IReadOnlyList<SimNode> Nodes => _nodes;

    public IEnumerable<SimNode> Live => _nodes.Where(n => n.Alive);

    public SimNode? Find(PeerId id) => _byPeer.GetValueOrDefault(id);

    /// <summary>A node with a deterministic identity and an address that is never dialed (nothing here touches a socket).</summary>
    public async Task<SimNode> AddNodeAsync(int phaseSeconds)
    {
        int index = _nodes.Count;
        var address = Multiaddr.FromEndPoint(new IPEndPoint(new IPAddress([10, (byte)(200 + (index >> 16)), (byte)(index >> 8), (byte)index]), 5001));
        var host = new Libp2pHost(new HostOptions { Identity = Identity(Seed, index), Time = Time, AnnounceAlso = [address] });
        await host.StartAsync(CancellationToken.None); // no listeners: only sets the announced address
        var node = new SimNode(index, host, index % Links.Zones, phaseSeconds);
        node.Dht = new Dht(host, DhtOptions, logger: null, new SimTransport(this, node));
        node.JoinedSecond = Second;
        _nodes.Add(node);
        _byPeer[node.Id] = node;
        return node;
    }

    /// <summary>
    /// Every node connected to the leaving one sees its connection close when yamux's keep-alive goes unanswered (a ping
    /// every 30 s, 15 s to answer) and then, after <see cref="DhtOptions.DepartedProviderCheck"/>, runs the DHT's check:
    /// the seconds at which each of them does.
    /// </summary>
    public List<(int Second, SimNode Holder, PeerId Provider)> DepartureChecks { get; } = [];

    public void Leave(SimNode node, Random random)
    {
        node.Alive = false;
        node.LeftSecond = Second;
        node.Release();
        lock (node.Connected)
        {
            if (DhtOptions.DepartedProviderCheck > TimeSpan.Zero)
            {
                foreach (int other in node.Connected)
                {
                    int noticed = Second + 15 + random.Next(31);
                    DepartureChecks.Add((noticed + (int)Math.Ceiling(DhtOptions.DepartedProviderCheck.TotalSeconds), _nodes[other], node.Id));
                }
            }

            node.Connected.Clear();
        }
    }

    /// <summary>Node <paramref name="index"/>'s identity: the same in every run with this seed (and in the loopback check).</summary>
    public static PrivateKey Identity(int seed, int index)
    {
        var bytes = new byte[32];
        new Random((seed * 1_000_003) + index).NextBytes(bytes);
        return new PrivateKey(bytes);
    }

    /// <summary>Counts messages per simulated second for the next <paramref name="seconds"/> seconds.</summary>
    public void OpenWindow(int seconds)
    {
        _windowStart = Second;
        _windowLength = seconds;
        foreach (var node in _nodes)
        {
            node.SentPerSecond = new int[seconds];
            node.ReceivedPerSecond = new int[seconds];
            Array.Clear(node.Counters);
        }
    }

    public void CloseWindow() => _windowStart = -1;

    /// <summary>What identify does on a new connection: each side learns the other's addresses and adds it to its routing table.</summary>
    internal bool Connect(SimNode a, SimNode b)
    {
        lock (a.Connected)
        {
            if (!a.Connected.Add(b.Index))
            {
                return false;
            }
        }

        lock (b.Connected)
        {
            b.Connected.Add(a.Index);
        }

        Identified(a, b);
        Identified(b, a);
        return true;
    }

    internal void Disconnect(SimNode a, SimNode b)
    {
        lock (a.Connected)
        {
            a.Connected.Remove(b.Index);
        }
    }

    internal bool IsConnected(SimNode a, SimNode b)
    {
        lock (a.Connected)
        {
            return a.Connected.Contains(b.Index);
        }
    }

    private void Identified(SimNode self, SimNode other)
    {
        self.Host.Peers.AddAddresses(other.Id, other.Host.Addresses, TimeSpan.FromHours(1));
        self.Host.Peers.SetProtocols(other.Id, [DhtOptions.ProtocolId], self.Host.Protocols);
        self.Dht.RoutingTable.TryAdd(other.Id); // Dht.OnPeerIdentified, for a peer that speaks the DHT
    }

    internal void Count(SimNode from, SimNode to, Message message, bool inLookup = false)
    {
        int bytes = message.CalculateSize();
        bytes += bytes < 128 ? 1 : bytes < 16384 ? 2 : 3; // the length prefix
        var (sent, received) = message.Type switch
        {
            Message.Types.MessageType.AddProvider => (Counter.AddProviderSent, Counter.AddProviderReceived),
            Message.Types.MessageType.FindNode => (Counter.FindNodeSent, Counter.FindNodeReceived),
            _ when !inLookup => (Counter.ProbeSent, Counter.ProbeReceived),
            _ => (Counter.GetProvidersSent, Counter.GetProvidersReceived),
        };
        Interlocked.Increment(ref from.Counters[(int)sent]);
        Interlocked.Increment(ref to.Counters[(int)received]);
        Interlocked.Add(ref from.Counters[(int)Counter.BytesSent], bytes);
        Interlocked.Add(ref to.Counters[(int)Counter.BytesReceived], bytes);
        if (sent == Counter.ProbeSent)
        {
            Interlocked.Add(ref from.Counters[(int)Counter.ProbeBytes], bytes);
            Interlocked.Add(ref to.Counters[(int)Counter.ProbeBytes], bytes);
        }

        if (message.Type == Message.Types.MessageType.AddProvider && HotKey is not null && message.Key.Span.SequenceEqual(HotKey.Bytes))
        {
            Interlocked.Increment(ref to.Counters[(int)Counter.HotKeyAddReceived]);
        }

        int slot = Second - _windowStart;
        if (_windowStart >= 0 && slot < _windowLength && from.SentPerSecond is { } s && to.ReceivedPerSecond is { } r)
        {
            Interlocked.Increment(ref s[slot]);
            Interlocked.Increment(ref r[slot]);
        }
    }

    /// <summary>Answers are counted as bytes only (they are not messages a node chose to send).</summary>
    internal void CountAnswer(SimNode from, SimNode to, Message answer, bool inLookup = false)
    {
        int bytes = answer.CalculateSize() + 3;
        Interlocked.Add(ref from.Counters[(int)Counter.BytesSent], bytes);
        Interlocked.Add(ref to.Counters[(int)Counter.BytesReceived], bytes);
        if (!inLookup && answer.Type == Message.Types.MessageType.GetProviders)
        {
            Interlocked.Add(ref from.Counters[(int)Counter.ProbeBytes], bytes);
            Interlocked.Add(ref to.Counters[(int)Counter.ProbeBytes], bytes);
        }
    }

    /// <summary>One-way latency sample of a message between two nodes, with TCP retransmissions for lost packets.</summary>
    internal double OneWayMs(SimNode a, SimNode b, Random random)
    {
        double rtt = a.Zone == b.Zone ? Links.SameZoneRttMs : Links.CrossZoneRttMs;
        double ms = rtt / 2 * Math.Exp(0.3 * Gaussian(random)); // log-normal jitter
        while (random.NextDouble() < Links.Loss)
        {
            ms += Links.RetransmitMs;
        }

        return ms;
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}

/// <summary>The <see cref="IKadTransport"/> of one simulated node.</summary>
internal sealed class SimTransport(SimNetwork network, SimNode self) : IKadTransport
{
    public Task<Message> RequestAsync(PeerId peer, IReadOnlyList<Multiaddr> hints, Message request, CancellationToken cancellationToken)
    {
        var target = network.Find(peer);
        var lookup = SimLookup.Current;
        if (target is null || !target.Alive || !self.Alive)
        {
            if (target is not null && self.Alive)
            {
                network.Count(self, target, request, lookup is not null); // sent, never answered
            }

            bool connected = target is not null && network.IsConnected(self, target);
            if (target is not null)
            {
                network.Disconnect(self, target); // the failed request closes the connection
            }

            var error = new IOException($"{peer} is gone");
            return lookup is null ? Task.FromException<Message>(error) : lookup.Schedule(error, connected ? network.Links.DeadConnectedMs : network.Links.DeadDialMs);
        }

        bool fresh = network.Connect(self, target);
        network.Count(self, target, request, lookup is not null);
        Message? answer;
        try
        {
            answer = target.Dht.Answer(self.Id, request);
        }
        catch (InvalidDataException ex)
        {
            return Task.FromException<Message>(new IOException(ex.Message, ex)); // the server resets the stream
        }

        answer ??= new Message { Type = request.Type };
        network.CountAnswer(target, self, answer, lookup is not null);
        if (lookup is null)
        {
            return Task.FromResult(answer);
        }

        double ms = network.OneWayMs(self, target, lookup.Random) + network.OneWayMs(target, self, lookup.Random);
        if (fresh)
        {
            double rtt = self.Zone == target.Zone ? network.Links.SameZoneRttMs : network.Links.CrossZoneRttMs;
            ms += (3 * rtt) + network.Links.HandshakeCpuMs;
        }

        return lookup.Schedule(answer, ms);
    }

    public Task SendAsync(PeerId peer, IReadOnlyList<Message> messages, CancellationToken cancellationToken)
    {
        var target = network.Find(peer);
        if (target is null || !target.Alive)
        {
            if (target is not null)
            {
                network.Disconnect(self, target);
            }

            return Task.FromException(new IOException($"{peer} is gone"));
        }

        network.Connect(self, target);
        foreach (var message in messages)
        {
            network.Count(self, target, message);
            target.Dht.Answer(self.Id, message);
        }

        return Task.CompletedTask;
    }
}
