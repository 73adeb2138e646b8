using System.Net;
using Microsoft.Extensions.Time.Testing;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Tests.Transport;

/// <summary>What one peer, or many, can make the peer store remember.</summary>
public sealed class PeerStoreTests
{
    [Fact]
    public void AFullStoreDropsTheLeastRecentlyUpdatedUnpinnedPeersDownToNineTenths()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var store = new PeerStore(time);
        var peers = Enumerable.Range(0, PeerStore.MaxPeers).Select(Peer).ToList();
        var pinned = peers[0];
        store.Pin(p => p.Equals(pinned));
        foreach (var peer in peers)
        {
            store.AddAddresses(peer, [Address(1)], TimeSpan.FromHours(1));
            time.Advance(TimeSpan.FromMilliseconds(1));
        }

        store.AddAddresses(peers[1], [Address(2)], TimeSpan.FromHours(1)); // updated last: kept
        Assert.Equal(PeerStore.MaxPeers, store.Count);

        var newcomer = Peer(PeerStore.MaxPeers);
        store.AddAddresses(newcomer, [Address(1)], TimeSpan.FromHours(1));

        Assert.Equal(PeerStore.MaxPeers - (PeerStore.MaxPeers / 10) + 1, store.Count);
        Assert.NotEmpty(store.GetAddresses(pinned)); // oldest, but pinned
        Assert.NotEmpty(store.GetAddresses(peers[1]));
        Assert.NotEmpty(store.GetAddresses(newcomer));
        Assert.Empty(store.GetAddresses(peers[2])); // the oldest unpinned went
        Assert.NotEmpty(store.GetAddresses(peers[^1]));
    }

    [Fact]
    public void AFullStoreDropsExpiredPeersFirst()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var store = new PeerStore(time);
        for (int i = 0; i < PeerStore.MaxPeers; i++)
        {
            // Every other peer's address expires within the minute.
            store.AddAddresses(Peer(i), [Address(1)], i % 2 == 0 ? TimeSpan.FromSeconds(30) : TimeSpan.FromHours(1));
        }

        time.Advance(TimeSpan.FromMinutes(1));
        store.AddAddresses(Peer(PeerStore.MaxPeers), [Address(1)], TimeSpan.FromHours(1));

        Assert.Equal((PeerStore.MaxPeers / 2) + 1, store.Count); // the expired half went, nobody else
        Assert.NotEmpty(store.GetAddresses(Peer(1)));
    }

    [Fact]
    public void OnePeerIsRememberedWithAtMostEightShortAddressesTheLongestLivedKept()
    {
        var store = new PeerStore(new FakeTimeProvider(DateTimeOffset.UnixEpoch));
        var peer = Peer(1);
        store.AddAddresses(peer, Enumerable.Range(1, 20).Select(Address), TimeSpan.FromMinutes(5));
        store.AddAddresses(peer, [Address(100)], TimeSpan.FromHours(1));
        store.AddAddresses(peer, [Multiaddr.Parse("/dns4/" + new string('a', 80) + ".example/tcp/5001")], TimeSpan.FromHours(2));

        var kept = store.GetAddresses(peer);
        Assert.Equal(PeerStore.MaxAddressesPerPeer, kept.Count);
        Assert.Contains(Address(100), kept);
        Assert.DoesNotContain(kept, a => a.ToString().Contains("example", StringComparison.Ordinal)); // over 64 bytes
    }

    [Fact]
    public void AnIdentifyListingManyOrLongProtocolsIsCut()
    {
        var store = new PeerStore(new FakeTimeProvider(DateTimeOffset.UnixEpoch));
        var peer = Peer(1);
        const string Ours = "/spegel/kad/1.0.0";
        var listed = Enumerable.Range(0, 10).Select(i => "/long/" + new string('x', 200) + i).Append(Ours)
            .Concat(Enumerable.Range(0, 100).Select(i => $"/p/{i}"));

        store.SetProtocols(peer, listed, [Ours]);

        var kept = store.GetProtocols(peer);
        Assert.Equal(PeerStore.MaxProtocolsPerPeer, kept.Count);
        Assert.Contains(Ours, kept);
        Assert.True(kept.Where(p => p != Ours).Sum(p => p.Length) <= PeerStore.MaxForeignProtocolChars);
        Assert.True(store.Supports(peer, Ours));
        Assert.True(store.IsIdentified(peer));
    }

    private static PeerId Peer(int index)
    {
        var key = new byte[32];
        new Random(index).NextBytes(key);
        return new PrivateKey(key).PeerId;
    }

    private static Multiaddr Address(int index) =>
        Multiaddr.FromEndPoint(new IPEndPoint(new IPAddress([10, 77, 0, (byte)index]), 5001));
}
