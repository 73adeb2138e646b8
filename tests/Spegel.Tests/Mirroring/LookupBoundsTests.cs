using System.Net;
using System.Runtime.CompilerServices;
using Spegel.Mirroring;
using Spegel.Routing;
using Spegel.Tests.Registry;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Mirroring;

/// <summary>
/// Lookups are bounded: per client (a flood of unique digests from one client must not keep thousands of DHT lookups
/// in flight), in number running and in number remembered; a lookup already cached or running is always shared.
/// </summary>
public sealed class LookupBoundsTests
{
    private static readonly IPAddress Client = IPAddress.Parse("10.77.0.5");
    private readonly ManualTime _time = new();

    private MirrorOptions Options(int burst = 8, double rate = 2, int running = 128, int entries = 4096) => new()
    {
        RegistryPort = 1,
        Time = _time,
        LookupBurstPerClient = burst,
        LookupsPerSecondPerClient = rate,
        MaxLookupsRunning = running,
        MaxLookupEntries = entries,
    };

    private static string Key(int i) => $"sha256:{i:x64}";

    [Fact]
    public void AClientFloodingUniqueKeysIsHeldToItsBurstThenItsRateAndOthersAreNot()
    {
        var cache = new LookupCache(new HangingRouter(), Options());
        var answers = Enumerable.Range(0, 1000).Select(i => cache.Admit(Client, Key(i), 3)).ToList();
        Assert.Equal(8, answers.Count(a => a == LookupAdmission.Admitted));
        Assert.Equal(992, answers.Count(a => a == LookupAdmission.ClientRate));
        Assert.Equal(LookupAdmission.Admitted, cache.Admit(IPAddress.Parse("10.77.0.6"), Key(5000), 3));

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(2, Enumerable.Range(2000, 10).Count(i => cache.Admit(Client, Key(i), 3) == LookupAdmission.Admitted));
    }

    [Fact]
    public async Task ALookupRunningOrCachedIsSharedWhateverTheClientsRate()
    {
        var router = new HangingRouter();
        var cache = new LookupCache(router, Options(burst: 1));
        Assert.Equal(LookupAdmission.Admitted, cache.Admit(Client, Key(1), 3));
        await using var lookup = cache.PeersAsync(Key(1), 3, CancellationToken.None).GetAsyncEnumerator();
        var first = lookup.MoveNextAsync(); // starts the lookup
        await Eventually.WaitAsync(() => router.Started == 1, "the lookup starting");
        Assert.Equal(LookupAdmission.ClientRate, cache.Admit(Client, Key(2), 3));
        Assert.Equal(LookupAdmission.Admitted, cache.Admit(Client, Key(1), 3));
        router.Release();
        await first;
    }

    [Fact]
    public async Task LookupsRunningAtOnceAreCapped()
    {
        var router = new HangingRouter();
        var cache = new LookupCache(router, Options(burst: 1000, running: 4));
        var readers = new List<IAsyncEnumerator<RoutedPeer>>();
        var admissions = new List<LookupAdmission>();
        for (int i = 0; i < 10; i++)
        {
            var admission = cache.Admit(Client, Key(i), 3);
            admissions.Add(admission);
            if (admission == LookupAdmission.Admitted)
            {
                var reader = cache.PeersAsync(Key(i), 3, CancellationToken.None).GetAsyncEnumerator();
                _ = reader.MoveNextAsync();
                readers.Add(reader);
                await Eventually.WaitAsync(() => router.Started == readers.Count, "the lookup running");
            }
        }

        Assert.Equal(4, admissions.Count(a => a == LookupAdmission.Admitted));
        Assert.Equal(6, admissions.Count(a => a == LookupAdmission.Capacity));
        Assert.Equal(4, router.Started);
        router.Release();
        await Eventually.WaitAsync(() => cache.Running == 0, "the lookups ending");
        Assert.Equal(LookupAdmission.Admitted, cache.Admit(Client, Key(100), 3));
        foreach (var reader in readers)
        {
            await reader.DisposeAsync();
        }
    }

    [Fact]
    public async Task LookupsRememberedAreCappedUntilTheyExpire()
    {
        var router = new HangingRouter();
        router.Release();
        var cache = new LookupCache(router, Options(burst: 1000, entries: 8));
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(LookupAdmission.Admitted, cache.Admit(Client, Key(i), 3));
            await foreach (var _ in cache.PeersAsync(Key(i), 3, CancellationToken.None))
            {
            }
        }

        Assert.Equal(8, cache.Cached);
        Assert.Equal(LookupAdmission.Capacity, cache.Admit(Client, Key(8), 3));
        _time.Advance(TimeSpan.FromSeconds(6)); // past the 5 s they are kept
        Assert.Equal(LookupAdmission.Admitted, cache.Admit(Client, Key(8), 3));
        Assert.Equal(0, cache.Cached);
    }

    [Theory]
    [InlineData("10.77.0.5", "10.77.0.5", true)]
    [InlineData("10.77.0.5", "10.77.0.6", false)]
    [InlineData("::ffff:10.77.0.5", "10.77.0.5", true)]
    [InlineData("fd77:77::1", "fd77:77::ffff:1", true)]      // one /64: one host may hold all of it
    [InlineData("fd77:77::1", "fd77:77:0:1::1", false)]
    public void ClientsAreIPv4AddressesAndIPv6Slash64s(string a, string b, bool same) =>
        Assert.Equal(same, LookupCache.ClientKey(IPAddress.Parse(a)).Equals(LookupCache.ClientKey(IPAddress.Parse(b))));

    /// <summary>
    /// On Kestrel: a client over its lookup rate gets 503 (containerd asks the next host) without a lookup, a request
    /// sharing a cached lookup is still answered, and the refusals are counted.
    /// </summary>
    [Fact]
    public async Task OverItsRateAClientIsAnswered503WithoutALookup()
    {
        await using var harness = await MirrorHarness.StartAsync(
            [new PeerSetup(IPAddress.Parse("127.0.0.2"), PeerBehaviour.NotFound, 0)],
            routes: null,
            tune: o => o with { LookupBurstPerClient = 3, LookupsPerSecondPerClient = 0.001 });
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(404, (await RawHttp.GetAsync(harness.Port, $"/v2/library/app/blobs/{Key(i)}?ns=docker.io")).Status);
        }

        var refused = await RawHttp.GetAsync(harness.Port, $"/v2/library/app/blobs/{Key(3)}?ns=docker.io");
        Assert.Equal(503, refused.Status);
        Assert.Equal("1", refused.Header("Retry-After"));
        Assert.Contains("UNAVAILABLE", refused.BodyText, StringComparison.Ordinal);
        Assert.Equal(3, harness.Router.Lookups);
        Assert.Equal(1, harness.Stats.Instruments.Refused.WithLabels("lookup_client_rate").Value);

        // The same digest again shares its cached lookup: answered as before, no new lookup.
        Assert.Equal(404, (await RawHttp.GetAsync(harness.Port, $"/v2/library/app/blobs/{Key(0)}?ns=docker.io")).Status);
        Assert.Equal(3, harness.Router.Lookups);
    }

    /// <summary>Lookups that end only when released (or cancelled).</summary>
    private sealed class HangingRouter : IRouter
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _started;

        public int Started => Volatile.Read(ref _started);

        public string Id => "self";

        public bool Ready => true;

        public void Release() => _release.TrySetResult();

        public Task AdvertiseAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task WithdrawAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) => Task.CompletedTask;

        public async IAsyncEnumerable<RoutedPeer> LookupAsync(string key, int count, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _started);
            await _release.Task.WaitAsync(cancellationToken);
            yield break;
        }
    }
}
