using Microsoft.Extensions.Time.Testing;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protos;

namespace Spegel.Libp2p.Tests.Kademlia;

/// <summary>
/// The reprovide loop is what keeps a node's content findable: if it ended on an exception, the node would stop
/// advertising for good and nothing else would show it (the records expire a day later, one by one).
/// </summary>
public sealed class MaintenanceLoopTests
{
    private const Message.Types.MessageType Add = Message.Types.MessageType.AddProvider;
    private static readonly Multihash Key = Cid.ForKey("sha256:kept-findable").Hash;

    /// <summary>
    /// A connection that closes while a stream opens on it throws <see cref="ObjectDisposedException"/> (yamux): that is
    /// the peer's failure, like a reset, and the reprovide goes on to the others.
    /// </summary>
    [Fact]
    public async Task A_peer_whose_connection_closes_as_a_stream_opens_fails_alone()
    {
        var network = await InMemoryKadNetwork.StartAsync(30, seed: 5, new DhtOptions());
        var node = network.Nodes[^1];
        await node.ProvideAsync([Key], CancellationToken.None);
        network.Sent.Clear();
        PeerId? closing = null;
        network.FailWith = (peer, m) =>
        {
            lock (network)
            {
                closing ??= m.Type == Add ? peer : null; // the first peer sent to
                return peer.Equals(closing) ? new ObjectDisposedException("YamuxSession") : null;
            }
        };

        await node.PublishAsync([Key], reprovide: true, CancellationToken.None);

        Assert.Equal(20, network.Count(Add, Key, node.Host.Id));
    }

    /// <summary>
    /// A pull claim's arbiter that goes away between the lookup that found it and the exchange (its connection closes as
    /// the stream opens): the claim has no answer (null: the coalescer announces and settles instead), it does not throw.
    /// </summary>
    [Fact]
    public async Task An_arbiter_gone_between_the_lookup_and_the_claim_gives_no_answer()
    {
        var network = await InMemoryKadNetwork.StartAsync(12, seed: 7, new DhtOptions());
        network.FailWith = (_, m) => m.Type == Add ? new ObjectDisposedException("YamuxSession") : null;

        // Each node claims a blob of its own (a claim nobody else made: no earlier claimant to follow).
        var outcomes = new List<(Dht Node, Multihash Claim, ClaimOutcome? Outcome)>();
        foreach (var node in network.Nodes)
        {
            var claim = Cid.ForKey($"spegel-pull/sha256:left-{node.Host.Id}").Hash;
            outcomes.Add((node, claim, await node.ClaimAsync(claim, CancellationToken.None)));
        }

        // Unless a node is nearest the key itself (it is its own arbiter and claims at once), it had to ask another: no
        // answer, and no claim record left behind (it would be reprovided for good).
        Assert.Contains(outcomes, o => o.Outcome is null);
        Assert.All(outcomes.Where(o => o.Outcome is null), o => Assert.False(o.Node.Providers.IsLocal(o.Claim)));
        Assert.All(outcomes.Where(o => o.Outcome is not null), o => Assert.Equal([o.Node.Host.Id], o.Outcome!.Providers.Select(p => p.Id)));
    }

    /// <summary>A tick that throws something unexpected is logged; the next ticks run, and the key is provided again.</summary>
    [Fact]
    public async Task A_reprovide_tick_that_throws_does_not_end_the_loop()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-02T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var options = new DhtOptions { Time = time };
        var network = await InMemoryKadNetwork.StartAsync(30, seed: 6, options);
        var node = network.Nodes[^1];
        await node.ProvideAsync([Key], CancellationToken.None);
        node.Start();
        await using var _ = node;
        var tick = options.ReprovideInterval / options.ReprovideSlices;

        // One whole cycle in which every ADD_PROVIDER throws what no peer failure throws: a bug's exception.
        network.FailWith = (_, m) => m.Type == Add ? new InvalidOperationException("a bug in the send path") : null;
        await AdvanceTicksAsync(time, tick, node, options.ReprovideSlices);
        network.FailWith = null;
        network.Sent.Clear();

        await AdvanceTicksAsync(time, tick, node, options.ReprovideSlices);

        Assert.Equal(2 * options.ReprovideSlices, node.ReprovideTicks);
        Assert.Equal(20, network.Count(Add, Key, node.Host.Id));
    }

    /// <summary>Advances the clock one tick at a time, each time waiting (bounded) for the loop to finish that tick.</summary>
    private static async Task AdvanceTicksAsync(FakeTimeProvider time, TimeSpan tick, Dht node, int ticks)
    {
        for (int i = 0; i < ticks; i++)
        {
            int before = node.ReprovideTicks;
            time.Advance(tick);
            using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (node.ReprovideTicks == before)
            {
                Assert.False(guard.IsCancellationRequested, $"the reprovide loop did not finish tick {before + 1} (it ended?)");
                await Task.Delay(5, CancellationToken.None);
            }
        }
    }
}
