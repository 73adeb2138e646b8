using System.Buffers.Binary;
using System.IO.Pipelines;
using Spegel.Libp2p.Muxing;
using Spegel.Libp2p.Protocols;

namespace Spegel.Libp2p.Tests.Bounds;

/// <summary>
/// Yamux pings from a peer that never reads the answers: at most one answer is pending (the latest ping's), and a
/// session whose outbound queue passes its bound is closed. Audit B5: ≥ 3.9 M pings grew the node to 6.8 GB.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class PingFloodTests
{
    [Fact]
    public async Task APingFloodFromAPeerThatDoesNotReadCostsOneAnswer()
    {
        await using var target = await TestHosts.StartAsync();
        using var guard = new CancellationTokenSource(TestHosts.HangGuard);
        var (socket, secure, key) = await Attacker.AuthenticateAsync(target, guard.Token);
        using var _ = socket;
        await using var __ = secure;

        const int Pings = 200_000;
        const int PerWrite = 5_000;
        const uint Last = 0xFFFF_FFFF;
        byte[] batch = new byte[PerWrite * 12];
        long allocated = await Attacker.AllocatedAsync(async () =>
        {
            for (int sent = 0; sent < Pings; sent += PerWrite)
            {
                for (int i = 0; i < PerWrite; i++)
                {
                    WritePing(batch.AsSpan(i * 12), (uint)(sent + i));
                }

                await secure.WriteAsync(batch, guard.Token);
            }

            byte[] last = new byte[12];
            WritePing(last, Last);
            await secure.WriteAsync(last, guard.Token);

            // Only now read: the answer to the last ping comes, whatever happened to the others.
            await ReadUntilAckAsync(secure, Last, guard.Token);
        });

        // Measured: 5-6 MB (the handshake, our own 40 Noise writes and what we read back). One pending write per ping
        // (the code before this change) allocated far more: 200,000 queued writes of a few hundred bytes each, and the
        // attacker then reads 200,000 answers.
        Assert.True(allocated <= 24L << 20, $"{Pings} pings allocated {allocated:N0} bytes");
        var connection = target.GetConnection(key.PeerId);
        Assert.NotNull(connection);
        Assert.True(connection.Session.QueuedWriteBytes <= 64, $"{connection.Session.QueuedWriteBytes} bytes queued");

        // Positive control: the node still answers a well-behaved peer's pings.
        await using var witness = await TestHosts.StartAsync();
        await witness.ConnectAsync(TestHosts.AddressOf(target), CancellationToken.None);
        await PingService.PingAsync(witness, target.Id, CancellationToken.None);
    }

    [Fact]
    public async Task ASessionWhoseWritesPileUpIsClosed()
    {
        // Our side of a connection whose peer stops reading: once stalled, writes never complete.
        var (session, transport, streams) = await OpenStalledAsync(40);
        await using var _ = session;

        // 40 streams write 64 KiB each (within the initial window): 2.5 MB would queue behind the stalled write, 1 MiB may.
        transport.Stall();
        var writes = streams.Select(s => s.WriteAsync(new byte[64 * 1024]).AsTask()).ToList();
        await TestHosts.WaitUntilAsync(() => session.IsClosed);
        Assert.Contains("does not read", session.CloseReason?.Message);
        Assert.True(session.QueuedWriteBytes <= 1 << 20, $"{session.QueuedWriteBytes} bytes queued");
        foreach (var write in writes)
        {
            await Assert.ThrowsAnyAsync<IOException>(() => write.WaitAsync(TestHosts.HangGuard));
        }
    }

    /// <summary>A session (bound 1 MiB of queued writes) over a transport the test can stall, with <paramref name="count"/> streams open.</summary>
    private static async Task<(YamuxSession Session, StalledTransport Transport, List<YamuxStream> Streams)> OpenStalledAsync(int count)
    {
        var inbound = new Pipe();
        var transport = new StalledTransport(inbound.Reader.AsStream());
        var session = new YamuxSession(transport, isClient: true, new YamuxOptions { MaxQueuedWriteBytes = 1 << 20 });
        session.Start();
        var streams = new List<YamuxStream>();
        for (int i = 0; i < count; i++)
        {
            streams.Add(await session.OpenStreamAsync(CancellationToken.None));
        }

        return (session, transport, streams);
    }

    [Fact]
    public async Task WritesBelowTheBoundWaitWithoutClosingTheSession()
    {
        var (session, transport, streams) = await OpenStalledAsync(8);
        await using var _ = session;

        // 8 × 64 KiB = 512 KiB: under the bound, so the writes just wait (a peer that is slow, not gone).
        transport.Stall();
        var writes = streams.Select(s => s.WriteAsync(new byte[64 * 1024]).AsTask()).ToList();
        await TestHosts.WaitUntilAsync(() => session.QueuedWriteBytes >= 8 * 64 * 1024);
        Assert.False(session.IsClosed);
        Assert.All(writes, w => Assert.False(w.IsCompleted));
        transport.Resume();
        await Task.WhenAll(writes).WaitAsync(TestHosts.HangGuard);
        Assert.False(session.IsClosed);
    }

    private static void WritePing(Span<byte> frame, uint opaque)
    {
        frame[0] = 0;
        frame[1] = 2; // ping
        BinaryPrimitives.WriteUInt16BigEndian(frame[2..], 0x1); // SYN
        BinaryPrimitives.WriteUInt32BigEndian(frame[4..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(frame[8..], opaque);
    }

    private static async Task ReadUntilAckAsync(Stream secure, uint opaque, CancellationToken cancellationToken)
    {
        byte[] header = new byte[12];
        while (true)
        {
            await secure.ReadExactlyAsync(header, cancellationToken);
            uint length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8));
            if (header[1] == 0)
            {
                await secure.ReadExactlyAsync(new byte[length], cancellationToken); // data (identify): skip
            }
            else if (header[1] == 2 && (BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(2)) & 0x2) != 0 && length == opaque)
            {
                return;
            }
        }
    }

    /// <summary>Reads from a pipe; writes are dropped, or, once stalled, wait until resumed: a peer that stopped reading.</summary>
    private sealed class StalledTransport(Stream inbound) : Streams.AsyncDuplexStream
    {
        private volatile TaskCompletionSource? _stalled;

        public void Stall() => _stalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Resume() => _stalled?.TrySetResult();

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inbound.ReadAsync(buffer, cancellationToken);

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_stalled is { } stalled)
            {
                await stalled.Task.WaitAsync(cancellationToken);
            }
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override void Flush()
        {
        }

        /// <summary>Closing the connection fails the write that waits, as a closed socket does.</summary>
        protected override void Dispose(bool disposing)
        {
            _stalled?.TrySetException(new IOException("the connection is closed"));
            base.Dispose(disposing);
        }
    }
}
