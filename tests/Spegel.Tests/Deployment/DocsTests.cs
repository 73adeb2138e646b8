using System.Diagnostics;
using System.Text.RegularExpressions;
using Spegel.Cli;

namespace Spegel.Tests.Deployment;

/// <summary>The configuration reference cannot drift from the binary.</summary>
public sealed partial class DocsTests
{
    [Fact]
    public void TheConfigurationReferenceIsWhatTheCliGenerates()
    {
        string file = RepositoryFiles.Read("docs", "configuration.md");
        Assert.True(file == ConfigurationReference.Render(), "docs/configuration.md is stale: run `dotnet src/Spegel/bin/Debug/net10.0/spegel.dll docs > docs/configuration.md`");
    }

    [Theory]
    [InlineData("registry")]
    [InlineData("configuration")]
    [InlineData("cleanup")]
    [InlineData("cleanup-wait")]
    [InlineData("version")]
    public async Task EveryFlagOfHelpIsInTheReference(string command)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true };
        foreach (string arg in new[] { Path.Combine(AppContext.BaseDirectory, "spegel.dll"), command, "--help" })
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        string help = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        string reference = RepositoryFiles.Read("docs", "configuration.md");
        string section = reference[reference.IndexOf($"## `spegel {command}`", StringComparison.Ordinal)..];
        int next = section.IndexOf("\n## ", 3, StringComparison.Ordinal);
        section = next > 0 ? section[..next] : section;
        var flags = HelpFlag().Matches(help).Select(m => m.Value).Where(f => f != "--help").ToList();
        Assert.NotEmpty(flags);
        foreach (string flag in flags)
        {
            Assert.Contains($"`{flag}`", section, StringComparison.Ordinal);
        }
    }

    [GeneratedRegex(@"(?<=\s)--[a-z][a-z0-9-]+")]
    private static partial Regex HelpFlag();
}
