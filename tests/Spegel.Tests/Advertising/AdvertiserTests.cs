using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Spegel.Advertising;
using Spegel.Oci;
using Spegel.Routing;
using Spegel.Store;
using Spegel.Tests.Registry;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Advertising;

/// <summary>
/// The advertiser over an in-memory store and a fake event stream. The stream stands in for containerd ≥ 2.1 (which
/// sends <c>/content/create</c>; Debian has 1.6) and for a containerd that restarts. Its retries, backoff and reconcile
/// timer run on <see cref="ManualTime"/>: each test moves the clock exactly past the wait it is about.
/// </summary>
public sealed class AdvertiserTests
{
    /// <summary>The advertiser's stat retries for a blob not (yet) in our namespace: 5 ms doubling, 8 attempts.</summary>
    private static readonly int[] StatRetryDelaysMs = [5, 10, 20, 40, 80, 160, 320, 640];
    private readonly ManualTime _time = new();

    private static readonly Dictionary<string, string> FromDockerHub = new() { ["containerd.io/distribution.source.docker.io"] = "library/app" };
    private static readonly Dictionary<string, string> FromGhcr = new() { ["containerd.io/distribution.source.ghcr.io"] = "org/tool" };

    [Fact]
    public async Task AdvertisesTagsAndContentAtStartAndFollowsEvents()
    {
        var store = new MemoryContentStore();
        var layer = store.Add(Encoding.UTF8.GetBytes("layer"), FromDockerHub);
        var manifest = store.AddImage("docker.io/library/app:1", Encoding.UTF8.GetBytes("{\"manifests\":[]}"), MediaTypes.OciIndex, FromDockerHub);
        store.AddImage($"docker.io/library/app@{manifest}", Encoding.UTF8.GetBytes("{\"manifests\":[]}"), MediaTypes.OciIndex, FromDockerHub);
        await using var run = Run(store, ContentPolicy.AllowAll);
        await Eventually.WaitAsync(() => run.Advertiser.Connected, "connected");
        Assert.Equal(new[] { "docker.io/library/app:1", layer.ToString(), manifest.ToString() }.Order(), run.Router.Advertised.Order());

        // containerd 2.1 announces a committed blob at once.
        var fresh = store.Add(Encoding.UTF8.GetBytes("new layer"), FromDockerHub);
        run.Events.Writer.TryWrite(new StoreEvent(StoreEventKind.ContentCreated, null, fresh));
        await Eventually.WaitAsync(() => run.Router.Advertised.Contains(fresh.ToString()), "the fresh blob advertised");

        // A blob whose namespace record lags its event is advertised once a retry finds it...
        var lagging = new MemoryContentStore().Add(Encoding.UTF8.GetBytes("lagging layer"), FromDockerHub);
        run.Events.Writer.TryWrite(new StoreEvent(StoreEventKind.ContentCreated, null, lagging));
        await _time.AdvanceWhenWaitingAsync(TimeSpan.FromMilliseconds(StatRetryDelaysMs[0]));
        await _time.NextTimerAsync(TimeSpan.FromMilliseconds(StatRetryDelaysMs[1]));
        Assert.DoesNotContain(lagging.ToString(), run.Router.Advertised);
        store.Add(Encoding.UTF8.GetBytes("lagging layer"), FromDockerHub);
        _time.Advance(TimeSpan.FromMilliseconds(StatRetryDelaysMs[1]));
        await Eventually.WaitAsync(() => run.Router.Advertised.Contains(lagging.ToString()), "the lagging blob advertised");

        // ...and one that never shows up in our namespace is not, once every retry has failed. Events are handled in
        // order: when the next blob is advertised, the retries of the foreign one are over.
        var foreign = Digest.Parse("sha256:" + new string('9', 64));
        var next = store.Add(Encoding.UTF8.GetBytes("next layer"), FromDockerHub);
        run.Events.Writer.TryWrite(new StoreEvent(StoreEventKind.ContentCreated, null, foreign));
        run.Events.Writer.TryWrite(new StoreEvent(StoreEventKind.ContentCreated, null, next));
        foreach (int delay in StatRetryDelaysMs)
        {
            Assert.DoesNotContain(next.ToString(), run.Router.Advertised);
            await _time.AdvanceWhenWaitingAsync(TimeSpan.FromMilliseconds(delay));
        }

        await Eventually.WaitAsync(() => run.Router.Advertised.Contains(next.ToString()), "the next blob advertised");
        Assert.DoesNotContain(foreign.ToString(), run.Router.Advertised);

        // Deleting the image withdraws its tag; deleting content withdraws the digest.
        store.RemoveImage("docker.io/library/app:1");
        run.Events.Writer.TryWrite(new StoreEvent(StoreEventKind.ImageDeleted, "docker.io/library/app:1", null));
        store.Remove(layer);
        run.Events.Writer.TryWrite(new StoreEvent(StoreEventKind.ContentDeleted, null, layer));
        await Eventually.WaitAsync(() => run.Router.Withdrawn.Contains("docker.io/library/app:1") && run.Router.Withdrawn.Contains(layer.ToString()), "the tag and the layer withdrawn");
    }

    [Fact]
    public async Task GarbageCollectionWithoutEventsIsCaughtByReconcile()
    {
        var store = new MemoryContentStore();
        var layer = store.Add(Encoding.UTF8.GetBytes("layer"), FromDockerHub);
        var interval = TimeSpan.FromMinutes(1);
        await using var run = Run(store, ContentPolicy.AllowAll, interval);
        await Eventually.WaitAsync(() => run.Router.Advertised.Contains(layer.ToString()), "the layer advertised");
        await _time.NextTimerAsync(interval); // the reconcile timer
        store.Remove(layer); // no event, like containerd 1.6's GC
        Assert.DoesNotContain(layer.ToString(), run.Router.Withdrawn); // nothing happens before the reconcile
        _time.Advance(interval);
        await Eventually.WaitAsync(() => run.Router.Withdrawn.Contains(layer.ToString()), "the layer withdrawn");
    }

    [Fact]
    public async Task MirroredRegistriesAndFiltersDecideWhatIsAdvertised()
    {
        var store = new MemoryContentStore();
        var hub = store.Add(Encoding.UTF8.GetBytes("hub layer"), FromDockerHub);
        var ghcr = store.Add(Encoding.UTF8.GetBytes("ghcr layer"), FromGhcr);
        var unlabelled = store.Add(Encoding.UTF8.GetBytes("imported"));
        store.AddImage("docker.io/library/app:latest", Encoding.UTF8.GetBytes("{\"config\":{}}"), MediaTypes.OciManifest, FromDockerHub);
        store.AddImage("docker.io/library/app:2", Encoding.UTF8.GetBytes("{\"config\":{},\"x\":1}"), MediaTypes.OciManifest, FromDockerHub);
        RegistryUrl.TryParse("https://docker.io", false, out var dockerHub, out _);
        var policy = new ContentPolicy([dockerHub!], [new System.Text.RegularExpressions.Regex(":latest$")], resolveLatestTag: true);
        await using var run = Run(store, policy);
        await Eventually.WaitAsync(() => run.Advertiser.Connected, "connected");
        Assert.Contains(hub.ToString(), run.Router.Advertised);
        Assert.Contains("docker.io/library/app:2", run.Router.Advertised);
        Assert.DoesNotContain(ghcr.ToString(), run.Router.Advertised);
        Assert.DoesNotContain(unlabelled.ToString(), run.Router.Advertised);
        Assert.DoesNotContain("docker.io/library/app:latest", run.Router.Advertised);
    }

    [Fact]
    public async Task AContainerdRestartMakesItNotReadyThenReListsEverything()
    {
        var store = new MemoryContentStore();
        var layer = store.Add(Encoding.UTF8.GetBytes("layer"), FromDockerHub);
        await using var run = Run(store, ContentPolicy.AllowAll);
        await Eventually.WaitAsync(() => run.Advertiser.Connected, "connected");
        Assert.Contains(layer.ToString(), run.Router.Advertised);

        // containerd restarts; while it is away (the 100 ms backoff has not passed) tracking is not ready.
        run.Source.Fail(new RpcException(new Status(StatusCode.Unavailable, "containerd restarted")));
        await Eventually.WaitAsync(() => !run.Advertiser.Connected, "not ready");
        await _time.NextTimerAsync(TimeSpan.FromMilliseconds(100));
        Assert.False(run.Advertiser.Connected);
        Assert.Equal(1, run.Source.Subscriptions);

        // What changed meanwhile sends no event (a restarted containerd does not replay them): only re-listing on
        // reconnect can catch it. The periodic reconcile (1 min) never runs in this test.
        var added = store.Add(Encoding.UTF8.GetBytes("pulled while we were away"), FromDockerHub);
        store.Remove(layer);
        _time.Advance(TimeSpan.FromMilliseconds(100));
        await Eventually.WaitAsync(() => run.Advertiser.Connected, "ready again");
        Assert.Equal(2, run.Source.Subscriptions);
        Assert.Contains(added.ToString(), run.Router.Advertised);
        Assert.Contains(layer.ToString(), run.Router.Withdrawn);
        Assert.Equal(TimeSpan.FromMilliseconds(100), _time.Elapsed);
    }

    /// <summary>
    /// Whatever ends a session (here: a call cancelled by its own deadline, not by us; an exception nobody expected), the
    /// advertiser starts over after the backoff: a loop that ended would leave a node that never advertises again.
    /// </summary>
    [Theory]
    [InlineData("deadline")]
    [InlineData("bug")]
    public async Task AnUnexpectedEndOfTheSessionIsRetriedLikeARestart(string kind)
    {
        var store = new MemoryContentStore();
        await using var run = Run(store, ContentPolicy.AllowAll);
        await Eventually.WaitAsync(() => run.Advertiser.Connected, "connected");

        run.Source.Fail(kind == "deadline" ? new OperationCanceledException("the call's own deadline") : new InvalidOperationException("a bug"));
        await Eventually.WaitAsync(() => !run.Advertiser.Connected, "not ready");
        await _time.NextTimerAsync(TimeSpan.FromMilliseconds(100));
        var added = store.Add(Encoding.UTF8.GetBytes("pulled while it started over"), FromDockerHub);
        _time.Advance(TimeSpan.FromMilliseconds(100));

        await Eventually.WaitAsync(() => run.Advertiser.Connected, "ready again");
        Assert.False(run.Task.IsCompleted);
        Assert.Equal(2, run.Source.Subscriptions);
        Assert.Contains(added.ToString(), run.Router.Advertised);
    }

    private Running Run(MemoryContentStore store, ContentPolicy policy, TimeSpan? reconcile = null)
    {
        var router = new RecordingRouter();
        var source = new FakeEventSource();
        var advertiser = new Advertiser(store, source, router, policy, new AdvertiserOptions(null, reconcile ?? TimeSpan.FromMinutes(1), _time), NullLogger<Advertiser>.Instance);
        var cancel = new CancellationTokenSource();
        var task = Task.Run(() => advertiser.RunAsync(cancel.Token));
        return new Running(advertiser, router, source, source.Channel, cancel, task);
    }

    private sealed record Running(Advertiser Advertiser, RecordingRouter Router, FakeEventSource Source, Channel<StoreEvent> Events, CancellationTokenSource Cancel, Task Task) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Cancel.CancelAsync();
            await Task;
        }
    }

    /// <summary>An event stream that can be fed and broken; every subscription reads the same channel.</summary>
    private sealed class FakeEventSource : IStoreEventSource
    {
        private TaskCompletionSource<Exception> _failure = new();

        public Channel<StoreEvent> Channel { get; } = System.Threading.Channels.Channel.CreateUnbounded<StoreEvent>();

        public int Subscriptions;

        public void Fail(Exception error) => _failure.TrySetResult(error);

        public async IAsyncEnumerable<StoreEvent> SubscribeAsync([EnumeratorCancellation] CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Subscriptions);
            var failure = _failure.Task;
            while (true)
            {
                var read = Channel.Reader.WaitToReadAsync(cancellationToken).AsTask();
                if (await Task.WhenAny(read, failure) == failure)
                {
                    _failure = new TaskCompletionSource<Exception>();
                    throw await failure;
                }

                await read;
                while (Channel.Reader.TryRead(out var item))
                {
                    yield return item;
                }
            }
        }
    }

    private sealed class RecordingRouter : IRouter
    {
        private readonly List<string> _advertised = [];
        private readonly List<string> _withdrawn = [];

        public string Id => "self";

        public bool Ready => true;

        public IReadOnlyList<string> Advertised
        {
            get
            {
                lock (_advertised)
                {
                    return _advertised.Except(Withdrawn).ToList();
                }
            }
        }

        public IReadOnlyList<string> Withdrawn
        {
            get
            {
                lock (_withdrawn)
                {
                    return [.. _withdrawn];
                }
            }
        }

        public Task AdvertiseAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
        {
            lock (_advertised)
            {
                _advertised.AddRange(keys);
            }

            lock (_withdrawn)
            {
                _withdrawn.RemoveAll(keys.Contains);
            }

            return Task.CompletedTask;
        }

        public Task WithdrawAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
        {
            lock (_withdrawn)
            {
                _withdrawn.AddRange(keys);
            }

            return Task.CompletedTask;
        }

        public async IAsyncEnumerable<RoutedPeer> LookupAsync(string key, int count, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.CompletedTask;
            yield break;
        }
    }
}
