using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Spegel.Hosting;

/// <summary>JSON logs on stderr at the level of <c>--log-level</c>, for every subcommand.</summary>
internal static class SpegelLogging
{
    public static void Configure(ILoggingBuilder logging, LogLevel level)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(level);
        // The framework's own request and connection logs duplicate ours; keep only its warnings.
        logging.AddFilter("Microsoft", LogLevel.Warning);
        logging.AddFilter("Grpc", LogLevel.Warning);
        logging.AddFilter("System.Net.Http", LogLevel.Warning);

        logging.AddJsonConsole(options =>
        {
            options.IncludeScopes = false;
            options.UseUtcTimestamp = true;
            options.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
            options.JsonWriterOptions = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        });
        logging.Services.Configure<ConsoleLoggerOptions>(options => options.LogToStandardErrorThreshold = LogLevel.Trace);
    }

    public static ILoggerFactory CreateFactory(LogLevel level) => LoggerFactory.Create(builder => Configure(builder, level));

    /// <summary>Maps DEBUG|INFO|WARN|ERROR (Go's slog names) to a log level.</summary>
    public static readonly (string Text, LogLevel Value)[] Levels =
    [
        ("DEBUG", LogLevel.Debug),
        ("INFO", LogLevel.Information),
        ("WARN", LogLevel.Warning),
        ("ERROR", LogLevel.Error),
    ];
}
