using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Spegel.Oci;
using Spegel.Routing;
using Spegel.Timing;

namespace Spegel.Mirroring;

/// <summary>How a relay ended. Only <see cref="Completed"/> means the client has every byte; any other ending must
/// abort the client's response (its headers promised a length).</summary>
internal enum RelayResult
{
    /// <summary>Every byte sent, and a whole blob matched its digest.</summary>
    Completed,

    /// <summary>A whole blob that did not match its digest: its last chunk was held back, so the client never sees it complete.</summary>
    DigestMismatch,

    /// <summary>The peer failed or stalled mid-body and no other peer could continue.</summary>
    NoPeerToResume,

    /// <summary>The peer asked to continue answered a different span than requested (a lie could splice wrong bytes).</summary>
    ResumeRejected,

    /// <summary>Our client went away.</summary>
    ClientGone,
}

/// <summary>
/// Streams a blob from peers to our client: unchanged (206 stays 206), under a minimum-rate timeout
/// (<see cref="TransferMonitor"/>), resumed from the next peer with a Range request at the first byte the client does
/// not have when a peer fails or stalls mid-body. A whole blob is hashed on the way and its last
/// <see cref="HoldBack"/> bytes are held back until the digest matches, so a corrupt or short body is never presented
/// as complete. Writes nothing but body bytes: the caller set the status and headers (<see cref="Headers"/>) and aborts
/// the response unless the result is <see cref="RelayResult.Completed"/>.
/// <para>
/// The peer's bytes are read straight into the response's pipe (<see cref="PipeWriter.GetMemory"/>), hashed there and
/// committed: no copy of our own, no buffer per transfer but the held tail. The pipe is flushed every
/// <see cref="FlushBytes"/> while the peer keeps up, and after every read that drained the peer's socket, so a slow
/// peer's bytes still flow at once. A flush waits until the connection has sent most of it (the transport's 64 KiB
/// write buffer): reading and sending take turns on one thread, which costs fewer thread hops than overlapping them.
/// </para>
/// </summary>
internal sealed partial class VerifiedBlobRelay : IAsyncDisposable
{
    /// <summary>How much of a whole blob is kept from the client until its digest is known to match: any number of
    /// bytes keeps an incomplete body from looking complete; a small one costs little memory per transfer.</summary>
    internal const int HoldBack = 64 * 1024;

    /// <summary>What one read of the peer asks for: what a socket holds at once on a fast link.</summary>
    private const int ReadSize = 256 * 1024;

    /// <summary>Bytes committed before the pipe is flushed while the peer keeps up: each flush wakes the connection's sender.</summary>
    private const int FlushBytes = 256 * 1024;
    private readonly PeerClient _client;
    private readonly PeerRequest _request;
    private readonly RangeWindows? _windows;
    private IAsyncEnumerator<RoutedPeer> _peers;
    private readonly MirrorOptions _options;
    private readonly MirrorStats _stats;
    private readonly ILogger _logger;
    private readonly long _start;
    private readonly long _end;
    private readonly long? _total;
    private long _windowEnd;
    private HttpResponseMessage _current;
    private RoutedPeer _peer;
    private int _budget;
    private byte[]? _held;
    private int _heldLength;
    private long _unflushed;

    /// <param name="answer">The first peer's 200 or 206, whose span was checked (<see cref="PeerHeaders.TryGetSpan"/>).</param>
    /// <param name="span">What our client gets.</param>
    /// <param name="windows">For an open-ended range asked in windows: how to ask for the next one; the first
    /// <paramref name="answer"/> then covers <paramref name="span"/>'s start to <paramref name="windowEnd"/>.</param>
    public VerifiedBlobRelay(
        PeerClient client, PeerRequest request, IAsyncEnumerator<RoutedPeer> peers, PeerAnswer answer, (long Start, long End, long? Total) span, int budget,
        MirrorOptions options, MirrorStats stats, ILogger logger, RangeWindows? windows = null, long? windowEnd = null)
    {
        _windows = windows;
        _client = client;
        _request = request;
        _peers = peers;
        _options = options;
        _stats = stats;
        _logger = logger;
        (_start, _end, _total) = span;
        _windowEnd = windowEnd ?? _end;
        _current = answer.Response;
        _peer = answer.Peer;
        _budget = budget;
        FirstPeer = answer.Peer;
        // Named with the digest asked for: the peer's own name for it is not passed on.
        Headers = PeerHeaders.From(answer.Response, _end - _start + 1) with { DockerContentDigest = request.Distribution.Digest!.Value.ToString() };
        if (windows is not null)
        {
            // The client asked for the rest of the blob: that is what it is promised, whatever the window.
            Headers = Headers with { ContentRange = $"bytes {_start}-{_end}/{_total}" };
        }
    }

    /// <summary>What to answer our client with: the first peer's status and headers, with the span's length.</summary>
    public PeerHeaders Headers { get; }

    public RoutedPeer FirstPeer { get; }

    /// <summary>Body bytes committed to the client's response so far.</summary>
    public long BytesSent { get; private set; }

    /// <summary>How many times another peer continued the transfer.</summary>
    public int Resumes { get; private set; }

    /// <summary>Relays the body into <paramref name="target"/> until it is complete, or says why it is not.</summary>
    public async Task<RelayResult> CopyToAsync(PipeWriter target, CancellationToken cancellationToken)
    {
        // The headers go first: until the response has started, Kestrel lends memory of its own for a body and copies
        // it later; once started, GetMemory is the connection's pipe, which the peer's bytes are read into.
        if (!await FlushAsync(target, cancellationToken).ConfigureAwait(false))
        {
            return RelayResult.ClientGone;
        }

        // What our client asked for decides: a whole blob is always hashed (the mirror accepts only a 200 for it); a
        // range is hashed when a peer answered it with the whole blob.
        bool verify = _request.IsWhole || _current.StatusCode == HttpStatusCode.OK;
        using var hash = verify ? _request.Distribution.Digest!.Value.CreateHash() : null;
        while (true)
        {
            var (outcome, reason) = await PumpAsync(target, hash, verify, _windowEnd - _start + 1, cancellationToken).ConfigureAwait(false);
            if (outcome == Pump.ClientGone)
            {
                return RelayResult.ClientGone;
            }

            if (outcome == Pump.Done && _windowEnd < _end)
            {
                var next = await NextWindowAsync(cancellationToken).ConfigureAwait(false);
                if (next != RelayResult.Completed)
                {
                    return next;
                }

                continue;
            }

            if (outcome == Pump.Done)
            {
                if (hash is not null && !_request.Distribution.Digest!.Value.Matches(hash.GetHashAndReset()))
                {
                    _stats.DigestMismatch();
                    if (_client.Logs.TryTake(_logger))
                    {
                        LogDigestMismatch(_logger, _request.Key, Resumes);
                    }

                    return RelayResult.DigestMismatch;
                }

                return await WriteHeldAsync(target, cancellationToken).ConfigureAwait(false) ? RelayResult.Completed : RelayResult.ClientGone;
            }

            _client.Failed(_peer, _request.Key, reason!);
            var resumed = await ResumeAsync(cancellationToken).ConfigureAwait(false);
            if (resumed != RelayResult.Completed)
            {
                return resumed;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _current.Dispose();
        await _peers.DisposeAsync().ConfigureAwait(false);
        if (Interlocked.Exchange(ref _held, null) is { } held)
        {
            ArrayPool<byte>.Shared.Return(held);
        }
    }

    private enum Pump
    {
        Done,
        PeerFailed,
        ClientGone,
    }

    /// <summary>
    /// Copies the current peer's body until the span is complete (the held tail not yet written), or it fails; what was
    /// committed is flushed either way, unless the client went away.
    /// </summary>
    private async Task<(Pump Outcome, string? Reason)> PumpAsync(PipeWriter target, IncrementalHash? hash, bool verify, long expected, CancellationToken cancellationToken)
    {
        // A verified span is a whole blob (never windowed: windows are asked of peers as 206s, which are not hashed).
        long committedEnd = expected - (verify ? Math.Min(HoldBack, expected) : 0);
        // A download in progress on the peer delivers at the upstream's pace: only a lack of any progress is a stall.
        bool inProgress = _current.Headers.Contains(PeerProtocol.InProgressHeader);
        using var monitor = inProgress
            ? new TransferMonitor(1, _options.InProgressStallLimit, _options.Time, cancellationToken)
            : new TransferMonitor(_options.MinDataRate, _options.RateGracePeriod, _options.Time, cancellationToken);
        (Pump, string?) result;
        try
        {
            await using var body = await _current.Content.ReadAsStreamAsync(monitor.Token).ConfigureAwait(false);
            while (true)
            {
                long position = BytesSent + _heldLength;
                if (position >= expected)
                {
                    result = (Pump.Done, null);
                    break;
                }

                bool toPipe = BytesSent < committedEnd;
                Memory<byte> into = toPipe
                    ? target.GetMemory(ReadSize)
                    : (_held ??= ArrayPool<byte>.Shared.Rent(HoldBack)).AsMemory(_heldLength);
                into = into[..(int)Math.Min(into.Length, (toPipe ? committedEnd : expected) - position)];
                monitor.BeginRead();
                int n = await body.ReadAsync(into, monitor.Token).ConfigureAwait(false);
                monitor.EndRead(n);
                if (n == 0)
                {
                    result = (Pump.PeerFailed, $"body ended at {_start + position} of {_end + 1}");
                    break;
                }

                _stats.AddBytes(n);
                hash?.AppendData(into.Span[..n]);
                if (!toPipe)
                {
                    _heldLength += n;
                    continue;
                }

                target.Advance(n);
                BytesSent += n;
                _unflushed += n;
                // A short read drained the peer's socket: the peer is the slower side, so its bytes go on at once.
                if ((_unflushed >= FlushBytes || n < into.Length) && !await FlushAsync(target, cancellationToken).ConfigureAwait(false))
                {
                    return (Pump.ClientGone, null);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            result = (Pump.PeerFailed, monitor.Stalled ? $"stalled below {_options.MinDataRate} B/s" : ex.Message);
        }
        catch (OperationCanceledException)
        {
            return (Pump.ClientGone, null);
        }

        // The next window or peer may take a while: the client gets what arrived first.
        return await FlushAsync(target, cancellationToken).ConfigureAwait(false) ? result : (Pump.ClientGone, null);
    }

    /// <summary>
    /// The current window is complete and the client wants more: at the end of its chunk, first give it
    /// <see cref="MirrorOptions.ChunkEndGrace"/> to close (containerd's chunk worker does), then ask the peers of the
    /// next window's stripe. Not a resume: nothing failed.
    /// </summary>
    private async Task<RelayResult> NextWindowAsync(CancellationToken cancellationToken)
    {
        long next = _windowEnd + 1;
        if (_windows!.AtChunkStart(next))
        {
            try
            {
                await Task.Delay(_options.ChunkEndGrace, _options.Time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return RelayResult.ClientGone;
            }
        }

        _current.Dispose(); // read to its end: the connection goes back to the pool
        await _peers.DisposeAsync().ConfigureAwait(false);
        _peers = _windows.PeersFrom(next);
        _budget = _options.ResolveRetries;
        _windowEnd = _windows.EndOf(next, _end);
        return await AskAsync(next, resume: false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Asks the next peers for the rest, from the first byte the client does not have (held bytes included).</summary>
    private Task<RelayResult> ResumeAsync(CancellationToken cancellationToken) => AskAsync(_start + BytesSent + _heldLength, resume: true, cancellationToken);

    /// <summary>Asks the peers for <paramref name="resumeAt"/> to the end of the current window.</summary>
    private async Task<RelayResult> AskAsync(long resumeAt, bool resume, CancellationToken cancellationToken)
    {
        bool rejected = false;
        while (true)
        {
            PeerAnswer? next;
            try
            {
                next = _budget > 0
                    ? await _client.FirstAnswerAsync(_request, _peers, $"bytes={resumeAt}-{_windowEnd}", _options.BlobHeaderTimeout, _budget, cancellationToken).ConfigureAwait(false)
                    : null;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return RelayResult.ClientGone;
            }

            if (next is not { } answer)
            {
                if (_client.Logs.TryTake(_logger))
                {
                    LogAborted(_logger, _request.Key, resumeAt, _end + 1);
                }

                return rejected ? RelayResult.ResumeRejected : RelayResult.NoPeerToResume;
            }

            _budget -= answer.Attempts;
            if (answer.Response.StatusCode != HttpStatusCode.PartialContent
                || !PeerHeaders.TryGetSpan(answer.Response, out long nextStart, out long nextEnd, out long? nextTotal)
                || nextStart != resumeAt || nextEnd != _windowEnd || (_total is not null && nextTotal != _total))
            {
                // A peer that lies about Content-Range could splice the wrong bytes: refuse it, ask the next (within the budget).
                _client.Failed(answer.Peer, _request.Key, "resume answer does not match the requested range");
                answer.Response.Dispose();
                rejected = true;
                continue;
            }

            if (resume)
            {
                _stats.Resumed();
                Resumes++;
            }

            _current.Dispose();
            _current = answer.Response;
            _peer = answer.Peer;
            return RelayResult.Completed;
        }
    }

    /// <summary>Writes the held tail once the digest matched, and flushes; false when the client went away.</summary>
    private async Task<bool> WriteHeldAsync(PipeWriter target, CancellationToken cancellationToken)
    {
        if (_heldLength > 0)
        {
            target.Write(_held.AsSpan(0, _heldLength));
            BytesSent += _heldLength;
            _unflushed += _heldLength;
            _heldLength = 0;
        }

        return await FlushAsync(target, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Flushes what was committed to our client; false when it went away.</summary>
    private async Task<bool> FlushAsync(PipeWriter target, CancellationToken cancellationToken)
    {
        _unflushed = 0;
        try
        {
            var flushed = await target.FlushAsync(cancellationToken).ConfigureAwait(false);
            return !flushed.IsCanceled && !flushed.IsCompleted;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            return false;
        }
    }

    [LoggerMessage(EventId = 1902, Level = LogLevel.Warning, Message = "No peer could continue {Key} at byte {Offset} of {Length}: aborting the response")]
    private static partial void LogAborted(ILogger logger, string key, long offset, long length);

    [LoggerMessage(EventId = 1903, Level = LogLevel.Warning, Message = "Blob {Key} from peers does not match its digest (after {Resumes} resumes): aborting the response")]
    private static partial void LogDigestMismatch(ILogger logger, string key, int resumes);
}
