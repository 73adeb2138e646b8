using System.CommandLine;
using Microsoft.Extensions.Logging;
using Spegel.Hosting;
using Spegel.MirrorConfig;
using Spegel.Registry;

namespace Spegel.Cli;

/// <summary><c>spegel configuration</c>: writes containerd's mirror configuration and exits (SPEC §2.1, §5).</summary>
internal sealed class ConfigurationCommand
{
    private readonly Flag<LogLevel> _logLevel;
    private readonly Flag<string> _configPath = CommonFlags.RegistryConfigPath("Folder where hosts.toml files are written.");
    private readonly Flag<IReadOnlyList<string>> _mirroredRegistries = CommonFlags.MirroredRegistries("Registries to mirror (http/https URLs); empty: all registries (_default).");
    private readonly Flag<IReadOnlyList<string>> _mirrorTargets = new("--mirror-targets", "MIRROR_TARGETS", "Mirror URLs containerd asks, in order, e.g. http://10.0.0.5:30020 (required). An IPv6 host may come unbracketed, as the chart renders http://$(NODE_IP):port (http://2001:db8::5:30020 is written http://[2001:db8::5]:30020).", [], string.Empty, FlagShape.List, FlagParsers.Strings);
    private readonly Flag<bool> _resolveTags = new("--resolve-tags", "RESOLVE_TAGS", "Let the mirror resolve tags (adds the resolve capability).", true, "true", FlagShape.Switch, FlagParsers.Bool);
    private readonly Flag<bool> _prependExisting = new("--prepend-existing", "PREPEND_EXISTING", "Keep the node's existing host entries, after ours.", false, "false", FlagShape.Switch, FlagParsers.Bool);
    private readonly Flag<string> _basicAuthDir = CommonFlags.BasicAuthDir();

    /// <param name="logLevel">The global <c>--log-level</c> (the root command's); tests may leave it to the command.</param>
    public ConfigurationCommand(Flag<LogLevel>? logLevel = null)
    {
        _logLevel = logLevel ?? CommonFlags.LogLevel();
    }

    public IEnumerable<Flag> Flags => [_logLevel, _configPath, _mirroredRegistries, _mirrorTargets, _resolveTags, _prependExisting, _basicAuthDir];

    public Command Build()
    {
        var command = Flag.Command("configuration", "Write containerd mirror configuration (hosts.toml) and exit (the init container).", Flags);

        command.SetAction(RunAsync);
        return command;
    }

    private async Task<int> RunAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        var level = _logLevel.Resolve(parseResult, errors);
        var mirrored = CliErrors.ParseRegistries(_mirroredRegistries, parseResult, allowWildcard: true, errors);
        // The chart renders http://$(NODE_IP):port, unbracketed on an IPv6 node. Spegel brackets only the first target;
        // we bracket every one (our chart renders two NODE_IP targets). For any list Spegel accepts the result is the
        // same: a later target Spegel accepts has a bracketed or colon-free host, which bracketing leaves alone.
        var targets = CliErrors.ParseRegistries(_mirrorTargets, parseResult, allowWildcard: false, errors, bracketIPv6Hosts: true);
        if (targets.Count == 0 && !errors.Any(e => e.StartsWith(_mirrorTargets.Name, StringComparison.Ordinal)))
        {
            errors.Add($"{_mirrorTargets.Name} ({_mirrorTargets.Env}) is required: the mirror URLs containerd should ask, e.g. http://10.0.0.5:30020");
        }

        bool resolveTags = _resolveTags.Resolve(parseResult, errors);
        bool prepend = _prependExisting.Resolve(parseResult, errors);
        string configPath = _configPath.Resolve(parseResult, errors);
        string authDir = _basicAuthDir.Resolve(parseResult, errors);
        if (errors.Count > 0)
        {
            return CliErrors.Report(errors, "configuration");
        }

        using var loggerFactory = SpegelLogging.CreateFactory(level);
        var log = loggerFactory.CreateLogger("Spegel.Configuration");
        try
        {
            var auth = BasicAuth.Load(authDir);
            var configurator = new MirrorConfigurator(loggerFactory.CreateLogger<MirrorConfigurator>());
            await configurator.ApplyAsync(new MirrorConfiguration(configPath, mirrored, targets, resolveTags, prepend, auth.HeaderValue), cancellationToken).ConfigureAwait(false);
            return 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or InvalidOperationException)
        {
            log.LogError(ex, "Writing the mirror configuration to {ConfigPath} failed: {Reason}", configPath, ex.Message);
            return 1;
        }
    }
}
