namespace Spegel.Cli;

/// <summary>How bad command lines are reported: every problem on stderr, then exit code 2.</summary>
internal static class CliErrors
{
    public const int UsageExitCode = 2;

    public static int Report(IEnumerable<string> errors, string command)
    {
        foreach (string error in errors)
        {
            Console.Error.WriteLine($"spegel {command}: {error}");
        }

        Console.Error.WriteLine($"Run 'spegel {command} --help' for the flags and their environment variables.");
        return UsageExitCode;
    }

    /// <summary>Parses a list flag of registry URLs, naming the flag in each error.</summary>
    public static IReadOnlyList<Oci.RegistryUrl> ParseRegistries(Flag<IReadOnlyList<string>> flag, System.CommandLine.ParseResult parseResult, bool allowWildcard, List<string> errors, bool bracketIPv6Hosts = false)
    {
        var problems = new List<string>();
        var urls = Oci.RegistryUrl.ParseList(flag.Resolve(parseResult, errors), allowWildcard, problems, bracketIPv6Hosts);
        errors.AddRange(problems.Select(p => $"{flag.Name} ({flag.Env}): {p}"));
        return urls;
    }
}
