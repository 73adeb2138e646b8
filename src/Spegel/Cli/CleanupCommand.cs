using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Spegel.Hosting;
using Spegel.MirrorConfig;

namespace Spegel.Cli;

/// <summary>
/// <c>spegel cleanup</c>: restores the node's original mirror configuration, then answers probes (any GET, and
/// <c>/readyz</c>) until SIGTERM or SIGINT, so the uninstall hook can wait for every node (SPEC §2.3).
/// </summary>
internal sealed partial class CleanupCommand
{
    private readonly Flag<LogLevel> _logLevel;
    private readonly Flag<ListenAddress?> _addr = new("--addr", "ADDR", "Address to answer readiness probes on (any GET, /readyz) once cleanup is done (required).", null, string.Empty, FlagShape.Single, FlagParsers.OptionalAddress);
    private readonly Flag<string> _configPath = CommonFlags.RegistryConfigPath("Folder where hosts.toml files were written.");

    /// <param name="logLevel">The global <c>--log-level</c> (the root command's); tests may leave it to the command.</param>
    public CleanupCommand(Flag<LogLevel>? logLevel = null)
    {
        _logLevel = logLevel ?? CommonFlags.LogLevel();
    }

    public IEnumerable<Flag> Flags => [_logLevel, _addr, _configPath];

    public Command Build()
    {
        var command = Flag.Command("cleanup", "Restore the original containerd mirror configuration, then answer readiness probes until stopped (uninstall hook).", Flags);

        command.SetAction(RunAsync);
        return command;
    }

    private async Task<int> RunAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        var level = _logLevel.Resolve(parseResult, errors);
        var addr = _addr.Resolve(parseResult, errors);
        string configPath = _configPath.Resolve(parseResult, errors);
        if (addr is null && errors.Count == 0)
        {
            errors.Add("--addr (ADDR) is required, e.g. :8080");
        }

        if (errors.Count > 0)
        {
            return CliErrors.Report(errors, "cleanup");
        }

        using var loggerFactory = SpegelLogging.CreateFactory(level);
        var log = loggerFactory.CreateLogger("Spegel.Cleanup");
        try
        {
            new MirrorConfigurator(loggerFactory.CreateLogger<MirrorConfigurator>()).Cleanup(configPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogRestoreFailed(log, ex, configPath, ex.Message);
            return 1;
        }

        var builder = SpegelWebHost.CreateBuilder(level);
        builder.WebHost.ConfigureKestrel(k => k.Listen(addr!.TryGetEndPoint() ?? new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, addr.Port)));
        var app = builder.Build();
        // As Spegel's cleanup probe server: 200 for any GET and for anything on /readyz (the chart's readiness probe and
        // cleanup-wait ask /readyz; older ones /healthz), 404 otherwise.
        app.Run(context =>
        {
            bool ok = HttpMethods.IsGet(context.Request.Method) || context.Request.Path == "/readyz";
            context.Response.StatusCode = ok ? StatusCodes.Status200OK : StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            LogStopped(log);
            return 0;
        }

        LogWaiting(log, string.Join(", ", app.Urls));
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        using var drain = new CancellationTokenSource(SpegelWebHost.DrainTimeout);
        await SpegelWebHost.StopAsync(app, drain.Token).ConfigureAwait(false);
        LogStopped(log);
        return 0;
    }

    [LoggerMessage(EventId = 1511, Level = LogLevel.Error, Message = "Restoring {ConfigPath} failed: {Reason}")]
    private static partial void LogRestoreFailed(ILogger logger, Exception exception, string configPath, string reason);

    [LoggerMessage(EventId = 1512, Level = LogLevel.Information, Message = "Cleanup done; answering probes on {Address} until stopped")]
    private static partial void LogWaiting(ILogger logger, string address);

    [LoggerMessage(EventId = 1513, Level = LogLevel.Information, Message = "Stopped")]
    private static partial void LogStopped(ILogger logger);
}
