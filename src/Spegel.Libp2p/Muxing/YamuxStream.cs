using System.Buffers;
using System.IO.Pipelines;

namespace Spegel.Libp2p.Muxing;

/// <summary>
/// One yamux stream. Reads come from a pipe the session fills (bounded by the receive window we grant); writes wait
/// for the remote's send window. <see cref="CloseWriteAsync"/> is a half-close (FIN); disposing closes our side and
/// discards whatever the remote still sends.
/// </summary>
public sealed class YamuxStream : Streams.AsyncDuplexStream
{
    /// <summary>The most data one write hands to the session at once (several frames, one socket write).</summary>
    private const int MaxWriteBatch = 512 * 1024;
    private readonly YamuxSession _session;
    private readonly Pipe _inbound = new(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false));
    private readonly AsyncSignal _windowOpened = new();
    private readonly object _gate = new();
    private long _sendWindow = YamuxOptions.InitialWindow;
    private long _receiveWindow = YamuxOptions.InitialWindow;
    private long _unacknowledged;
    private bool _grown;
    private bool _localClosed;
    private bool _remoteClosed;
    private Exception? _reset;
    private bool _disposed;

    internal YamuxStream(YamuxSession session, uint id, bool outbound)
    {
        _session = session;
        Id = id;
        IsOutbound = outbound;
    }

    public uint Id { get; }

    public bool IsOutbound { get; }

    /// <summary>Set by the host once a protocol is negotiated on the stream.</summary>
    public string? Protocol { get; set; }

    internal bool IsFinished
    {
        get
        {
            lock (_gate)
            {
                return _reset is not null || (_localClosed && _remoteClosed);
            }
        }
    }

    internal bool Abandoned => _disposed;

    /// <summary>Whether data frames may still be delivered (no FIN or RST seen). Read-loop only.</summary>
    internal bool AcceptsData
    {
        get
        {
            lock (_gate)
            {
                return _reset is null && !_remoteClosed;
            }
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (true)
        {
            ThrowIfReset();
            ReadResult result;
            try
            {
                result = await _inbound.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidOperationException) when (_disposed)
            {
                throw new ObjectDisposedException(nameof(YamuxStream));
            }

            ThrowIfReset();
            var data = result.Buffer;
            int n = (int)Math.Min(buffer.Length, data.Length);
            data.Slice(0, n).CopyTo(buffer.Span);
            _inbound.Reader.AdvanceTo(data.GetPosition(n));
            if (n > 0)
            {
                await CreditAsync(n).ConfigureAwait(false);
                return n;
            }

            if (result.IsCompleted)
            {
                return 0; // the remote closed its side and everything was read
            }

            // Woken without data (a reset elsewhere cancels the pending read): check again.
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            int n;
            while (true)
            {
                lock (_gate)
                {
                    if (_reset is not null)
                    {
                        throw new YamuxStreamResetException($"stream {Id} was reset: {_reset.Message}");
                    }

                    if (_localClosed)
                    {
                        throw new IOException($"stream {Id} is closed for writing");
                    }

                    if (_sendWindow > 0)
                    {
                        n = (int)Math.Min(Math.Min(buffer.Length, _sendWindow), MaxWriteBatch);
                        _sendWindow -= n;
                        break;
                    }
                }

                await _windowOpened.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            await _session.SendDataAsync(Id, buffer[..n], cancellationToken).ConfigureAwait(false);
            buffer = buffer[n..];
        }
    }

    /// <summary>Half-closes: the remote reads end of stream after our data; we can still read.</summary>
    public async Task CloseWriteAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_localClosed || _reset is not null)
            {
                return;
            }

            _localClosed = true;
        }

        await _session.SendAsync(YamuxType.WindowUpdate, YamuxFlags.Fin, Id, 0, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
        _session.ForgetIfFinished(this);
    }

    /// <summary>Aborts the stream in both directions (RST).</summary>
    public async Task ResetAsync()
    {
        if (MarkReset(new YamuxStreamResetException("reset locally")))
        {
            try
            {
                await _session.SendAsync(YamuxType.WindowUpdate, YamuxFlags.Rst, Id, 0, ReadOnlyMemory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
            }
            catch (IOException)
            {
            }

            _session.ForgetIfFinished(this);
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            await CloseWriteAsync().ConfigureAwait(false);
        }
        catch (IOException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        await _inbound.Reader.CompleteAsync().ConfigureAwait(false);
        _session.ForgetIfFinished(this);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        base.Dispose(disposing);
    }

    /// <summary>Called by the session's reader with a data frame's payload; false when it exceeds our window.</summary>
    internal bool TryReserveReceive(uint length)
    {
        lock (_gate)
        {
            if (length > _receiveWindow)
            {
                return false;
            }

            _receiveWindow -= length;
            return true;
        }
    }

    internal PipeWriter InboundWriter => _inbound.Writer;

    internal void AddSendWindow(uint delta)
    {
        lock (_gate)
        {
            _sendWindow += delta;
        }

        _windowOpened.Set();
    }

    internal void OnRemoteClosed()
    {
        lock (_gate)
        {
            _remoteClosed = true;
        }

        _inbound.Writer.Complete();
    }

    /// <summary>
    /// Marks the stream reset from any thread; returns false if it already was. The inbound pipe is only ever written
    /// and completed by the session's read loop, so a reset here wakes a blocked reader instead of completing it.
    /// </summary>
    internal bool MarkReset(Exception reason)
    {
        lock (_gate)
        {
            if (_reset is not null)
            {
                return false;
            }

            _reset = reason;
            _localClosed = true;
        }

        _inbound.Reader.CancelPendingRead();
        _windowOpened.Set();
        return true;
    }

    /// <summary>Completes the inbound pipe; called by the session's read loop only.</summary>
    internal void CompleteInbound() => _inbound.Writer.Complete();

    private void ThrowIfReset()
    {
        Exception? reset;
        lock (_gate)
        {
            reset = _reset;
        }

        if (reset is not null)
        {
            throw new YamuxStreamResetException($"stream {Id} was reset: {reset.Message}");
        }
    }

    /// <summary>Credits consumed bytes; grants window back when half of it is used (and grows it once).</summary>
    internal async ValueTask CreditAsync(int consumed)
    {
        uint delta = 0;
        lock (_gate)
        {
            if (_reset is not null || _remoteClosed)
            {
                return;
            }

            _unacknowledged += consumed;
            long target = _session.Options.ReceiveWindow;
            if (_unacknowledged >= Math.Min(target, YamuxOptions.InitialWindow) / 2)
            {
                delta = (uint)_unacknowledged;
                if (!_grown && target > YamuxOptions.InitialWindow)
                {
                    delta += (uint)(target - YamuxOptions.InitialWindow);
                    _grown = true;
                }

                _receiveWindow += delta;
                _unacknowledged = 0;
            }
        }

        if (delta > 0)
        {
            try
            {
                await _session.SendAsync(YamuxType.WindowUpdate, YamuxFlags.None, Id, delta, ReadOnlyMemory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
            }
            catch (IOException)
            {
            }
        }
    }
}
