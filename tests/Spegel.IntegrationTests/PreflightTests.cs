using Spegel.Testbed;

namespace Spegel.IntegrationTests;

/// <summary>Preflight against containerd 1.6 with its CRI plugin on: the real CRI config is read, judged and reported.</summary>
public sealed class PreflightTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("sp-pf-").FullName;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    /// <summary>
    /// What Spegel's chart gives our image on k3s/RKE2: containerd reads hosts.toml from its own folder and the registry
    /// is not told it (no --containerd-registry-config-path). Spegel does not check; we report it loudly — ERROR lines
    /// with the fix, a metric, the debug page — and keep serving (a crash loop would hide the message and the node).
    /// </summary>
    [Fact]
    public async Task MisconfiguredContainerdIsReportedWithTheFixAndTheNodeKeepsServing()
    {
        await using var node = await ContainerdNode.StartAsync(Path.Combine(_root, "bad"), cri: true, criConfigPath: "/var/lib/rancher/k3s/agent/etc/containerd/certs.d", discardUnpackedLayers: true);
        await using var spegel = await SpegelProcess.StartAsync(
            Path.Combine(_root, "spegel-bad.log"), $"127.0.0.1:{Network.FreePort()}",
            ["--containerd-sock", node.Socket, "--bootstrap-kind", "static", "--containerd-content-path", string.Empty],
            waitReady: true);
        string log = spegel.Daemon.ReadLog();
        var errors = JsonLog.Lines(log).Where(l => l.Level == "ERROR").Select(l => l.Message).ToList();
        Assert.Contains(errors, m => m.Contains("containerd reads hosts.toml from \"/var/lib/rancher/k3s/agent/etc/containerd/certs.d\", not from \"/etc/containerd/certs.d\"", StringComparison.Ordinal)
            && m.Contains("pass --containerd-registry-config-path", StringComparison.Ordinal));
        Assert.Contains(errors, m => m.Contains("set discard_unpacked_layers = false under [plugins.\"io.containerd.grpc.v1.cri\".containerd]", StringComparison.Ordinal));

        string metrics = await spegel.ScrapeAsync();
        Assert.Equal(1, SpegelProcess.Sample(metrics, "spegel_preflight_findings", ("check", "config_path"), ("severity", "error")));
        Assert.Equal(1, SpegelProcess.Sample(metrics, "spegel_preflight_findings", ("check", "discard_unpacked_layers"), ("severity", "error")));
        using var http = new HttpClient();
        string page = await http.GetStringAsync($"http://{spegel.MetricsAddress}/debug/web/");
        Assert.Contains("id=\"preflight\"", page, StringComparison.Ordinal);
        Assert.Contains("discard_unpacked_layers", page, StringComparison.Ordinal);

        // Still a registry: the API answers (a 404 for content it does not hold, not a refused connection).
        Assert.Equal(200, await Network.StatusAsync($"{spegel.BaseAddress}v2/"));
        Assert.Equal(404, await Network.StatusAsync($"{spegel.BaseAddress}v2/library/none/blobs/sha256:{new string('0', 64)}"));
    }

    [Fact]
    public async Task WellConfiguredContainerdPasses()
    {
        await using var node = await ContainerdNode.StartAsync(Path.Combine(_root, "good"), cri: true);
        await using var spegel = await SpegelProcess.StartAsync(
            Path.Combine(_root, "spegel.log"), $"127.0.0.1:{Network.FreePort()}",
            ["--containerd-sock", node.Socket, "--bootstrap-kind", "static", "--containerd-registry-config-path", node.HostsDir, "--containerd-content-path", string.Empty]);
        Assert.DoesNotContain("Preflight", spegel.Daemon.ReadLog(), StringComparison.Ordinal);
        Assert.Null(SpegelProcess.Sample(await spegel.ScrapeAsync(), "spegel_preflight_findings"));
        Assert.Equal(200, await Network.StatusAsync($"{spegel.BaseAddress}healthz"));
    }
}
