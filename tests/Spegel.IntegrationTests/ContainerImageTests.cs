using System.Diagnostics;
using Spegel.Libp2p.Crypto;
using Spegel.Testbed;
using Xunit.Abstractions;

namespace Spegel.IntegrationTests;

/// <summary>
/// The container image as the Dockerfile builds it (trimmed, self-contained, single file), run the way the chart runs
/// it: read-only root, writable volumes only for certs.d and the data folder, the Dockerfile's environment. There is
/// no container engine here, so <see cref="DockerfileBuild"/> follows the Dockerfile's own steps with this machine's
/// SDK; the base image's files are not part of the test. Images for other CPUs (linux/arm64, linux/arm/v7, like
/// Spegel's) are cross-published the same way and run under QEMU's user-mode emulator.
/// </summary>
[Collection(SingleNodeCollection.Name)]
public sealed class ContainerImageTests(SingleNodeFixture fixture, ContainerImages images, ITestOutputHelper output) : IClassFixture<ContainerImages>
{
    [Fact]
    public async Task TheTrimmedImageConfiguresServesAndRoutesOnAReadOnlyRoot()
    {
        var image = await images.BuildAsync(ContainerPlatform.Build);
        Assert.Equal("/app/spegel", "/" + Path.GetRelativePath(image.FinalRoot, image.Entrypoint[0]));
        long size = Directory.EnumerateFiles(image.FinalRoot, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.True(size < 48L * 1024 * 1024, $"the image's own files take {size} bytes");

        var version = await ReadOnlyRoot.RunAsync([.. image.Entrypoint, "version"], image.Environment, TimeSpan.FromSeconds(30));
        Assert.True(version.ExitCode == 0, version.StandardError);
        Assert.StartsWith("spegel version v0.", version.StandardOutput, StringComparison.Ordinal);

        // Node P runs the image on A's content, on 127.0.0.2 so a product node Q on 127.0.0.1 can share its registry port.
        string dataDir = Directory.CreateDirectory(Path.Combine(fixture.Root, "image-data")).FullName;
        // P and Q share a swarm key: admitted members are trusted for tags, so Q resolves the tag from P alone (without a
        // key a tag needs two independent peers, and P is the only one).
        string swarmKey = Path.Combine(fixture.Root, "image-swarm.key");
        await File.WriteAllTextAsync(swarmKey, Spegel.Libp2p.Pnet.SwarmKey.Generate().ToFileText());
        int registryPort = Network.FreePort();
        int routerPort = Network.FreePort();
        await using var p = await SpegelProcess.StartAsync(
            Path.Combine(fixture.Root, "spegel-image.log"),
            $"127.0.0.2:{registryPort}",
            ["--containerd-sock", fixture.NodeA.Socket, "--containerd-content-path", fixture.NodeA.ContentRoot, "--data-dir", dataDir,
             "--router-addr", $"127.0.0.2:{routerPort}", "--router-announce-loopback", "--bootstrap-kind", "static", "--log-level", "DEBUG",
             "--router-swarm-key-path", swarmKey],
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
             "--bootstrap-kind", "static", "--static-bootstrap-peers", $"/ip4/127.0.0.2/tcp/{routerPort}/p2p/{peerId}", "--log-level", "DEBUG",
             "--router-swarm-key-path", swarmKey],
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

    /// <summary>
    /// Each platform's image holds a binary for that CPU (its ELF header says so, so a wrong-architecture build cannot
    /// pass) that runs — under QEMU for the ARM ones — on a read-only root with the image's environment, prints the same
    /// version and writes the same containerd mirror configuration, byte for byte, as the image native to this machine.
    /// </summary>
    [SkippableTheory]
    [InlineData("linux/amd64")]
    [InlineData("linux/arm64")]
    [InlineData("linux/arm/v7")]
    public async Task EachPlatformsImageRunsOnItsCpuAndConfiguresLikeTheNativeOne(string platformName)
    {
        var platform = ContainerPlatform.Parse(platformName);
        var emulator = QemuUser.For(platform);
        emulator?.Require();
        var native = await images.BuildAsync(ContainerPlatform.Build);
        DockerfileBuild image;
        try
        {
            image = await images.BuildAsync(platform);
        }
        catch (InvalidOperationException e) when (ContainerImages.OnlyRuntimePacksMissing(e, platform))
        {
            var missing = e.Message.Split('\n').Where(l => l.Contains("error NU1101", StringComparison.Ordinal))
                .Select(l => l[l.IndexOf("error", StringComparison.Ordinal)..].Split(" [", 2)[0].Trim()).Distinct();
            throw new SkipException(
                $"the NuGet source serves no {ContainerImages.RuntimeIdentifier(platform)} runtime packs, so the {platform} image cannot be published here (it can where nuget.org is reachable):\n{string.Join('\n', missing)}");
        }

        output.WriteLine($"{platform}: build {images.Duration(platform).TotalSeconds:F1} s");
        string binary = image.Entrypoint[0];
        Assert.Equal("/app/spegel", "/" + Path.GetRelativePath(image.FinalRoot, binary));
        var elf = ElfHeader.Read(binary);
        Assert.True(elf.Matches(platform), $"{binary} is not a {platform} binary: {elf}");
        output.WriteLine($"{platform}: {new FileInfo(binary).Length} bytes, {elf}");

        var environment = new Dictionary<string, string>(image.Environment);
        if (emulator is not null)
        {
            foreach (var (key, value) in QemuUser.DotnetEnvironment)
            {
                environment[key] = value;
            }
        }

        IReadOnlyList<string> Command(DockerfileBuild build, QemuUser? qemu, params string[] arguments) =>
            qemu is null ? [.. build.Entrypoint, .. arguments] : qemu.Wrap([.. build.Entrypoint, .. arguments]);

        var clock = Stopwatch.StartNew();
        var version = await ReadOnlyRoot.RunAsync(Command(image, emulator, "version"), environment, TimeSpan.FromMinutes(5));
        output.WriteLine($"{platform}: version took {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(version.ExitCode == 0, version.StandardError);
        var nativeVersion = await ReadOnlyRoot.RunAsync(Command(native, null, "version"), native.Environment, TimeSpan.FromMinutes(1));
        Assert.True(nativeVersion.ExitCode == 0, nativeVersion.StandardError);
        Assert.StartsWith("spegel version v0.", nativeVersion.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(nativeVersion.StandardOutput, version.StandardOutput);

        // The example of Spegel's README: one mirror target, docker.io mirrored. Nothing is contacted; it is only written.
        string[] configuration = ["configuration", "--mirror-targets", "http://10.0.0.5:30020", "--mirrored-registries", "https://docker.io"];
        string certsD = Directory.CreateDirectory(Path.Combine(fixture.Root, $"certs.d-{platformName.Replace('/', '-')}")).FullName;
        string nativeCertsD = Directory.CreateDirectory(Path.Combine(fixture.Root, $"certs.d-native-{platformName.Replace('/', '-')}")).FullName;
        clock.Restart();
        var configure = await ReadOnlyRoot.RunAsync(
            Command(image, emulator, [.. configuration, "--containerd-registry-config-path", certsD]), environment, TimeSpan.FromMinutes(5), certsD);
        output.WriteLine($"{platform}: configuration took {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(configure.ExitCode == 0, configure.StandardError);
        var nativeConfigure = await ReadOnlyRoot.RunAsync(
            Command(native, null, [.. configuration, "--containerd-registry-config-path", nativeCertsD]), native.Environment, TimeSpan.FromMinutes(1), nativeCertsD);
        Assert.True(nativeConfigure.ExitCode == 0, nativeConfigure.StandardError);

        string hosts = File.ReadAllText(Path.Combine(nativeCertsD, "docker.io", "hosts.toml"));
        Assert.Contains("server = 'https://registry-1.docker.io'", hosts, StringComparison.Ordinal);
        Assert.Contains("[host.'http://10.0.0.5:30020']", hosts, StringComparison.Ordinal);
        Assert.Equal(
            Directory.EnumerateFiles(nativeCertsD, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(nativeCertsD, f)).Order(),
            Directory.EnumerateFiles(certsD, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(certsD, f)).Order());
        Assert.Equal(File.ReadAllBytes(Path.Combine(nativeCertsD, "docker.io", "hosts.toml")), File.ReadAllBytes(Path.Combine(certsD, "docker.io", "hosts.toml")));
    }
}
