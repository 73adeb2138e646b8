using System.CommandLine;
using System.CommandLine.Parsing;

namespace Spegel.Cli;

/// <summary>
/// One command-line flag with its environment variable, default and parser. System.CommandLine only tokenises;
/// values are parsed here so a flag and its environment variable share one parser, and every error names the
/// flag (or variable) and what is expected.
/// </summary>
internal abstract class Flag
{
    protected Flag(string name, string env, string description, string defaultText, FlagShape shape, string[] aliases)
    {
        Name = name;
        Env = env;
        Description = description;
        DefaultText = defaultText;
        Shape = shape;
        Option = shape switch
        {
            FlagShape.List => new Option<string[]>(name, aliases) { AllowMultipleArgumentsPerToken = true, Arity = ArgumentArity.ZeroOrMore },
            FlagShape.Switch => new Option<string>(name, aliases) { Arity = ArgumentArity.ZeroOrOne },
            _ => new Option<string>(name, aliases) { Arity = ArgumentArity.ExactlyOne },
        };
        Option.Description = description + (env.Length > 0 ? $" [env: {env}]" : string.Empty) + (defaultText.Length > 0 ? $" [default: {defaultText}]" : string.Empty);
        Option.HelpName = shape switch
        {
            FlagShape.List => "values",
            FlagShape.Switch => "true|false",
            _ => "value",
        };
        Aliases = aliases;
    }

    public string Name { get; }

    public string Env { get; }

    public string Description { get; }

    public string DefaultText { get; }

    public FlagShape Shape { get; }

    public IReadOnlyList<string> Aliases { get; }

    public Option Option { get; }

    /// <summary>
    /// Reads an environment variable: the process's, unless a caller binds from an explicit environment (tests do, so
    /// a variable set on the machine running them cannot change what they bind).
    /// </summary>
    public Func<string, string?> ReadEnvironment { get; set; } = Environment.GetEnvironmentVariable;

    /// <summary>A subcommand with these flags as its options.</summary>
    public static Command Command(string name, string description, IEnumerable<Flag> flags)
    {
        var command = new Command(name, description);
        foreach (var flag in flags.Where(f => !f.Option.Recursive))
        {
            // A recursive (global) option lives on the root command and is inherited; adding it again would clash.
            command.Options.Add(flag.Option);
        }

        return command;
    }

    /// <summary>The raw values and where they came from: the command line, the environment, or nowhere (null).</summary>
    protected (IReadOnlyList<string> Values, string Source)? Raw(ParseResult result)
    {
        if (result.GetResult(Option) is { Implicit: false } optionResult)
        {
            return (optionResult.Tokens.Select(t => t.Value).ToList(), Name);
        }

        string? env = Env.Length == 0 ? null : ReadEnvironment(Env);
        if (env is null)
        {
            return null;
        }

        // Like Spegel (go-arg), list variables are comma separated.
        IReadOnlyList<string> values = Shape == FlagShape.List
            ? env.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            : [env];
        return (values, $"{Env} (environment for {Name})");
    }
}

internal enum FlagShape
{
    Single,
    Switch,
    List,
}

/// <summary>Parses raw values; on failure returns what was expected, e.g. "a duration such as 20ms or 2s".</summary>
internal delegate bool FlagParser<T>(IReadOnlyList<string> values, out T value, out string expected);

internal sealed class Flag<T>(string name, string env, string description, T defaultValue, string defaultText, FlagShape shape, FlagParser<T> parser, params string[] aliases)
    : Flag(name, env, description, defaultText, shape, aliases)
{
    public T DefaultValue { get; } = defaultValue;

    /// <summary>True when the flag or its variable was given.</summary>
    public bool IsSet(ParseResult result) => Raw(result) is not null;

    /// <summary>The value from the command line, else the environment, else the default; errors are appended.</summary>
    public T Resolve(ParseResult result, ICollection<string> errors)
    {
        if (Raw(result) is not { } raw)
        {
            return DefaultValue;
        }

        if (parser(raw.Values, out T value, out string expected))
        {
            return value;
        }

        string given = raw.Values.Count == 0 ? "nothing" : $"'{string.Join(' ', raw.Values)}'";
        errors.Add($"{raw.Source}: got {given}, expected {expected}");
        return DefaultValue;
    }
}
