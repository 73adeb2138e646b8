using System.Text;

namespace Spegel.Cli;

/// <summary>
/// The configuration reference (docs/configuration.md), generated from the flag tables the CLI itself uses, so the
/// two cannot drift; a test compares the file with this output. <c>spegel docs</c> prints it.
/// </summary>
internal static class ConfigurationReference
{
    private static readonly string[] Order = ["registry", "configuration", "cleanup", "cleanup-wait", "version"];

    public static string Render()
    {
        var root = SpegelCli.Build(out var flagsByCommand);
        var sb = new StringBuilder();
        sb.Append("# Configuration reference\n\n");
        sb.Append("Generated from the command-line definitions (`spegel docs > docs/configuration.md`); a test fails when this file\n");
        sb.Append("and the binary disagree. Every flag can also be set by the environment variable beside it; the command line wins.\n");
        sb.Append("Durations use Go syntax (`20ms`, `1s`, `2m`); lists take several values after the flag, or comma-separated values in\n");
        sb.Append("the environment variable. `--log-level` is global, as in Spegel: it may come before or after the subcommand.\n");
        foreach (string name in Order)
        {
            var command = root.Subcommands.Single(c => c.Name == name);
            sb.Append("\n## `spegel ").Append(name).Append("`\n\n").Append(command.Description).Append("\n\n");
            sb.Append("| flag | environment | default | meaning |\n|---|---|---|---|\n");
            foreach (var flag in flagsByCommand[name])
            {
                string names = string.Join(", ", new[] { flag.Name }.Concat(flag.Aliases).Select(n => $"`{n}`"));
                string value = flag.Shape switch
                {
                    FlagShape.List => " &lt;values…&gt;",
                    FlagShape.Switch => "[=true|false]",
                    _ => " &lt;value&gt;",
                };
                sb.Append("| ").Append(names).Append(value).Append(" | ").Append(flag.Env.Length > 0 ? $"`{flag.Env}`" : "(none, as in Spegel)").Append(" | ")
                  .Append(flag.DefaultText.Length > 0 ? $"`{flag.DefaultText}`" : string.Empty).Append(" | ")
                  .Append(flag.Description.Replace("|", "\\|", StringComparison.Ordinal)).Append(" |\n");
            }
        }

        return sb.ToString();
    }
}
