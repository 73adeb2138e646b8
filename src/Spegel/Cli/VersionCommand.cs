using System.CommandLine;
using System.Reflection;
using System.Text.Json;
using Spegel.Hosting;

namespace Spegel.Cli;

/// <summary><c>spegel version [--format text|json]</c>.</summary>
internal sealed class VersionCommand
{
    private readonly Flag<string> _format = new("--format", "FORMAT", "Output format: text or json.", "text", "text", FlagShape.Single, FlagParsers.Enum(("text", "text"), ("json", "json")));

    public IEnumerable<Flag> Flags => [_format];

    public static string Version =>
        typeof(VersionCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    public Command Build()
    {
        var command = new Command("version", "Print the version.");
        command.Options.Add(_format.Option);
        command.SetAction(parseResult =>
        {
            var errors = new List<string>();
            string format = _format.Resolve(parseResult, errors);
            if (errors.Count > 0)
            {
                return CliErrors.Report(errors, "version");
            }

            Console.WriteLine(format == "json"
                ? JsonSerializer.Serialize(new Dictionary<string, string> { ["version"] = Version, ["runtime"] = Environment.Version.ToString() }, SpegelJsonContext.Default.DictionaryStringString)
                : Version);
            return 0;
        });
        return command;
    }
}
