using System.Reflection;

namespace Spegel;

/// <summary>What this build is. At the root so every room may name the version without knowing the CLI.</summary>
internal static class BuildInfo
{
    /// <summary>The assembly's informational version: <c>0.1.0+&lt;commit&gt;</c> when built from git.</summary>
    public static string Version =>
        typeof(BuildInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
}
