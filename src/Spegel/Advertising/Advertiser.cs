using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Spegel.Oci;
using Spegel.Routing;
using Spegel.Store;

using Spegel.Timing;

namespace Spegel.Advertising;

/// <summary>
/// Keeps the DHT in step with what containerd holds (SPEC §4). One loop owns the advertised set and handles, in
/// order: containerd events, blob-folder notifications and periodic reconciles (a full listing diffed against what
/// we advertise; it also catches garbage collection, which sends no event). Every digest is checked against the
/// store before it is advertised; deletions are withdrawn at once. When containerd's event stream breaks (a
/// restart), tracking is not ready until it reconnects, re-lists and re-advertises.
/// </summary>
internal sealed partial class Advertiser(
    IContentStore store,
    IStoreEventSource events,
    IRouter router,
    ContentPolicy policy,
    AdvertiserOptions options,
    ILogger<Advertiser> logger,
    Telemetry.SpegelInstruments? instruments = null)
{
    private readonly Telemetry.SpegelInstruments _instruments = instruments ?? new();
    private readonly WorkTracker _publishing = new(ex => LogPublishFailed(logger, ex.Message));
    private readonly Channel<StoreEvent> _queue = Channel.CreateUnbounded<StoreEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, string[]> _advertised = new(StringComparer.Ordinal);
    private HashSet<string> _imageTargets = new(StringComparer.Ordinal);
    private Dictionary<string, int> _imagesPerRegistry = [];
    private readonly HashSet<string> _gaugeRegistries = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private volatile bool _connected;
    private BlobFolderWatcher? _watcher;

    /// <summary>Subscribed to containerd and done with the initial advertisement.</summary>
    public bool Connected => _connected;

    /// <summary>When the last event, notification or reconcile was handled.</summary>
    public DateTimeOffset LastChange { get; private set; }

    public IReadOnlyCollection<string> AdvertisedKeys
    {
        get
        {
            lock (_gate)
            {
                return _advertised.Keys.ToList();
            }
        }
    }

    public ChannelWriter<StoreEvent> Notifications => _queue.Writer;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (options.ContentRoot is { } root)
        {
            _watcher = new BlobFolderWatcher(root, _queue.Writer, logger);
        }

        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                using var session = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                try
                {
                    // Subscribe before listing, so nothing that happens during the listing is missed.
                    var subscription = PumpEventsAsync(session.Token);
                    await ReconcileAsync(session.Token).ConfigureAwait(false);
                    _connected = true;
                    backoff.Reset();
                    LogTracking(logger, AdvertisedKeys.Count);
                    await ProcessAsync(subscription, session.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    // Whatever ended the session (containerd restarting, a call cancelled by its own deadline, or a
                    // bug), the loop must not end with it: a node that stopped tracking its content would look healthy
                    // and never advertise again. What is not containerd going away is logged as an error.
                    _connected = false;
                    var delay = backoff.Next();
                    if (ex is RpcException or IOException or HttpRequestException)
                    {
                        LogDisconnected(logger, ex.Message, delay.TotalMilliseconds);
                    }
                    else
                    {
                        LogSessionFailed(logger, ex, delay.TotalMilliseconds);
                    }

                    await session.CancelAsync().ConfigureAwait(false);
                    await Task.Delay(delay, options.Time, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            // Publishing still in flight ends with the loop (its token is cancelled); wait for it, briefly.
            using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _publishing.DrainAsync(drain.Token).ConfigureAwait(false);
            _connected = false;
            _watcher?.Dispose();
        }
    }

    /// <summary>Handles queued events until the subscription fails; reconciles on a timer and after image events.</summary>
    private async Task ProcessAsync(Task subscription, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(options.ReconcileInterval, options.Time);
        var tick = timer.WaitForNextTickAsync(cancellationToken).AsTask();
        var next = _queue.Reader.WaitToReadAsync(cancellationToken).AsTask();
        bool reconcileSoon = false;
        while (true)
        {
            _watcher?.TryStart();
            var done = await Task.WhenAny(subscription, tick, next).ConfigureAwait(false);
            if (done == subscription)
            {
                await subscription.ConfigureAwait(false); // rethrows why the stream ended
                throw new IOException("containerd's event stream ended");
            }

            if (done == tick)
            {
                await tick.ConfigureAwait(false);
                await ReconcileAsync(cancellationToken).ConfigureAwait(false);
                tick = timer.WaitForNextTickAsync(cancellationToken).AsTask();
                continue;
            }

            await next.ConfigureAwait(false);
            while (_queue.Reader.TryRead(out var storeEvent))
            {
                reconcileSoon |= await HandleAsync(storeEvent, cancellationToken).ConfigureAwait(false);
            }

            if (reconcileSoon)
            {
                // containerd < 2.1 sends no content events: after an image event, list the content once.
                reconcileSoon = false;
                await ReconcileAsync(cancellationToken).ConfigureAwait(false);
            }

            next = _queue.Reader.WaitToReadAsync(cancellationToken).AsTask();
        }
    }

    private async Task PumpEventsAsync(CancellationToken cancellationToken)
    {
        await foreach (var storeEvent in events.SubscribeAsync(cancellationToken).ConfigureAwait(false))
        {
            await _queue.Writer.WriteAsync(storeEvent, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Handles one event; true when a full reconcile should follow.</summary>
    internal async Task<bool> HandleAsync(StoreEvent storeEvent, CancellationToken cancellationToken)
    {
        LastChange = options.Time.GetUtcNow();
        switch (storeEvent.Kind)
        {
            case StoreEventKind.ImageCreated or StoreEventKind.ImageUpdated:
                if (storeEvent.ImageName is { } created && TagKey(created) is { } tag && await store.ResolveImageAsync(created, cancellationToken).ConfigureAwait(false) is not null)
                {
                    await AdvertiseAsync([(tag, [ImageName.TryParse(created)!.Registry])], cancellationToken).ConfigureAwait(false);
                }

                return true;

            case StoreEventKind.ImageDeleted:
                if (storeEvent.ImageName is { } deleted && TagKey(deleted) is { } deletedTag && await store.ResolveImageAsync(deleted, cancellationToken).ConfigureAwait(false) is null)
                {
                    await WithdrawAsync([deletedTag], cancellationToken).ConfigureAwait(false);
                }

                return true;

            case StoreEventKind.ContentCreated when storeEvent.Digest is { } digest:
                var info = await StatWithRetryAsync(digest, cancellationToken).ConfigureAwait(false);
                if (info is not null && policy.Allows(info.Sources))
                {
                    await AdvertiseAsync([(digest.ToString(), Registries(info))], cancellationToken).ConfigureAwait(false);
                }

                return false;

            case StoreEventKind.ContentDeleted when storeEvent.Digest is { } gone:
                if (await store.StatAsync(gone, cancellationToken).ConfigureAwait(false) is null)
                {
                    await WithdrawAsync([gone.ToString()], cancellationToken).ConfigureAwait(false);
                }

                return false;

            default:
                return true; // a notification without detail (watch overflow): reconcile
        }
    }

    /// <summary>Lists images and content, advertises what is missing and withdraws what is gone.</summary>
    internal async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        var desired = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var targets = new HashSet<string>(StringComparer.Ordinal);
        var imagesPerRegistry = new Dictionary<string, int>(StringComparer.Ordinal);
        await foreach (var image in store.ListImagesAsync(cancellationToken).ConfigureAwait(false))
        {
            if (ImageName.TryParse(image.Name) is { } name && policy.AllowsRegistry(name.Registry))
            {
                targets.Add(image.Target.ToString());
                imagesPerRegistry[name.Registry] = imagesPerRegistry.GetValueOrDefault(name.Registry) + 1;
            }

            if (TagKey(image.Name) is { } tag)
            {
                desired[tag] = [ImageName.TryParse(image.Name)!.Registry];
            }
        }

        await foreach (var content in store.ListContentAsync(cancellationToken).ConfigureAwait(false))
        {
            if (policy.Allows(content.Sources))
            {
                desired[content.Digest.ToString()] = Registries(content);
            }
        }

        List<(string, string[])> add;
        List<string> remove;
        lock (_gate)
        {
            _imageTargets = targets;
            _imagesPerRegistry = imagesPerRegistry;
            add = desired.Where(k => !_advertised.ContainsKey(k.Key)).Select(k => (k.Key, k.Value)).ToList();
            remove = _advertised.Keys.Where(k => !desired.ContainsKey(k)).ToList();
        }

        await WithdrawAsync(remove, cancellationToken).ConfigureAwait(false);
        await AdvertiseAsync(add, cancellationToken).ConfigureAwait(false);
        UpdateGauges();
        LastChange = options.Time.GetUtcNow();
    }

    private string? TagKey(string imageName) =>
        ImageName.TryParse(imageName) is { TagKey: { } key } name && policy.Allows(name.Registry, name.Repository, name.Tag) ? key : null;

    /// <summary>
    /// A blob's file appears before containerd records it in the namespace (same commit, metadata second): a few
    /// short retries bridge that gap. Null when it is not ours.
    /// </summary>
    private async Task<ContentInfo?> StatWithRetryAsync(Digest digest, CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromMilliseconds(5);
        for (int attempt = 0; attempt < 8; attempt++)
        {
            if (await store.StatAsync(digest, cancellationToken).ConfigureAwait(false) is { } info)
            {
                return info;
            }

            await Task.Delay(delay, options.Time, cancellationToken).ConfigureAwait(false);
            delay *= 2;
        }

        return null;
    }

    /// <summary>The allowed registries a blob came from (its distribution sources).</summary>
    private string[] Registries(ContentInfo content)
    {
        var registries = content.Sources
            .Select(s => s.Registry)
            .Where(policy.AllowsRegistry)
            .Distinct(StringComparer.Ordinal)
            .ToArray();
        return registries.Length > 0 ? registries : ["unknown"];
    }

    /// <summary>Publishes per-registry counts of what is advertised (Spegel's gauges).</summary>
    private void UpdateGauges()
    {
        var tags = new Dictionary<string, int>(StringComparer.Ordinal);
        var imageDigests = new Dictionary<string, int>(StringComparer.Ordinal);
        var contentDigests = new Dictionary<string, int>(StringComparer.Ordinal);
        Dictionary<string, int> images;
        lock (_gate)
        {
            images = new Dictionary<string, int>(_imagesPerRegistry);
            foreach (var (key, registries) in _advertised)
            {
                bool isDigest = key.StartsWith("sha256:", StringComparison.Ordinal) || key.StartsWith("sha512:", StringComparison.Ordinal);
                foreach (string registry in registries)
                {
                    var counts = !isDigest ? tags : contentDigests;
                    counts[registry] = counts.GetValueOrDefault(registry) + 1;
                    if (isDigest && _imageTargets.Contains(key))
                    {
                        imageDigests[registry] = imageDigests.GetValueOrDefault(registry) + 1;
                    }
                }
            }
        }

        lock (_gaugeRegistries)
        {
            // Registries seen before stay in the set, so their gauges drop to zero when their keys go.
            _gaugeRegistries.UnionWith(tags.Keys.Concat(contentDigests.Keys).Concat(images.Keys));
        }

        foreach (string registry in _gaugeRegistries.ToList())
        {
            _instruments.Registries.Know(registry);
            _instruments.AdvertisedImages.WithLabels(registry).Set(images.GetValueOrDefault(registry));
            _instruments.AdvertisedImageTags.WithLabels(registry).Set(tags.GetValueOrDefault(registry));
            _instruments.AdvertisedImageDigests.WithLabels(registry).Set(imageDigests.GetValueOrDefault(registry));
            _instruments.AdvertisedContentDigests.WithLabels(registry).Set(contentDigests.GetValueOrDefault(registry));
            _instruments.AdvertisedKeys.WithLabels(registry).Set(tags.GetValueOrDefault(registry) + contentDigests.GetValueOrDefault(registry));
        }
    }

    private async Task AdvertiseAsync(IReadOnlyCollection<(string Key, string[] Registries)> keys, CancellationToken cancellationToken)
    {
        List<string> fresh;
        lock (_gate)
        {
            fresh = keys.Where(k => _advertised.TryAdd(k.Key, k.Registries)).Select(k => k.Key).ToList();
        }

        if (fresh.Count == 0)
        {
            return;
        }

        UpdateGauges();

        LogAdvertising(logger, fresh.Count, fresh[0]);

        // The router records our own keys at once and publishes them in the background, owned by this advertiser.
        _publishing.Track(router.AdvertiseAsync(fresh, cancellationToken));
        await Task.CompletedTask.ConfigureAwait(false);
    }

    private async Task WithdrawAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
    {
        List<string> gone;
        lock (_gate)
        {
            gone = keys.Where(k => _advertised.Remove(k)).ToList();
        }

        if (gone.Count > 0)
        {
            UpdateGauges();
            LogWithdrawing(logger, gone.Count, gone[0]);
            await router.WithdrawAsync(gone, cancellationToken).ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 1801, Level = LogLevel.Information, Message = "Tracking containerd: {Keys} keys advertised")]
    private static partial void LogTracking(ILogger logger, int keys);

    [LoggerMessage(EventId = 1802, Level = LogLevel.Warning, Message = "Lost containerd ({Reason}); not ready; reconnecting in {DelayMs} ms")]
    private static partial void LogDisconnected(ILogger logger, string reason, double delayMs);

    [LoggerMessage(EventId = 1806, Level = LogLevel.Error, Message = "Tracking containerd's content failed unexpectedly; not ready; starting over in {DelayMs} ms")]
    private static partial void LogSessionFailed(ILogger logger, Exception exception, double delayMs);

    [LoggerMessage(EventId = 1803, Level = LogLevel.Debug, Message = "Advertising {Count} keys, e.g. {Key}")]
    private static partial void LogAdvertising(ILogger logger, int count, string key);

    [LoggerMessage(EventId = 1804, Level = LogLevel.Debug, Message = "Withdrawing {Count} keys, e.g. {Key}")]
    private static partial void LogWithdrawing(ILogger logger, int count, string key);

    [LoggerMessage(EventId = 1805, Level = LogLevel.Warning, Message = "Publishing keys to the DHT failed: {Reason}")]
    private static partial void LogPublishFailed(ILogger logger, string reason);
}

/// <summary>Settings of the advertiser.</summary>
internal sealed record AdvertiserOptions(string? ContentRoot, TimeSpan ReconcileInterval, TimeProvider Time);
