using Microsoft.Extensions.Time.Testing;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Tests.Kademlia;

public sealed class ProviderStoreTests
{
    [Fact]
    public void RecordsExpireAfterTheirValidity()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new ProviderStore(time, TimeSpan.FromMinutes(19));
        var key = Multihash.Sha256("k"u8);
        var peer = PrivateKey.Generate().PeerId;
        store.Add(key, peer);
        time.Advance(TimeSpan.FromMinutes(18.9));
        Assert.Equal([peer], store.Get(key));
        time.Advance(TimeSpan.FromMinutes(0.2));
        Assert.Empty(store.Get(key));
        Assert.Equal(1, store.RemoveExpired());
        Assert.Equal(0, store.RemoteKeyCount);
    }

    /// <summary>
    /// Providers are listed in the order their records arrived, ours among them (where a rival's pull claim and ours are
    /// decided), even when every record arrives within one tick of the clock; a refresh keeps a record's place.
    /// </summary>
    [Fact]
    public void ProvidersAreListedInTheOrderTheyArrivedOursIncluded()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new ProviderStore(time, TimeSpan.FromMinutes(19));
        var key = Multihash.Sha256("claim"u8);
        var self = PrivateKey.Generate().PeerId;
        var first = PrivateKey.Generate().PeerId;
        var third = PrivateKey.Generate().PeerId;
        store.Add(key, first);
        store.AddLocal(key);
        store.Add(key, third);
        Assert.Equal([first, self, third], store.Get(key, self));
        Assert.Equal([first, third], store.Get(key));

        time.Advance(TimeSpan.FromMinutes(1));
        store.Add(key, first);
        store.AddLocal(key);
        Assert.Equal([first, self, third], store.Get(key, self));

        store.RemoveLocal(key);
        store.AddLocal(key);
        Assert.Equal([first, third, self], store.Get(key, self));
    }

    [Fact]
    public void ProvidersPerKeyAreBounded()
    {
        var store = new ProviderStore(TimeProvider.System, TimeSpan.FromMinutes(19));
        var key = Multihash.Sha256("k"u8);
        for (int i = 0; i < ProviderStore.MaxProvidersPerKey + 10; i++)
        {
            store.Add(key, PrivateKey.Generate().PeerId);
        }

        Assert.Equal(ProviderStore.MaxProvidersPerKey, store.Get(key).Count);
    }

    [Fact]
    public void LocalRecordsDoNotExpireAndGoWhenRemoved()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new ProviderStore(time, TimeSpan.FromMinutes(19));
        var key = Multihash.Sha256("k"u8);
        store.AddLocal(key);
        time.Advance(TimeSpan.FromDays(1));
        Assert.True(store.IsLocal(key));
        Assert.True(store.RemoveLocal(key));
        Assert.False(store.IsLocal(key));
    }

    /// <summary>
    /// In a full store each new record takes the newest record of the peer holding the most, until shares are even: the
    /// records a heavy peer keeps are exactly its oldest. Found in the store's own books (not by walking every record).
    /// </summary>
    [Fact]
    public void AFullStoreTakesTheNewestRecordsOfTheHeaviestPeersUntilSharesAreEven()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new ProviderStore(time, TimeSpan.FromMinutes(19));
        var heavy = Enumerable.Range(0, 6).Select(_ => PrivateKey.Generate().PeerId).ToList();
        var keysOf = new Dictionary<PeerId, List<Multihash>>();
        int next = 0;
        void AddMany(PeerId peer, int count)
        {
            var keys = keysOf.TryGetValue(peer, out var known) ? known : keysOf[peer] = [];
            for (int i = 0; i < count; i++)
            {
                var key = Multihash.Sha256(BitConverter.GetBytes(next++));
                keys.Add(key);
                store.Add(key, peer);
            }
        }

        foreach (var peer in heavy)
        {
            AddMany(peer, ProviderStore.MaxRecordsPerPeer);
        }

        var light = PrivateKey.Generate().PeerId;
        AddMany(light, ProviderStore.MaxRecords - store.RecordCount);
        Assert.Equal(ProviderStore.MaxRecords, store.RecordCount);

        // One record more: one heavy peer gives up its newest.
        AddMany(light, 1);
        var lost = Assert.Single(heavy, p => store.RecordsOf(p) == ProviderStore.MaxRecordsPerPeer - 1);
        Assert.Empty(store.Get(keysOf[lost][^1]));
        Assert.Equal([lost], store.Get(keysOf[lost][^2]));

        // A newcomer with as many: it takes records until it holds about as many as each heavy peer.
        var newcomer = PrivateKey.Generate().PeerId;
        AddMany(newcomer, ProviderStore.MaxRecordsPerPeer);
        Assert.Equal(ProviderStore.MaxRecords, store.RecordCount);
        var shares = heavy.Append(newcomer).Select(store.RecordsOf).ToList();
        Assert.True(shares.Max() - shares.Min() <= 2, string.Join(", ", shares));
        foreach (var peer in heavy)
        {
            int kept = store.RecordsOf(peer);
            Assert.All(keysOf[peer].Take(kept), key => Assert.Contains(peer, store.Get(key)));
            Assert.All(keysOf[peer].Skip(kept), key => Assert.DoesNotContain(peer, store.Get(key)));
        }

        // Once everything expired, the books are empty and a full share fits again.
        time.Advance(TimeSpan.FromMinutes(20));
        Assert.Equal(ProviderStore.MaxRecords, store.RemoveExpired());
        AddMany(newcomer, 10);
        Assert.Equal(10, store.RecordsOf(newcomer));
        Assert.Equal(0, store.RecordsOf(heavy[0]));
    }
}
