namespace Spegel.Testbed;

/// <summary>
/// Runs a command the way a container with <c>readOnlyRootFilesystem: true</c> runs it: in a private mount namespace
/// where <c>/</c> is remounted read-only and only the given folders (the pod's volumes) stay writable.
/// </summary>
public static class ReadOnlyRoot
{
    /// <summary>The command line that runs <paramref name="command"/> on a read-only root.</summary>
    public static IReadOnlyList<string> Wrap(IEnumerable<string> command, params string[] writable)
    {
        string binds = string.Concat(writable.Select(w => $"mount --bind {Quote(w)} {Quote(w)} && "));
        string script = $"{binds}mount -o remount,bind,ro / && exec \"$@\"";
        return [Tools.Unshare, "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", .. command];
    }

    /// <summary>Runs a one-shot command on a read-only root.</summary>
    public static Task<CommandResult> RunAsync(IEnumerable<string> command, IDictionary<string, string>? environment, TimeSpan timeout, params string[] writable)
    {
        var line = Wrap(command, writable);
        return ProcessRunner.RunAsync(line[0], line.Skip(1), timeout, environment);
    }

    private static string Quote(string path) =>
        path.Contains('\'', StringComparison.Ordinal) ? throw new ArgumentException("quote in path", nameof(path)) : $"'{path}'";
}
