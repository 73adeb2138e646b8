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
