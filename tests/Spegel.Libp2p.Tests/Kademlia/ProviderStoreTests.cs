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
}
