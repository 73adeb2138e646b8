using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Spegel.Libp2p.Muxing;

/// <summary>
/// A yamux session over a secure stream (specs yamux/README.md). The connection's dialer is the client (odd stream
/// IDs). One reader loop dispatches frames; every frame write goes through one lock so header and payload stay
/// together. Flow control is per stream; keep-alive pings detect dead peers; a protocol violation ends the session
/// with GoAway(protocol error).
/// </summary>
public sealed class YamuxSession : IAsyncDisposable
{
    private readonly Stream _transport;
    private readonly ConcurrentDictionary<uint, YamuxStream> _streams = new();
    private readonly Channel<YamuxStream> _incoming;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly CancellationTokenSource _closed = new();
    private readonly ConcurrentDictionary<uint, TaskCompletionSource> _pings = new();
    private readonly TimeProvider _time;
    private uint _nextStreamId;
    private uint _nextPing;
    private uint _lastPingReceived;
    private int _pingAckWanted;
    private int _pingAckRunning;
    private long _queuedWriteBytes;
    private int _inboundCount;
    private int _disposed;
    private Task? _readLoop;
    private Task? _keepAlive;

    public YamuxSession(Stream transport, bool isClient, YamuxOptions? options = null, TimeProvider? time = null)
    {
        _transport = transport;
        IsClient = isClient;
        Options = options ?? new YamuxOptions();
        _time = time ?? TimeProvider.System;
        _nextStreamId = isClient ? 1u : 2u;
        _incoming = Channel.CreateBounded<YamuxStream>(new BoundedChannelOptions(256) { FullMode = BoundedChannelFullMode.Wait });
    }

    public bool IsClient { get; }

    public YamuxOptions Options { get; }

    public bool IsClosed => _closed.IsCancellationRequested;

    /// <summary>Cancelled when the session ends, for whatever reason.</summary>
    public CancellationToken Closed => _closed.Token;

    /// <summary>Why the session ended, when it did.</summary>
    public Exception? CloseReason { get; private set; }

    public int StreamCount => _streams.Count;

    /// <summary>Bytes of frames waiting for the connection (see <see cref="YamuxOptions.MaxQueuedWriteBytes"/>).</summary>
    public long QueuedWriteBytes => Interlocked.Read(ref _queuedWriteBytes);

    /// <summary>Streams the remote opened.</summary>
    public ChannelReader<YamuxStream> Incoming => _incoming.Reader;

    public void Start()
    {
        _readLoop = Task.Run(ReadLoopAsync);
        _keepAlive = Task.Run(KeepAliveLoopAsync);
    }

    public async Task<YamuxStream> OpenStreamAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(IsClosed, this);
        uint id = Interlocked.Add(ref _nextStreamId, 2) - 2;
        var stream = new YamuxStream(this, id, outbound: true);
        _streams[id] = stream;
        await SendAsync(YamuxType.WindowUpdate, YamuxFlags.Syn, id, 0, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
        return stream;
    }

    /// <summary>Round-trip time of a yamux ping.</summary>
    public async Task<TimeSpan> PingAsync(CancellationToken cancellationToken)
    {
        uint opaque = Interlocked.Increment(ref _nextPing);
        var pong = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _pings[opaque] = pong;
        long start = _time.GetTimestamp();
        try
        {
            await SendAsync(YamuxType.Ping, YamuxFlags.Syn, 0, opaque, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closed.Token);
            await pong.Task.WaitAsync(linked.Token).ConfigureAwait(false);
            return _time.GetElapsedTime(start);
        }
        finally
        {
            _pings.TryRemove(opaque, out _);
        }
    }

    internal ValueTask SendAsync(YamuxType type, YamuxFlags flags, uint streamId, uint length, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken) =>
        WriteFramesAsync(YamuxHeader.Size + payload.Length, buffer =>
        {
            new YamuxHeader(0, type, flags, streamId, length).Write(buffer);
            payload.Span.CopyTo(buffer[YamuxHeader.Size..]);
        }, cancellationToken);

    /// <summary>Sends data as consecutive frames of at most <see cref="YamuxOptions.MaxDataFrame"/> in one write.</summary>
    internal ValueTask SendDataAsync(uint streamId, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        int max = Options.MaxDataFrame;
        int frames = (data.Length + max - 1) / max;
        return WriteFramesAsync((frames * YamuxHeader.Size) + data.Length, buffer =>
        {
            var rest = data.Span;
            int offset = 0;
            while (!rest.IsEmpty)
            {
                int n = Math.Min(rest.Length, max);
                new YamuxHeader(0, YamuxType.Data, YamuxFlags.None, streamId, (uint)n).Write(buffer[offset..]);
                rest[..n].CopyTo(buffer[(offset + YamuxHeader.Size)..]);
                offset += YamuxHeader.Size + n;
                rest = rest[n..];
            }
        }, cancellationToken);
    }

    /// <summary>Writes <paramref name="size"/> bytes of frames, built by <paramref name="build"/>, under the write lock.</summary>
    private async ValueTask WriteFramesAsync(int size, SpanAction build, CancellationToken cancellationToken)
    {
        if (IsClosed)
        {
            throw new YamuxStreamResetException("the session is closed");
        }

        // Everything waiting for the write lock holds its frames in memory: a peer that stops reading while we keep
        // writing to it (answers, window updates) is cut off once that passes the bound, instead of growing us.
        if (Interlocked.Add(ref _queuedWriteBytes, size) > Options.MaxQueuedWriteBytes)
        {
            Interlocked.Add(ref _queuedWriteBytes, -size);
            var error = new IOException($"more than {Options.MaxQueuedWriteBytes} bytes queued for a peer that does not read");
            Close(error);
            throw new YamuxStreamResetException($"the session closed: {error.Message}");
        }

        byte[] buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            build(buffer.AsSpan(0, size));
            await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await _transport.WriteAsync(buffer.AsMemory(0, size), cancellationToken).ConfigureAwait(false);
                await _transport.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
            {
                Close(ex);
                throw new YamuxStreamResetException($"the session's connection failed: {ex.Message}");
            }
            finally
            {
                _writeLock.Release();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            Interlocked.Add(ref _queuedWriteBytes, -size);
        }
    }

    private delegate void SpanAction(Span<byte> buffer);

    internal void ForgetIfFinished(YamuxStream stream)
    {
        if (stream.IsFinished && _streams.TryRemove(stream.Id, out _) && !stream.IsOutbound)
        {
            Interlocked.Decrement(ref _inboundCount);
        }
    }

    private async Task ReadLoopAsync()
    {
        byte[] header = new byte[YamuxHeader.Size];
        try
        {
            while (!IsClosed)
            {
                int read = await _transport.ReadAtLeastAsync(header, YamuxHeader.Size, throwOnEndOfStream: false, _closed.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    Close(null);
                    return;
                }

                if (read < YamuxHeader.Size)
                {
                    throw new EndOfStreamException("connection ended inside a yamux header");
                }

                var frame = YamuxHeader.Read(header);
                if (frame.Version != 0)
                {
                    throw new YamuxProtocolException($"yamux version {frame.Version}");
                }

                switch (frame.Type)
                {
                    case YamuxType.Data:
                        await OnDataAsync(frame).ConfigureAwait(false);
                        break;
                    case YamuxType.WindowUpdate:
                        await OnWindowUpdateAsync(frame).ConfigureAwait(false);
                        break;
                    case YamuxType.Ping:
                        OnPing(frame);
                        break;
                    case YamuxType.GoAway:
                        Close(frame.Length == YamuxGoAway.Normal ? null : new IOException($"remote sent GoAway({frame.Length})"));
                        return;
                    default:
                        throw new YamuxProtocolException($"unknown yamux frame type {(byte)frame.Type}");
                }
            }
        }
        catch (YamuxProtocolException ex)
        {
            await GoAwayAsync(YamuxGoAway.ProtocolError).ConfigureAwait(false);
            Close(ex);
        }
        catch (Exception ex)
        {
            // Whatever breaks the read loop ends the session; it never escapes as an unobserved exception.
            Close(ex is OperationCanceledException ? null : ex);
        }
        finally
        {
            foreach (var stream in _streams.Values)
            {
                stream.CompleteInbound();
            }
        }
    }

    private async Task OnDataAsync(YamuxHeader frame)
    {
        if (frame.Length > Options.ReceiveWindow)
        {
            // No stream ever has more window than this: refuse before reading (or allocating) anything.
            throw new YamuxProtocolException($"data frame of {frame.Length} bytes is larger than any window");
        }

        var stream = await StreamForAsync(frame).ConfigureAwait(false);
        if (stream is null)
        {
            await DiscardAsync(frame.Length).ConfigureAwait(false);
            return;
        }

        if (!stream.TryReserveReceive(frame.Length))
        {
            throw new YamuxProtocolException($"stream {frame.StreamId} sent {frame.Length} bytes past its window");
        }

        if (frame.Length > 0)
        {
            if (stream.Abandoned || !stream.AcceptsData)
            {
                // Data after FIN or RST, or for a stream nobody reads any more: drop it, keep the window moving.
                await DiscardAsync(frame.Length).ConfigureAwait(false);
                await stream.CreditAsync((int)frame.Length).ConfigureAwait(false);
            }
            else
            {
                var writer = stream.InboundWriter;
                uint remaining = frame.Length;
                while (remaining > 0)
                {
                    int chunk = (int)Math.Min(remaining, 64 * 1024);
                    var memory = writer.GetMemory(chunk)[..chunk];
                    await _transport.ReadExactlyAsync(memory, _closed.Token).ConfigureAwait(false);
                    writer.Advance(chunk);
                    remaining -= (uint)chunk;
                }

                await writer.FlushAsync(_closed.Token).ConfigureAwait(false);
            }
        }

        ApplyCloseFlags(stream, frame.Flags);
    }

    private async Task OnWindowUpdateAsync(YamuxHeader frame)
    {
        var stream = await StreamForAsync(frame).ConfigureAwait(false);
        if (stream is null)
        {
            return;
        }

        if (frame.Length > 0)
        {
            stream.AddSendWindow(frame.Length);
        }

        ApplyCloseFlags(stream, frame.Flags);
    }

    private void OnPing(YamuxHeader frame)
    {
        if (frame.Flags.HasFlag(YamuxFlags.Syn))
        {
            // At most one answer in flight, for the latest ping: a flood of pings from a peer that never reads our answers
            // costs one pending write, not one per ping. Pings that arrive while an answer is being written are answered
            // with the newest value only (a keep-alive waits for its own value and sends the next one later).
            Volatile.Write(ref _lastPingReceived, frame.Length);
            Volatile.Write(ref _pingAckWanted, 1);
            if (Interlocked.CompareExchange(ref _pingAckRunning, 1, 0) == 0)
            {
                _ = Task.Run(AnswerPingsAsync);
            }
        }
        else if (frame.Flags.HasFlag(YamuxFlags.Ack) && _pings.TryGetValue(frame.Length, out var pong))
        {
            pong.TrySetResult();
        }
    }

    private async Task AnswerPingsAsync()
    {
        try
        {
            while (true)
            {
                while (Interlocked.Exchange(ref _pingAckWanted, 0) == 1)
                {
                    await SendAsync(YamuxType.Ping, YamuxFlags.Ack, 0, Volatile.Read(ref _lastPingReceived), ReadOnlyMemory<byte>.Empty, _closed.Token).ConfigureAwait(false);
                }

                Volatile.Write(ref _pingAckRunning, 0);

                // A ping that arrived after the last check and before the flag was cleared found us still running.
                if (Volatile.Read(ref _pingAckWanted) == 0 || Interlocked.CompareExchange(ref _pingAckRunning, 1, 0) != 0)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The session is closing (a failed write closes it); nobody waits for this answer.
        }
    }

    /// <summary>The stream a frame is for: existing, or new when it carries SYN; null for frames of forgotten streams.</summary>
    private async ValueTask<YamuxStream?> StreamForAsync(YamuxHeader frame)
    {
        if (frame.StreamId == 0)
        {
            throw new YamuxProtocolException($"{frame.Type} frame on stream 0");
        }

        if (_streams.TryGetValue(frame.StreamId, out var existing))
        {
            if (frame.Flags.HasFlag(YamuxFlags.Syn))
            {
                throw new YamuxProtocolException($"SYN for stream {frame.StreamId}, which is open");
            }

            return existing;
        }

        if (!frame.Flags.HasFlag(YamuxFlags.Syn))
        {
            return null;
        }

        bool remoteIsClient = !IsClient;
        if ((frame.StreamId % 2 == 1) != remoteIsClient)
        {
            throw new YamuxProtocolException($"stream {frame.StreamId} has the wrong parity for the remote");
        }

        if (Interlocked.Increment(ref _inboundCount) > Options.MaxInboundStreams)
        {
            Interlocked.Decrement(ref _inboundCount);
            await SendAsync(YamuxType.WindowUpdate, YamuxFlags.Rst, frame.StreamId, 0, ReadOnlyMemory<byte>.Empty, _closed.Token).ConfigureAwait(false);
            return null;
        }

        var stream = new YamuxStream(this, frame.StreamId, outbound: false);
        _streams[frame.StreamId] = stream;
        await SendAsync(YamuxType.WindowUpdate, YamuxFlags.Ack, frame.StreamId, 0, ReadOnlyMemory<byte>.Empty, _closed.Token).ConfigureAwait(false);
        if (!_incoming.Writer.TryWrite(stream))
        {
            // Nobody accepts streams fast enough: refuse this one rather than block every stream's reader.
            stream.MarkReset(new YamuxStreamResetException("accept backlog full"));
            await SendAsync(YamuxType.WindowUpdate, YamuxFlags.Rst, frame.StreamId, 0, ReadOnlyMemory<byte>.Empty, _closed.Token).ConfigureAwait(false);
            ForgetIfFinished(stream);
            return null;
        }

        return stream;
    }

    private void ApplyCloseFlags(YamuxStream stream, YamuxFlags flags)
    {
        if (flags.HasFlag(YamuxFlags.Rst))
        {
            stream.MarkReset(new YamuxStreamResetException("reset by the remote"));
        }
        else if (flags.HasFlag(YamuxFlags.Fin))
        {
            stream.OnRemoteClosed();
        }

        ForgetIfFinished(stream);
    }

    private async Task DiscardAsync(uint length)
    {
        byte[] scratch = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            while (length > 0)
            {
                int n = (int)Math.Min(length, (uint)scratch.Length);
                await _transport.ReadExactlyAsync(scratch.AsMemory(0, n), _closed.Token).ConfigureAwait(false);
                length -= (uint)n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private async Task KeepAliveLoopAsync()
    {
        using var timer = new PeriodicTimer(Options.KeepAliveInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_closed.Token).ConfigureAwait(false))
            {
                using var timeout = new CancellationTokenSource(Options.KeepAliveTimeout, _time);
                try
                {
                    await PingAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!IsClosed)
                {
                    Close(new TimeoutException($"no keep-alive answer within {Options.KeepAliveTimeout.TotalSeconds} s"));
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (YamuxStreamResetException)
        {
        }
    }

    private async Task GoAwayAsync(uint code)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1), _time);
            await SendAsync(YamuxType.GoAway, YamuxFlags.None, 0, code, ReadOnlyMemory<byte>.Empty, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
        }
    }

    private void Close(Exception? reason)
    {
        if (_closed.IsCancellationRequested)
        {
            return;
        }

        CloseReason ??= reason;
        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }

        _incoming.Writer.TryComplete();
        var error = new YamuxStreamResetException(reason is null ? "the session closed" : $"the session closed: {reason.Message}");
        foreach (var stream in _streams.Values)
        {
            stream.MarkReset(error);
        }

        _streams.Clear();
        try
        {
            _transport.Dispose();
        }
        catch (IOException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        if (!IsClosed)
        {
            await GoAwayAsync(YamuxGoAway.Normal).ConfigureAwait(false);
        }

        Close(null);
        foreach (var task in new[] { _readLoop, _keepAlive })
        {
            if (task is not null)
            {
                try
                {
                    await task.ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException)
                {
                }
            }
        }
    }
}
