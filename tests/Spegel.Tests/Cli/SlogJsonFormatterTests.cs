using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Spegel.Hosting;

namespace Spegel.Tests.Cli;

/// <summary>Our log lines in the shape of Go's slog JSON handler, which a pipeline built for Spegel reads.</summary>
public sealed partial class SlogJsonFormatterTests
{
    [Fact]
    public void ALineHasSlogsKeysFirstThenTheAttributesFlat()
    {
        string line = Format(LogLevel.Warning, new EventId(1301), [new("Path", "/v2/x/blobs/sha256:ab"), new("Status", 404), new("LatencyMs", 1.5), new("Ok", false), new("{OriginalFormat}", "{Path} {Status}")], "GET /v2/x 404", null);
        Assert.EndsWith("\n", line, StringComparison.Ordinal);
        Assert.Single(line.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        using var json = JsonDocument.Parse(line);
        Assert.Equal(["time", "level", "msg", "logger", "eventId", "path", "status", "latencyMs", "ok"], json.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal("WARN", json.RootElement.GetProperty("level").GetString());
        Assert.Equal("GET /v2/x 404", json.RootElement.GetProperty("msg").GetString());
        Assert.Equal(404, json.RootElement.GetProperty("status").GetInt32());
        Assert.Equal(1.5, json.RootElement.GetProperty("latencyMs").GetDouble());
        Assert.False(json.RootElement.GetProperty("ok").GetBoolean());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", json.RootElement.GetProperty("time").GetString());
    }

    [Fact]
    public void AnExceptionIsErrLikeLogrAndItsStack()
    {
        InvalidOperationException error;
        try
        {
            throw new InvalidOperationException("boom \"quoted\"\nsecond line");
        }
        catch (InvalidOperationException ex)
        {
            error = ex;
        }

        string line = Format(LogLevel.Error, default, [], "failed", error);
        using var json = JsonDocument.Parse(line);
        Assert.Equal("ERROR", json.RootElement.GetProperty("level").GetString());
        Assert.Equal("boom \"quoted\"\nsecond line", json.RootElement.GetProperty("err").GetString());
        Assert.Contains("InvalidOperationException", json.RootElement.GetProperty("exception").GetString(), StringComparison.Ordinal);
        Assert.False(json.RootElement.TryGetProperty("eventId", out _));
    }

    [Theory]
    [InlineData(LogLevel.Trace, "DEBUG-4")]
    [InlineData(LogLevel.Debug, "DEBUG")]
    [InlineData(LogLevel.Information, "INFO")]
    [InlineData(LogLevel.Warning, "WARN")]
    [InlineData(LogLevel.Error, "ERROR")]
    [InlineData(LogLevel.Critical, "ERROR+4")]
    public void LevelsAreSlogsNames(LogLevel level, string name) => Assert.Equal(name, SlogJsonFormatter.Level(level));

    [Fact]
    public void TimesAreRfc3339LikeGo()
    {
        Assert.Equal("2026-12-01T16:22:32Z", SlogJsonFormatter.Time(new DateTimeOffset(2026, 12, 1, 16, 22, 32, TimeSpan.Zero)));
        Assert.Equal("2026-12-01T14:22:32.5Z", SlogJsonFormatter.Time(new DateTimeOffset(2026, 12, 1, 16, 22, 32, 500, TimeSpan.FromHours(2))));
    }

    [Fact]
    public void TheProductsLoggersWriteThisShape()
    {
        var output = new StringWriter();
        var formatter = new SlogJsonFormatter();
        var logger = new CapturingLogger(formatter, output);
        LogSomething(logger, "sha256:ab", 3);
        using var json = JsonDocument.Parse(output.ToString());
        Assert.Equal("Advertised sha256:ab to 3 peers", json.RootElement.GetProperty("msg").GetString());
        Assert.Equal("sha256:ab", json.RootElement.GetProperty("digest").GetString());
        Assert.Equal(3, json.RootElement.GetProperty("peers").GetInt32());
        Assert.Equal(4242, json.RootElement.GetProperty("eventId").GetInt32());
    }

    private static string Format(LogLevel level, EventId id, IReadOnlyList<KeyValuePair<string, object?>> state, string message, Exception? exception)
    {
        var output = new StringWriter();
        new SlogJsonFormatter().Write(new LogEntry<IReadOnlyList<KeyValuePair<string, object?>>>(level, "Spegel.Test", id, state, exception, (_, _) => message), null, output);
        return output.ToString();
    }

    [LoggerMessage(EventId = 4242, Level = LogLevel.Information, Message = "Advertised {Digest} to {Peers} peers")]
    private static partial void LogSomething(ILogger logger, string digest, int peers);

    private sealed class CapturingLogger(SlogJsonFormatter formatter, TextWriter output) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter1) =>
            formatter.Write(new LogEntry<TState>(logLevel, "Spegel.Test", eventId, state, exception, formatter1), null, output);
    }
}
