using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Spegel.Cli;

/// <summary>
/// <c>spegel version [--format text|json]</c>, printed as Spegel prints it: text <c>spegel version v0.1.0 &lt;commit&gt;</c>;
/// JSON <c>{"build":{"goVersion","version","commit"},"runtime":{"distro","os","arch"}}</c> on one line without a newline.
/// Like Spegel's, <c>--format</c> has no environment variable (a stray FORMAT in the environment must not matter).
/// </summary>
internal sealed class VersionCommand
{
    private readonly Flag<LogLevel> _logLevel;
    private readonly Flag<string> _format = new("--format", string.Empty, "Output format: text or json.", "text", "text", FlagShape.Single, FlagParsers.Enum(("text", "text"), ("json", "json")));

    /// <param name="logLevel">The global <c>--log-level</c> (accepted and unused, as in Spegel).</param>
    public VersionCommand(Flag<LogLevel>? logLevel = null)
    {
        _logLevel = logLevel ?? CommonFlags.LogLevel();
    }

    public IEnumerable<Flag> Flags => [_logLevel, _format];

    /// <summary>The release as Spegel names it (<c>v0.1.0</c>) and the commit it was built from (may be empty).</summary>
    public static (string Release, string Commit) Parts()
    {
        string version = BuildInfo.Version;
        int plus = version.IndexOf('+', StringComparison.Ordinal);
        string release = plus < 0 ? version : version[..plus];
        string commit = plus < 0 ? string.Empty : version[(plus + 1)..];
        return ("v" + release, commit);
    }

    public Command Build()
    {
        var command = Flag.Command("version", "Print the version.", Flags);
        command.SetAction(parseResult =>
        {
            var errors = new List<string>();
            _logLevel.Resolve(parseResult, errors);
            string format = _format.Resolve(parseResult, errors);
            if (errors.Count > 0)
            {
                return CliErrors.Report(errors, "version");
            }

            var (release, commit) = Parts();
            if (format == "json")
            {
                Console.Write(Json(release, commit));
            }
            else
            {
                Console.WriteLine($"spegel version {release} {commit}");
            }

            return 0;
        });
        return command;
    }

    /// <summary>Spegel's JSON shape; <c>goVersion</c> carries the .NET runtime (there is no Go), e.g. <c>dotnet10.0.1</c>.</summary>
    internal static string Json(string release, string commit)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("build");
            json.WriteString("goVersion", "dotnet" + Environment.Version);
            json.WriteString("version", release);
            json.WriteString("commit", commit);
            json.WriteEndObject();
            json.WriteStartObject("runtime");
            json.WriteString("distro", Distro());
            json.WriteString("os", "linux");
            json.WriteString("arch", GoArch(RuntimeInformation.ProcessArchitecture));
            json.WriteEndObject();
            json.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Go's GOARCH names, which Spegel prints.</summary>
    internal static string GoArch(Architecture architecture) => architecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.Arm64 => "arm64",
        Architecture.Arm => "arm",
        Architecture.X86 => "386",
        _ => architecture.ToString().ToLowerInvariant(),
    };

    /// <summary>PRETTY_NAME of /etc/os-release, or "unknown" (as Spegel).</summary>
    private static string Distro()
    {
        try
        {
            foreach (string raw in File.ReadLines("/etc/os-release"))
            {
                string line = raw.Trim();
                if (line.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))
                {
                    return line["PRETTY_NAME=".Length..].Trim('"');
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return "unknown";
    }
}
