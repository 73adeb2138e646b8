using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Spegel.Oci;
using Spegel.Routing;

namespace Spegel.Mirroring;

/// <summary>
/// Asks peers, knowing nothing of the server's request or response: the request goes to
/// <c>http://&lt;peer ip&gt;:&lt;our registry port&gt;</c> (a new connection tries every address of the peer, see
/// <see cref="PeerDialer"/>) with <c>X-Spegel-Mirrored: true</c>, so the peer never forwards it again, and with a
/// proof of membership when the node has a peer key (<see cref="PeerProof"/>); never with containerd's credentials. A
/// peer slow to answer gets a hedge to the next one; a 404 or an error moves on at once; at most the budget of peers
/// is asked.
/// </summary>
internal sealed partial class PeerClient(HttpClient http, MirrorOptions options, MirrorStats stats, ILogger<PeerClient> logger)
{
    /// <summary>
    /// The budget of log lines about peers that failed or relays that broke (<see cref="VerifiedBlobRelay"/> logs
    /// through it too): a hostile DHT member naming bogus providers for every miss must not flood the log; the
    /// counters (<c>spegel_peer_failures_total</c>, <c>spegel_mirror_aborted_total</c>) still count every one.
    /// </summary>
    internal Timing.LogBudget Logs { get; } = new("peers that failed", 20, 1, options.Time);

    /// <summary>
    /// Asks peers until one answers 200/206 (or 416: the blob exists, the range is wrong). The first peer gets
    /// <paramref name="headerTimeout"/> to answer; after the hedge delay the next is asked as well, and the first good
    /// answer wins; the losers are cancelled and their responses disposed. Null when no peer of the budget answered.
    /// </summary>
    public async Task<PeerAnswer?> FirstAnswerAsync(
        PeerRequest request, IAsyncEnumerator<RoutedPeer> peers, string? range, TimeSpan headerTimeout, int budget, CancellationToken cancellationToken)
    {
        var pending = new List<(Task<HttpResponseMessage> Task, RoutedPeer Peer, CancellationTokenSource Cancel)>();
        int attempts = 0;
        bool exhausted = false;
        bool startNext = true;
        try
        {
            while (true)
            {
                if (startNext && attempts < budget && !exhausted)
                {
                    if (await peers.MoveNextAsync().ConfigureAwait(false))
                    {
                        var peer = peers.Current;
                        var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                        cancel.CancelAfter(headerTimeout);
                        pending.Add((SendAsync(request, peer, range, cancel.Token), peer, cancel));
                        if (++attempts > 1 && pending.Count > 1)
                        {
                            stats.Hedged();
                        }
                    }
                    else
                    {
                        exhausted = true;
                    }
                }

                startNext = false;
                bool canStartMore = attempts < budget && !exhausted;
                if (pending.Count == 0)
                {
                    if (!canStartMore)
                    {
                        return null;
                    }

                    startNext = true;
                    continue;
                }

                var hedge = canStartMore ? Task.Delay(options.HedgeDelay, options.Time, cancellationToken) : Task.Delay(Timeout.Infinite, cancellationToken);
                var done = await Task.WhenAny([.. pending.Select(p => (Task)p.Task), hedge]).ConfigureAwait(false);
                if (done == hedge)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    startNext = true; // slow: hedge to the next peer
                    continue;
                }

                int index = pending.FindIndex(p => p.Task == done);
                var finished = pending[index];
                pending.RemoveAt(index);
                finished.Cancel.Dispose();
                if (finished.Task.IsCompletedSuccessfully && finished.Task.Result.StatusCode is HttpStatusCode.OK or HttpStatusCode.PartialContent or HttpStatusCode.RequestedRangeNotSatisfiable)
                {
                    return new PeerAnswer(finished.Task.Result, finished.Peer, attempts);
                }

                string reason = finished.Task.IsCompletedSuccessfully
                    ? $"answered {(int)finished.Task.Result.StatusCode}"
                    : finished.Task.Exception?.GetBaseException().Message ?? "timed out";
                if (finished.Task.IsCompletedSuccessfully)
                {
                    finished.Task.Result.Dispose();
                }

                cancellationToken.ThrowIfCancellationRequested();
                Failed(finished.Peer, request.Key, reason);
                startNext = true; // a failure moves on at once
            }
        }
        finally
        {
            foreach (var (task, _, cancel) in pending)
            {
                await cancel.CancelAsync().ConfigureAwait(false);
                _ = task.ContinueWith(t => { if (t.IsCompletedSuccessfully) { t.Result.Dispose(); } cancel.Dispose(); }, TaskScheduler.Default);
            }
        }
    }

    /// <summary>Counts and logs a peer that failed (one of the mirror's causes to move on).</summary>
    public void Failed(RoutedPeer peer, string key, string reason)
    {
        stats.PeerFailed();
        if (Logs.TryTake(logger))
        {
            LogPeerFailed(logger, key, peer.Id, string.Join(' ', peer.Addresses), reason);
        }
    }

    private Task<HttpResponseMessage> SendAsync(PeerRequest request, RoutedPeer peer, string? range, CancellationToken cancellationToken)
    {
        string host = new IPEndPoint(PeerDialer.Preferred(peer.Addresses), options.RegistryPort).ToString();
        string pathAndQuery = request.PathAndQuery;
        var method = request.AsksHead ? HttpMethod.Head : HttpMethod.Get;
        var message = new HttpRequestMessage(method, new Uri($"http://{host}{pathAndQuery}")) { Version = HttpVersion.Version11 };
        message.Options.Set(PeerDialer.AddressesKey, peer.Addresses); // a new connection tries every address
        message.Headers.Host = host; // exactly what the proof covers
        message.Headers.TryAddWithoutValidation(PeerProtocol.MirroredHeader, "true");
        if (options.PeerKey is { } key)
        {
            // Our proof of membership; containerd's credentials never leave the node (whoever the DHT names gets this).
            message.Headers.TryAddWithoutValidation(
                PeerProtocol.ProofHeader, PeerProof.Create(key, method.Method, host, pathAndQuery, options.Time.GetUtcNow(), RandomNumberGenerator.GetBytes(PeerProof.NonceBytes)));
        }

        foreach (string accept in request.Accept)
        {
            message.Headers.TryAddWithoutValidation("Accept", accept);
        }

        if (!string.IsNullOrEmpty(range))
        {
            message.Headers.TryAddWithoutValidation("Range", range);
        }

        return http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    [LoggerMessage(EventId = 1901, Level = LogLevel.Information, Message = "Peer {PeerId} ({Addresses}) failed for {Key}: {Reason}")]
    private static partial void LogPeerFailed(ILogger logger, string key, string peerId, string addresses, string reason);
}
