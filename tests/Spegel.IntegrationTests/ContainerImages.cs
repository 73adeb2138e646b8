using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Spegel.Testbed;

namespace Spegel.IntegrationTests;

/// <summary>
/// The Dockerfile built once per platform for the tests of one class (each build publishes the whole product, about
/// half a minute of both cores), in a temporary folder removed afterwards.
/// </summary>
public sealed partial class ContainerImages : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sp-image-").FullName;
    private readonly ConcurrentDictionary<ContainerPlatform, Lazy<Task<DockerfileBuild>>> _builds = new();
    private readonly ConcurrentDictionary<ContainerPlatform, TimeSpan> _durations = new();

    /// <summary>The .NET runtime identifier an image for the platform must be published for (independent of scripts/dotnet-rid.sh).</summary>
    public static string RuntimeIdentifier(ContainerPlatform platform) => platform.ToString() switch
    {
        "linux/amd64" => "linux-x64",
        "linux/arm64" => "linux-arm64",
        "linux/arm/v7" => "linux-arm",
        _ => throw new NotSupportedException(platform.ToString()),
    };

    public Task<DockerfileBuild> BuildAsync(ContainerPlatform platform) =>
        _builds.GetOrAdd(platform, p => new Lazy<Task<DockerfileBuild>>(() => TimedBuildAsync(p))).Value;

    /// <summary>How long the platform's build took (for the test output).</summary>
    public TimeSpan Duration(ContainerPlatform platform) => _durations.GetValueOrDefault(platform);

    /// <summary>
    /// Whether a failed build failed only because the NuGet source serves none of the platform's runtime packs (NU1101
    /// for <c>Microsoft.NETCore.App.Runtime.linux-arm</c> and the like): the copy of nuget.org this project's machines
    /// reach holds the linux-x64 and linux-arm64 packs but no linux-arm ones. Any other error is a real failure.
    /// </summary>
    public static bool OnlyRuntimePacksMissing(Exception failure, ContainerPlatform platform)
    {
        string rid = RuntimeIdentifier(platform);
        var errors = failure.Message.Split('\n').Where(l => l.Contains(": error ", StringComparison.Ordinal)).ToList();
        return errors.Count > 0 && errors.All(l => MissingPack().Match(l) is { Success: true } m && m.Groups[1].Value == rid);
    }

    private async Task<DockerfileBuild> TimedBuildAsync(ContainerPlatform platform)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            return await DockerfileBuild.BuildAsync(RepositoryFiles.Root, Path.Combine(_root, platform.ToString().Replace('/', '-')), TimeSpan.FromMinutes(15), platform);
        }
        finally
        {
            _durations[platform] = clock.Elapsed;
        }
    }

    [GeneratedRegex(@"error NU1101: Unable to find package Microsoft\.(?:NETCore|AspNetCore)\.App\.(?:Runtime|Host)\.([a-z0-9-]+)\. No packages exist with this id")]
    private static partial Regex MissingPack();

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
