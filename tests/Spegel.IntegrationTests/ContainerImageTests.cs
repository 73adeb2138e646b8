using Spegel.Libp2p.Crypto;
using Spegel.Testbed;

namespace Spegel.IntegrationTests;

/// <summary>
/// The container image as the Dockerfile builds it (trimmed, self-contained, single file), run the way the chart runs
/// it: read-only root, writable volumes only for certs.d and the data folder, the Dockerfile's environment. There is
/// no container engine here, so <see cref="DockerfileBuild"/> follows the Dockerfile's own steps with this machine's
/// SDK; the base image's files are not part of the test.
/// </summary>
[Collection(SingleNodeCollection.Name)]
public sealed class ContainerImageTests(SingleNodeFixture fixture)
{
    [Fact]
    public async Task TheTrimmedImageConfiguresServesAndRoutesOnAReadOnlyRoot()
    {
        var image = await DockerfileBuild.BuildAsync(RepositoryFiles.Root, Path.Combine(fixture.Root, "image"), TimeSpan.FromMinutes(10));
        Assert.Equal("/app/spegel", "/" + Path.GetRelativePath(image.FinalRoot, image.Entrypoint[0]));
        long size = Directory.EnumerateFiles(image.FinalRoot, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.True(size < 48L * 1024 * 1024, $"the image's own files take {size} bytes");

        var version = await ReadOnlyRoot.RunAsync([.. image.Entrypoint, "version"], image.Environment, TimeSpan.FromSeconds(30));
        Assert.True(version.ExitCode == 0, version.StandardError);
        Assert.StartsWith("spegel version v0.", version.StandardOutput, StringComparison.Ordinal);

        // Node P runs the image on A's content, on 127.0.0.2 so a product node Q on 127.0.0.1 can share its registry port.
        string dataDir = Directory.CreateDirectory(Path.Combine(fixture.Root, "image-data")).FullName;
        int registryPort = Network.FreePort();
        int routerPort = Network.FreePort();
        await using var p = await SpegelProcess.StartAsync(
            Path.Combine(fixture.Root, "spegel-image.log"),
            $"127.0.0.2:{registryPort}",
            ["--containerd-sock", fixture.NodeA.Socket, "--containerd-content-path", fixture.NodeA.ContentRoot, "--data-dir", dataDir,
             "--router-addr", $"127.0.0.2:{routerPort}", "--router-announce-loopback", "--bootstrap-kind", "static", "--log-level", "DEBUG"],
            image.Environment,
            waitReady: true,
            launch: spegel => ReadOnlyRoot.Wrap([.. image.Entrypoint, .. spegel], dataDir));
        string peerId = RouterIdentityTests.PeerIdInLog(p.Daemon.ReadLog());

        // Q is the ordinary build on an empty containerd C; it finds A's content through P over the DHT.
        await using var nodeC = await ContainerdNode.StartAsync(Path.Combine(fixture.Root, "image-c"));
        await using var q = await SpegelProcess.StartAsync(
            Path.Combine(fixture.Root, "spegel-image-q.log"),
            $"127.0.0.1:{registryPort}",
            ["--containerd-sock", nodeC.Socket, "--containerd-content-path", nodeC.ContentRoot, "--router-announce-loopback",
             "--bootstrap-kind", "static", "--static-bootstrap-peers", $"/ip4/127.0.0.2/tcp/{routerPort}/p2p/{peerId}", "--log-level", "DEBUG"],
            waitReady: true);

        // The image's configuration step writes C's hosts.toml through the certs.d volume, pointing at Q.
        var configure = await ReadOnlyRoot.RunAsync(
            [.. image.Entrypoint, "configuration", "--containerd-registry-config-path", nodeC.HostsDir, "--mirror-targets", q.BaseAddress.ToString().TrimEnd('/'),
             "--mirrored-registries", $"http://{fixture.Upstream.Address}", "--basic-auth-dir", Path.Combine(fixture.Root, "no-auth")],
            image.Environment,
            TimeSpan.FromSeconds(30),
            Directory.CreateDirectory(nodeC.HostsDir).FullName);
        Assert.True(configure.ExitCode == 0, configure.StandardError);

        var multilayer = fixture.Images.Single(i => i.Repository == "spegeltest/multilayer");
        var pull = await nodeC.PullAsync(fixture.UpstreamImage(multilayer), timeout: TimeSpan.FromSeconds(60));
        Assert.True(pull.ExitCode == 0, $"{pull.StandardError}\n{p.Daemon.ReadLog()}");
        // Config and three layers went from P's store (A's content) over HTTP to Q, found through the DHT.
        Assert.Equal(4, RequestLogEntry.Parse(p.Daemon.ReadLog()).Where(e => e.Handler == "blob" && e.Source == "local" && e.Status == 200).Select(e => e.Path).Distinct().Count());
        Assert.Contains(RequestLogEntry.Parse(q.Daemon.ReadLog()), e => e.Handler == "blob" && e.Source == "peer 127.0.0.2");

        // The image wrote its identity to the data volume, the one place it may write.
        Assert.Equal(peerId, PrivateKeyFile.LoadOrCreate(dataDir).PeerId.ToString());
        string metrics = await p.ScrapeAsync();
        Assert.True(SpegelProcess.Sample(metrics, "http_request_duration_seconds_count", ("handler", "/v2/*"), ("method", "GET"), ("code", "200")) > 0, metrics);
        Assert.DoesNotContain("Read-only file system", p.Daemon.ReadLog(), StringComparison.Ordinal);
    }
}
