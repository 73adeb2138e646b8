using System.CommandLine;

namespace Spegel.Cli;

/// <summary>The <c>spegel</c> command line: subcommands, parse errors reported with exit code 2.</summary>
internal static class SpegelCli
{
    public static RootCommand Build(out IReadOnlyDictionary<string, IEnumerable<Flag>> flagsByCommand)
    {
        var registry = new RegistryCommand();
        var configuration = new ConfigurationCommand();
        var cleanup = new CleanupCommand();
        var cleanupWait = new CleanupWaitCommand();
        var version = new VersionCommand();
        var root = new RootCommand("Spegel for .NET: a stateless, cluster-local OCI registry mirror that shares images between nodes.");
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

        return await parseResult.InvokeAsync().ConfigureAwait(false);
    }
}
