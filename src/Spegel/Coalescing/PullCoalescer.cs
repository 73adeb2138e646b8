using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Spegel.Oci;
using Spegel.Routing;
using Spegel.Store;
using Spegel.Timing;
using Spegel.Telemetry;

namespace Spegel.Coalescing;

/// <summary>
/// Turns a cold "thundering herd" (many nodes pulling the same new layer at once, none holding it yet) into one
/// download from the upstream that the other nodes follow as it arrives, instead of every node downloading it.
/// <list type="number">
/// <item>A blob no peer holds (the ordinary lookup found nobody) is looked up under its claim key. Nodes that claimed
/// it are downloading it or about to: follow them, lowest peer ID first.</item>
/// <item>Nobody claimed it: claim it at the arbiter, the DHT node nearest the claim key, which every claimant's lookup
/// reaches (<see cref="IRouter.ClaimAsync"/>). The arbiter lists the claims in the order they arrived: the first
/// listed leads, every other follows the claims listed before its own. No waiting for records to spread: a miss
/// nobody else makes costs a lookup and one exchange. The miss of the leader goes back to our containerd, which
/// downloads the blob from the upstream with its own credentials, as without spegel.</item>
/// <item>No arbiter answered (a lone node, a failed exchange): announce the claim, wait
/// <see cref="CoalescingOptions.Settle"/> for rival claims of the same moment to become visible, and look again; a
/// rival with a lower peer ID wins.</item>
/// <item>A peer asking the leader for the blob is served from containerd's download in progress (its ingest file),
/// waiting up to <see cref="CoalescingOptions.StartTimeout"/> for it to start. The follower relays those bytes through
/// the ordinary mirror path, which hashes the whole blob and never completes a response whose digest does not match.</item>
/// </list>
/// A node serves a download in progress when it claimed the blob and then led it, or followed an earlier claim (its
/// own ingest fills from that peer). Following runs only towards earlier claims (or lower IDs, without an arbiter), so
/// nodes never wait on each other in a circle (containerd creates the ingest before it asks the mirror); and a node
/// that saw only a rival which itself follows a third node still gets the blob through that rival instead of a 404
/// and a second upstream download. Every wait is bounded, so the worst case is what happens without coalescing: each
/// node goes upstream itself. Claim keys are separate from content keys, so Spegel nodes in a mixed cluster never
/// mistake a claim for content (a Spegel node may be an arbiter: it lists providers in its own order, and two nodes
/// may then both lead, as without coalescing).
/// </summary>
internal sealed partial class PullCoalescer(IRouter router, IDownloadsInProgress downloads, CoalescingOptions options, ILogger<PullCoalescer> logger, SpegelInstruments? instruments = null, Refusals? refusals = null)
{
    private readonly Refusals _refusals = refusals ?? new Refusals(instruments ?? new SpegelInstruments());
    private readonly WorkTracker _withdrawals = new(ex => LogWithdrawFailed(logger, ex.Message));
    private readonly WorkTracker _publishing = new(ex => LogPublishFailed(logger, ex.Message));

    /// <summary>The instruments given, else the refusals' (one registry for both when only one is given).</summary>
    private SpegelInstruments Instruments => instruments ?? _refusals.Instruments;

    /// <summary>Claim publishes still running (each ends within <see cref="CoalescingOptions.PublishLimit"/>).</summary>
    public int Publishing => _publishing.Count;
    private const int MaxClaims = 4096;
    private readonly ConcurrentDictionary<Digest, Claim> _claims = new();

    /// <summary>The DHT key under which nodes claim the download of <paramref name="digest"/>.</summary>
    public static string ClaimKey(Digest digest) => $"spegel-pull/{digest}";

    /// <summary>
    /// For a blob no peer holds: the peers to follow (lowest ID first), or an empty list when this node leads and its
    /// containerd should download the blob from the upstream.
    /// </summary>
    /// <param name="mayClaim">
    /// The request is this node's containerd's: only then is a claim published when nobody claimed the blob (a claim
    /// is a DHT record every node acts on, and leading only helps when our own containerd downloads the blob next).
    /// Any other client may follow existing claims, and is told 404 otherwise.
    /// </param>
    public async Task<IReadOnlyList<RoutedPeer>> FindLeadersAsync(Digest digest, bool mayClaim, CancellationToken cancellationToken)
    {
        Prune();
        if (_claims.TryGetValue(digest, out var current) && options.Time.GetElapsedTime(current.Since) < options.ClaimLifetime
            && await current.DecisionAsync(options.StartTimeout, options.Time, cancellationToken).ConfigureAwait(false) is ClaimRole.Leading or ClaimRole.Following)
        {
            // Our containerd asks again (a retry, or ranges of one blob in parallel): the decision made stands. A node
            // with a claim never follows anyone but the earlier claimants it decided on, so nodes that serve their
            // downloads never wait on each other in a circle.
            return current.Winners;
        }

        string key = ClaimKey(digest);
        if (!mayClaim)
        {
            var claimants = await ClaimantsAsync(key, cancellationToken).ConfigureAwait(false);
            if (claimants.Count > 0)
            {
                return Follow(digest, claimants);
            }

            _refusals.Refuse(RefusalReason.ClaimNotLocal, $"{digest}: nobody claimed it, and the client is not this node's containerd");
            return [];
        }

        // Peers that find our claim may ask before we have decided: they wait for the decision (OpenInProgressAsync).
        long started = options.Time.GetTimestamp();
        var claim = new Claim(started, options.PublishLimit, options.Time);
        _claims[digest] = claim;
        IReadOnlyList<RoutedPeer> winners = [];
        var role = ClaimRole.Abandoned;
        int seen = 0;
        TimeSpan published = TimeSpan.Zero;
        string decidedBy = "arbiter";
        try
        {
            var order = await ArbitrateAsync(digest, key, claim, cancellationToken).ConfigureAwait(false);
            if (order is null)
            {
                // No arbiter: look for claims, and otherwise announce ours and wait for rivals to show.
                decidedBy = "settle";
                order = await ClaimantsAsync(key, cancellationToken).ConfigureAwait(false);
                if (order.Count == 0)
                {
                    await PublishAsync(digest, key, claim, cancellationToken).ConfigureAwait(false);
                    published = options.Time.GetElapsedTime(started);
                    await Task.Delay(options.Settle, options.Time, cancellationToken).ConfigureAwait(false);
                    var rivals = await ClaimantsAsync(key, cancellationToken).ConfigureAwait(false);
                    seen = rivals.Count;
                    winners = rivals.Where(p => string.CompareOrdinal(p.Id, router.Id) < 0).ToList();
                    role = winners.Count == 0 ? ClaimRole.Leading : ClaimRole.Following;
                }
            }
            else if (order.Any(p => p.Id == router.Id))
            {
                // The arbiter's order decides at once: the claims listed before ours came first, and every rival reads
                // the same order. No settle time: a miss nobody else makes costs a lookup and one exchange.
                published = options.Time.GetElapsedTime(started);
                seen = order.Count - 1;
                winners = order.TakeWhile(p => p.Id != router.Id).ToList();
                role = winners.Count == 0 ? ClaimRole.Leading : ClaimRole.Following;
            }

            if (role == ClaimRole.Abandoned && order.Count > 0)
            {
                // Claimed before us, and we made no claim: follow them; our download is never served (the node did
                // not claim it, so no peer follows it). A claim record an arbitration left here (it timed out, then
                // went through) goes too, or it would be reprovided for good: publishing stops first, so a publish
                // still on its way removes what it adds (IRouter.ClaimAsync), then the key is withdrawn.
                _claims.TryRemove(new KeyValuePair<Digest, Claim>(digest, claim));
                claim.StopPublishing();
                await router.WithdrawAsync([key], cancellationToken).ConfigureAwait(false);
                return Follow(digest, order.OrderBy(p => p.Id, StringComparer.Ordinal).ToList());
            }
        }
        finally
        {
            role = cancellationToken.IsCancellationRequested ? ClaimRole.Abandoned : role;
            claim.Decide(role, winners);
            if (role == ClaimRole.Abandoned)
            {
                claim.StopPublishing();
            }
        }

        var decided = options.Time.GetElapsedTime(started);
        if (role == ClaimRole.Following)
        {
            // Our claim stays (a peer that saw only us may ask), but is no longer announced: newcomers follow the winner.
            claim.StopPublishing();
            await router.WithdrawAsync([key], cancellationToken).ConfigureAwait(false);
            Instruments.CoalescedPulls.WithLabels("follower").Inc();
            LogDecidedToFollow(logger, digest.ToString(), winners[0].Id, seen, decidedBy, published.TotalMilliseconds, decided.TotalMilliseconds);
            return winners;
        }

        Instruments.CoalescedPulls.WithLabels("leader").Inc();
        LogDecidedToLead(logger, digest.ToString(), seen, decidedBy, published.TotalMilliseconds, decided.TotalMilliseconds);
        return [];
    }

    private IReadOnlyList<RoutedPeer> Follow(Digest digest, IReadOnlyList<RoutedPeer> claimants)
    {
        Instruments.CoalescedPulls.WithLabels("follower").Inc();
        LogFollowing(logger, digest.ToString(), claimants[0].Id);
        return claimants;
    }

    /// <summary>
    /// For a peer's request: our containerd's download of <paramref name="digest"/> when this node claimed it and then
    /// leads it or follows a lower ID (see the class), waiting up to <see cref="CoalescingOptions.StartTimeout"/> for
    /// the decision and for the download to start; null at once otherwise.
    /// </summary>
    public async Task<BlobReader?> OpenInProgressAsync(Digest digest, CancellationToken cancellationToken)
    {
        if (!_claims.TryGetValue(digest, out var claim) || options.Time.GetElapsedTime(claim.Since) >= options.ClaimLifetime
            || !await claim.ServesAsync(options.StartTimeout, options.Time, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        return await downloads.OpenAsync(digest, options.StartTimeout, options.StallLimit, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Forgets downloads led longer ago than the claim lifetime and withdraws their claims.</summary>
    private void Prune()
    {
        var expired = _claims.Where(p => options.Time.GetElapsedTime(p.Value.Since) >= options.ClaimLifetime || _claims.Count > MaxClaims).Select(p => p.Key).ToList();
        foreach (var digest in expired)
        {
            if (_claims.TryRemove(digest, out var claim))
            {
                claim.StopPublishing();
            }
        }

        if (expired.Count > 0)
        {
            var keys = expired.Select(ClaimKey).ToList();
            _withdrawals.Track(router.WithdrawAsync(keys, CancellationToken.None));
        }
    }

    /// <summary>
    /// Claims the blob (<see cref="IRouter.ClaimAsync"/>), waiting at most <see cref="CoalescingOptions.PublishWait"/>:
    /// the earlier claimants (we are not listed), or the arbiter's order (we are listed; an answer listing others only,
    /// which holds a bounded number of providers that all came before us, is followed like earlier claimants). Null otherwise: no arbiter, a slow or
    /// failed one, or an empty answer (an arbiter that did not store our claim); the caller then announces and waits
    /// for rivals to show, as before arbiters.
    /// </summary>
    private async Task<IReadOnlyList<RoutedPeer>?> ArbitrateAsync(Digest digest, string key, Claim claim, CancellationToken cancellationToken)
    {
        var arbitration = router.ClaimAsync(key, claim.PublishToken);
        try
        {
            var order = await arbitration.WaitAsync(options.PublishWait, options.Time, cancellationToken).ConfigureAwait(false);
            return order is { Count: > 0 } ? order : null;
        }
        catch (TimeoutException)
        {
            LogPublishSlow(logger, digest.ToString(), options.PublishWait.TotalMilliseconds);
            _publishing.Track(arbitration);
            return null;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            LogPublishFailed(logger, ex.Message);
            return null;
        }
    }

    /// <summary>
    /// Publishes our claim, waiting for it at most <see cref="CoalescingOptions.PublishWait"/>: a slow DHT member (one
    /// that answers FIND_NODE after seconds) must not hold up the request, which is a miss on its way to the upstream.
    /// The publish goes on in the background, tracked, until it ends or <see cref="CoalescingOptions.PublishLimit"/>;
    /// a claim published late only means a rival may not see it and download the blob too (what happens without
    /// coalescing).
    /// </summary>
    private async Task PublishAsync(Digest digest, string key, Claim claim, CancellationToken cancellationToken)
    {
        var publish = router.AdvertiseNowAsync([key], claim.PublishToken);
        _publishing.Track(publish);
        try
        {
            await publish.WaitAsync(options.PublishWait, options.Time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogPublishSlow(logger, digest.ToString(), options.PublishWait.TotalMilliseconds);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            // Failed (the tracker logs it): decide as if it were slow.
        }
    }

    /// <summary>The peers that claimed <paramref name="key"/>, lowest ID first, found within the lookup limit.</summary>
    private async Task<IReadOnlyList<RoutedPeer>> ClaimantsAsync(string key, CancellationToken cancellationToken)
    {
        var found = new List<RoutedPeer>();
        // The limit runs on the injected clock like every other wait here (tests drive the whole decision with fake time).
        using var deadline = new CancellationTokenSource(options.LookupLimit, options.Time);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            await foreach (var peer in router.LookupAsync(key, 0, limit.Token).ConfigureAwait(false))
            {
                if (peer.Id != router.Id)
                {
                    found.Add(peer);
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }

        return found.OrderBy(p => p.Id, StringComparer.Ordinal).ToList();
    }

    /// <summary>What became of our claim on a blob.</summary>
    private enum ClaimRole
    {
        /// <summary>No lower ID claimed it: our containerd downloads it from the upstream.</summary>
        Leading,

        /// <summary>A lower ID claimed it: our containerd gets it from that peer, through our spegel.</summary>
        Following,

        /// <summary>The request went away before the decision: nobody downloads it for this claim.</summary>
        Abandoned,
    }

    /// <summary>Our claim on a blob: when it was made, and its role once decided.</summary>
    private sealed class Claim(long since, TimeSpan publishLimit, TimeProvider time)
    {
        private readonly TaskCompletionSource<ClaimRole> _decided = new(TaskCreationOptions.RunContinuationsAsynchronously);

        // Not disposed: it ends the publish when the claim is dropped, or by itself after the publish limit.
        private readonly CancellationTokenSource _publishing = new(publishLimit, time);

        public long Since { get; } = since;

        public CancellationToken PublishToken => _publishing.Token;

        /// <summary>A claim withdrawn or expired is not published any further.</summary>
        public void StopPublishing() => _publishing.Cancel();

        /// <summary>The lower IDs we follow (empty when we lead).</summary>
        public IReadOnlyList<RoutedPeer> Winners { get; private set; } = [];

        public void Decide(ClaimRole role, IReadOnlyList<RoutedPeer> winners)
        {
            Winners = role == ClaimRole.Following ? winners : [];
            _decided.TrySetResult(role);
        }

        /// <summary>Whether our containerd's download may be served to peers: we lead it, or follow a lower ID.</summary>
        public async Task<bool> ServesAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken) =>
            await DecisionAsync(timeout, time, cancellationToken).ConfigureAwait(false) is ClaimRole.Leading or ClaimRole.Following;

        /// <summary>The decision, waiting up to <paramref name="timeout"/> for it; null when it did not come in time.</summary>
        public async Task<ClaimRole?> DecisionAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
        {
            try
            {
                return await _decided.Task.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return null;
            }
        }
    }

    [LoggerMessage(EventId = 1961, Level = LogLevel.Debug, Message = "Nobody holds or claims {Digest} before us ({Seen} rival claims seen): leading its download (containerd goes upstream); decided by {DecidedBy}, claim announced in {PublishedMs:0.#} ms, decided in {DecidedMs:0.#} ms")]
    private static partial void LogDecidedToLead(ILogger logger, string digest, int seen, string decidedBy, double publishedMs, double decidedMs);

    [LoggerMessage(EventId = 1966, Level = LogLevel.Debug, Message = "Following the download of {Digest} by peer {PeerId} ({Seen} rival claims seen); decided by {DecidedBy}, claim announced in {PublishedMs:0.#} ms, decided in {DecidedMs:0.#} ms")]
    private static partial void LogDecidedToFollow(ILogger logger, string digest, string peerId, int seen, string decidedBy, double publishedMs, double decidedMs);

    [LoggerMessage(EventId = 1962, Level = LogLevel.Debug, Message = "Following the download of {Digest} by peer {PeerId}")]
    private static partial void LogFollowing(ILogger logger, string digest, string peerId);

    [LoggerMessage(EventId = 1964, Level = LogLevel.Debug, Message = "Publishing the claim on {Digest} takes longer than {WaitMs} ms: deciding without waiting for it")]
    private static partial void LogPublishSlow(ILogger logger, string digest, double waitMs);

    [LoggerMessage(EventId = 1965, Level = LogLevel.Debug, Message = "Publishing a claim failed (a rival may not see it): {Reason}")]
    private static partial void LogPublishFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 1963, Level = LogLevel.Debug, Message = "Withdrawing expired claims failed (they expire in the DHT anyway): {Reason}")]
    private static partial void LogWithdrawFailed(ILogger logger, string reason);
}
