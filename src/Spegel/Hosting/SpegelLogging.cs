using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Spegel.Hosting;

/// <summary>JSON logs on stderr in slog's shape (<see cref="SlogJsonFormatter"/>) at the level of <c>--log-level</c>, for every subcommand.</summary>
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

        logging.AddConsole(options => options.FormatterName = SlogJsonFormatter.Name);
        // Registered by hand: AddConsoleFormatter<,> binds options through reflection, which trimming cannot keep.
        logging.Services.TryAddEnumerable(ServiceDescriptor.Singleton<ConsoleFormatter, SlogJsonFormatter>());
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
