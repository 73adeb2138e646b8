using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Spegel.Libp2p.Muxing;
using Spegel.Libp2p.Protocols;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Tests.Transport;

/// <summary>
/// A protocol handler that throws something no peer can cause (a bug of ours) must not end as a faulted task nobody
/// observes, nor as a clean end of the stream the peer could take for a complete answer: the stream is reset, the
/// failure is logged at ERROR with its exception, and the host goes on serving.
/// </summary>
public sealed class StreamHandlerFailureTests
{
    private const string Protocol = "/spegel-test/throws/1.0.0";

    [Fact]
    public async Task AHandlerThatThrowsResetsItsStreamIsLoggedAndTheHostKeepsServing()
    {
        var logger = new CollectingLogger();
        await using var a = await TestHosts.StartAsync();
        await using var b = new Libp2pHost(TestHosts.Options(), logger);
        await b.StartAsync(CancellationToken.None);
        b.Handle(Protocol, async (stream, connection, cancellationToken) =>
        {
            var one = new byte[1];
            await stream.ReadExactlyAsync(one, cancellationToken);
            throw new InvalidOperationException("a bug in the handler");
        });
        await a.ConnectAsync(TestHosts.AddressOf(b), CancellationToken.None);

        await using (var stream = await a.NewStreamAsync(b.Id, Protocol, CancellationToken.None))
        {
            await stream.WriteAsync(new byte[] { 1 });
            await stream.FlushAsync();
            var buffer = new byte[16];
            await Assert.ThrowsAsync<YamuxStreamResetException>(async () =>
            {
                while (await stream.ReadAsync(buffer) > 0)
                {
                }
            });
        }

        var entry = Assert.Single(logger.Entries, e => e.Id.Id == 2207);
        Assert.Equal(LogLevel.Error, entry.Level);
        Assert.IsType<InvalidOperationException>(entry.Exception);
        Assert.Contains(Protocol, entry.Message, StringComparison.Ordinal);
        await PingService.PingAsync(a, b.Id, CancellationToken.None);
    }

    private sealed record Entry(LogLevel Level, EventId Id, string Message, Exception? Exception);

    private sealed class CollectingLogger : ILogger<Libp2pHost>
    {
        public ConcurrentQueue<Entry> Entries { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Enqueue(new Entry(logLevel, eventId, formatter(state, exception), exception));
    }
}
