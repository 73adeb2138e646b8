using System.CommandLine;
using Spegel.Hosting;

namespace Spegel.Cli;

/// <summary>The <c>spegel</c> command line: subcommands, parse errors reported with exit code 2.</summary>
internal static class SpegelCli
{
    public static RootCommand Build(out IReadOnlyDictionary<string, IEnumerable<Flag>> flagsByCommand)
    {
        // --log-level is global, as in Spegel (go-arg): before or after the subcommand, for every subcommand.
        var logLevel = CommonFlags.LogLevel();
        logLevel.Option.Recursive = true;
        var registry = new RegistryCommand(logLevel);
        var configuration = new ConfigurationCommand(logLevel);
        var cleanup = new CleanupCommand(logLevel);
        var cleanupWait = new CleanupWaitCommand(logLevel);
        var version = new VersionCommand(logLevel);
        var root = new RootCommand("Spegel for .NET: a stateless, cluster-local OCI registry mirror that shares images between nodes.");
        root.Options.Add(logLevel.Option);
        root.Subcommands.Add(registry.Build());
        root.Subcommands.Add(configuration.Build());
        root.Subcommands.Add(cleanup.Build());
        root.Subcommands.Add(cleanupWait.Build());
        root.Subcommands.Add(version.Build());
        var docs = new Command("docs", "Print the configuration reference (Markdown).") { Hidden = true };
        docs.SetAction(_ =>
        {
            Console.Write(ConfigurationReference.Render());
            return 0;
        });
        root.Subcommands.Add(docs);
        flagsByCommand = new Dictionary<string, IEnumerable<Flag>>
        {
            ["registry"] = registry.Flags,
            ["configuration"] = configuration.Flags,
            ["cleanup"] = cleanup.Flags,
            ["cleanup-wait"] = cleanupWait.Flags,
            ["version"] = version.Flags,
        };
        return root;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        var root = Build(out _);
        var parseResult = root.Parse(args);
        if (parseResult.Errors.Count > 0)
        {
            string command = parseResult.CommandResult.Command is RootCommand ? string.Empty : parseResult.CommandResult.Command.Name;
            return CliErrors.Report(parseResult.Errors.Select(e => e.Message), command);
        }

        // Every command gets the token of the first SIGTERM/SIGINT and stops on it; a SIGINT after that exits at once.
        using var signals = ShutdownSignals.Register();
        return await parseResult.InvokeAsync(cancellationToken: signals.Stopping).ConfigureAwait(false);
    }
}
