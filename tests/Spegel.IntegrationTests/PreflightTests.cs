using Spegel.Testbed;

namespace Spegel.IntegrationTests;

/// <summary>Preflight against containerd 1.6 with its CRI plugin on: the real CRI config is read and judged.</summary>
public sealed class PreflightTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("sp-pf-").FullName;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task MisconfiguredContainerdIsRefusedWithTheFix()
    {
        await using var node = await ContainerdNode.StartAsync(Path.Combine(_root, "bad"), cri: true, criConfigPath: "/somewhere/else", discardUnpackedLayers: true);
        var result = await SpegelProcess.RunAsync(
            ["registry", "--registry-addr", $"127.0.0.1:{Network.FreePort()}", "--router-addr", "127.0.0.1:0", "--containerd-sock", node.Socket, "--bootstrap-kind", "static", "--containerd-registry-config-path", node.HostsDir],
            TimeSpan.FromSeconds(60));
        Assert.Equal(1, result.ExitCode);
        var messages = JsonLog.Messages(result.StandardError);
        Assert.Contains(messages, m => m.Contains($"containerd reads hosts.toml from \"/somewhere/else\", not from \"{node.HostsDir}\"", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("set discard_unpacked_layers = false under [plugins.\"io.containerd.grpc.v1.cri\".containerd]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WellConfiguredContainerdPasses()
    {
        await using var node = await ContainerdNode.StartAsync(Path.Combine(_root, "good"), cri: true);
        await using var spegel = await SpegelProcess.StartAsync(
            Path.Combine(_root, "spegel.log"), $"127.0.0.1:{Network.FreePort()}",
            ["--containerd-sock", node.Socket, "--bootstrap-kind", "static", "--containerd-registry-config-path", node.HostsDir, "--containerd-content-path", string.Empty]);
        Assert.DoesNotContain("Preflight", spegel.Daemon.ReadLog(), StringComparison.Ordinal);
        Assert.Equal(200, await Network.StatusAsync($"{spegel.BaseAddress}healthz"));
    }
}
