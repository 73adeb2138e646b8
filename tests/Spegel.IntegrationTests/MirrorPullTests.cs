using Spegel.Testbed;

namespace Spegel.IntegrationTests;

/// <summary>A second containerd pulls every test image through <c>spegel registry</c> with the upstream stopped.</summary>
[Collection(SingleNodeCollection.Name)]
public sealed class MirrorPullTests(SingleNodeFixture fixture)
{
    [Fact]
    public async Task ContainerdBPullsEveryImageThroughTheMirrorWithTheUpstreamStopped()
    {
        Assert.Equal(0, await Network.StatusAsync($"http://{fixture.Upstream.Address}/v2/"));
        await using var nodeB = await ContainerdNode.StartAsync(Path.Combine(fixture.Root, "b"));

        // A pre-existing configuration that must survive configuration + cleanup byte for byte.
        Directory.CreateDirectory(Path.Combine(nodeB.HostsDir, "ghcr.io"));
        await File.WriteAllTextAsync(Path.Combine(nodeB.HostsDir, "ghcr.io", "hosts.toml"), "server = \"https://ghcr.io\"\n");
        var hostsBefore = Snapshot(nodeB.HostsDir);

        (await SpegelProcess.RunAsync([
            "configuration",
            "--containerd-registry-config-path", nodeB.HostsDir,
            "--mirror-targets", fixture.Spegel.BaseAddress.ToString().TrimEnd('/'),
            "--mirrored-registries", $"http://{fixture.Upstream.Address}",
            "--basic-auth-dir", Path.Combine(fixture.Root, "no-auth"),
        ])).EnsureSuccess("spegel configuration");
        string hosts = await File.ReadAllTextAsync(Path.Combine(nodeB.HostsDir, fixture.Upstream.Address, "hosts.toml"));
        Assert.Equal($"server = 'http://{fixture.Upstream.Address}'\n\n[host.'http://{fixture.Spegel.RegistryAddress}']\ncapabilities = ['pull', 'resolve']\ndial_timeout = '200ms'", hosts);

        foreach (var image in fixture.Images)
        {
            var result = image.IsArtifact
                ? await nodeB.FetchAsync(fixture.UpstreamImage(image), timeout: TimeSpan.FromSeconds(60))
                : await nodeB.PullAsync(fixture.UpstreamImage(image), timeout: TimeSpan.FromSeconds(60));
            Assert.True(result.ExitCode == 0, $"{image.Description}: {result.StandardError}");
        }

        // containerd verified every digest while pulling; B now holds exactly what A holds.
        Assert.Equal(fixture.ContentOfA.Order(), (await nodeB.ContentDigestsAsync()).Order());
        Assert.Equal(await ImageTargets(fixture.NodeA), await ImageTargets(nodeB));

        // The mirror answered from A's store: every blob request was served locally.
        string log = fixture.Spegel.Daemon.ReadLog();
        Assert.Contains("(blob local)", log, StringComparison.Ordinal);
        Assert.Contains("(manifest local)", log, StringComparison.Ordinal);

        // ... and its metrics moved with the pull.
        string metrics = await fixture.Spegel.ScrapeAsync();
        Assert.True(SpegelProcess.Sample(metrics, "http_request_duration_seconds_count", ("handler", "/v2/*"), ("method", "GET"), ("code", "200")) > 0, metrics);
        Assert.True(SpegelProcess.Sample(metrics, "http_response_size_bytes_sum", ("handler", "/v2/*"), ("method", "GET"), ("code", "200")) > 8 * 1024 * 1024);
        Assert.True(SpegelProcess.Sample(metrics, "spegel_advertised_content_digests", ("registry", "127.0.0.1")) >= fixture.ContentOfA.Count - 1);
        Assert.True(SpegelProcess.Sample(metrics, "spegel_advertised_image_tags", ("registry", fixture.Upstream.Address)) == fixture.Images.Count);
        Assert.NotNull(SpegelProcess.Sample(metrics, "process_cpu_seconds_total"));

        // Cleanup restores B's configuration exactly (cleanup then serves /healthz until stopped).
        int port = Network.FreePort();
        await using (var cleanup = Daemon.Start("dotnet", [SpegelProcess.DefaultBinary, "cleanup", "--addr", $"127.0.0.1:{port}", "--containerd-registry-config-path", nodeB.HostsDir], Path.Combine(fixture.Root, "cleanup.log")))
        {
            await Network.WaitUntilAsync(async () => await Network.StatusAsync($"http://127.0.0.1:{port}/healthz") == 200, TimeSpan.FromSeconds(30), "cleanup", cleanup.ReadLog);
        }

        Assert.Equal(hostsBefore, Snapshot(nodeB.HostsDir));
    }

    [Fact]
    public async Task AMultiPlatformIndexIsServedWholeAndOnlyTheHostPlatformIsPulled()
    {
        var image = fixture.Images.Single(i => i.IsIndex);
        await using var nodeC = await ContainerdNode.StartAsync(Path.Combine(fixture.Root, "c"));
        (await SpegelProcess.RunAsync([
            "configuration", "--containerd-registry-config-path", nodeC.HostsDir,
            "--mirror-targets", fixture.Spegel.BaseAddress.ToString().TrimEnd('/'), "--mirrored-registries", $"http://{fixture.Upstream.Address}",
            "--basic-auth-dir", Path.Combine(fixture.Root, "no-auth"),
        ])).EnsureSuccess("configuration");
        var pull = await nodeC.PullAsync(fixture.UpstreamImage(image), platform: "linux/amd64", timeout: TimeSpan.FromSeconds(60));
        Assert.True(pull.ExitCode == 0, pull.StandardError);

        // The arm64 manifest was never pulled by A, so the mirror cannot serve it: asking for that platform fails.
        var arm = await nodeC.PullAsync(fixture.UpstreamImage(image), platform: "linux/arm64", timeout: TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, arm.ExitCode);
    }

    private static async Task<string> ImageTargets(ContainerdNode node)
    {
        var result = (await node.Ctr(["images", "ls"])).EnsureSuccess("ctr images ls");
        return string.Join('\n', result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(parts => $"{parts[0]} {parts[2]}")
            .Order(StringComparer.Ordinal));
    }

    private static SortedDictionary<string, string> Snapshot(string root)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in new DirectoryInfo(root).EnumerateFileSystemInfos("*", SearchOption.AllDirectories))
        {
            result[Path.GetRelativePath(root, entry.FullName)] = entry is FileInfo file
                ? $"{file.UnixFileMode} {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file.FullName)))}"
                : $"dir {entry.UnixFileMode}";
        }

        return result;
    }
}
