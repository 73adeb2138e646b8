using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Spegel.Hosting;
using Spegel.MirrorConfig;

namespace Spegel.Cli;

/// <summary>
/// <c>spegel cleanup</c>: restores the node's original mirror configuration, then answers <c>GET /healthz</c> until
/// killed, so the uninstall hook can wait for every node (SPEC §2.3).
/// </summary>
internal sealed class CleanupCommand
{
    private readonly Flag<LogLevel> _logLevel = CommonFlags.LogLevel();
    private readonly Flag<ListenAddress?> _addr = new("--addr", "ADDR", "Address to serve GET /healthz on once cleanup is done (required).", null, string.Empty, FlagShape.Single, FlagParsers.OptionalAddress);
    private readonly Flag<string> _configPath = CommonFlags.RegistryConfigPath("Folder where hosts.toml files were written.");

    public IEnumerable<Flag> Flags => [_logLevel, _addr, _configPath];

    public Command Build()
    {
        var command = Flag.Command("cleanup", "Restore the original containerd mirror configuration, then serve /healthz (uninstall hook).", Flags);

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
        try
        {
            new MirrorConfigurator(loggerFactory.CreateLogger<MirrorConfigurator>()).Cleanup(configPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            loggerFactory.CreateLogger("Spegel.Cleanup").LogError(ex, "Restoring {ConfigPath} failed: {Reason}", configPath, ex.Message);
            return 1;
        }

        var builder = WebApplication.CreateSlimBuilder();
        SpegelLogging.Configure(builder.Logging, level);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(addr!.TryGetEndPoint() ?? new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, addr.Port));
        });
        await using var app = builder.Build();
        app.MapGet("/healthz", () => Results.Ok());
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        return 0;
    }
}
