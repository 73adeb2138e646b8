using System.Diagnostics;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Cli;

/// <summary>The real binary: exit codes and messages a user sees.</summary>
[Collection(TimingCollection.Name)]
public sealed class CommandLineTests
{
    private static readonly string Binary = Path.Combine(AppContext.BaseDirectory, "spegel.dll");

    /// <summary>The signal GNU timeout's timer raises; timeout then sends the command SIGTERM and exits 124.</summary>
    private const int SigAlrm = 14;

    private static Task<(int ExitCode, string Output, string Error)> RunAsync(IDictionary<string, string>? environment, params string[] args) =>
        RunAsync(TimeSpan.FromSeconds(60), environment, args);

    /// <summary>Runs the binary; a run that outlives <paramref name="limit"/> is killed and reports exit code -1.</summary>
    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(TimeSpan limit, IDictionary<string, string>? environment, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        info.ArgumentList.Add(Binary);
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            return (-1, await output, await error);
        }

        return (process.ExitCode, await output, await error);
    }

    [Fact]
    public async Task BadFlagValuesNameTheFlagAndExitWith2()
    {
        var (code, _, error) = await RunAsync(null, "registry", "--bootstrap-kind", "carrier-pigeon", "--mirror-resolve-timeout", "soon", "--registry-addr", "5000", "--mirror-resolve-retries", "0");
        Assert.Equal(2, code);
        Assert.Contains("--bootstrap-kind: got 'carrier-pigeon', expected one of dns, http, static", error, StringComparison.Ordinal);
        Assert.Contains("--mirror-resolve-timeout: got 'soon', expected a positive duration", error, StringComparison.Ordinal);
        Assert.Contains("--registry-addr: got '5000', expected an address host:port", error, StringComparison.Ordinal);
        var named = await RunAsync(null, "registry", "--bootstrap-kind", "static", "--router-addr", "myhost:5001");
        Assert.Equal(2, named.ExitCode);
        Assert.Contains("--router-addr: got 'myhost:5001', expected an address host:port", named.Error, StringComparison.Ordinal);
        Assert.Contains("--mirror-resolve-retries: got '0', expected a whole number from 1 to 100", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnvironmentVariablesAreParsedTheSameWayAndNamed()
    {
        var (code, _, error) = await RunAsync(new Dictionary<string, string> { ["MIRROR_RESOLVE_TIMEOUT"] = "fast", ["BOOTSTRAP_KIND"] = "dns" }, "registry");
        Assert.Equal(2, code);
        Assert.Contains("MIRROR_RESOLVE_TIMEOUT (environment for --mirror-resolve-timeout): got 'fast'", error, StringComparison.Ordinal);
        Assert.Contains("--bootstrap-kind=dns needs --dns-bootstrap-domain", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BootstrapKindIsRequired()
    {
        var (code, _, error) = await RunAsync(null, "registry");
        Assert.Equal(2, code);
        Assert.Contains("--bootstrap-kind (BOOTSTRAP_KIND) is required", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownFlagsAndMissingCommandsExitWith2()
    {
        Assert.Equal(2, (await RunAsync(null, "registry", "--no-such-flag")).ExitCode);
        Assert.Equal(2, (await RunAsync(null)).ExitCode);
        Assert.Equal(2, (await RunAsync(null, "frobnicate")).ExitCode);
    }

    [Fact]
    public async Task ConfigurationNeedsValidTargets()
    {
        var (code, _, error) = await RunAsync(null, "configuration", "--mirrored-registries", "docker.io", "https://ghcr.io/path", "--containerd-registry-config-path", "/nonexistent/x");
        Assert.Equal(2, code);
        Assert.Contains("--mirrored-registries (MIRRORED_REGISTRIES): 'docker.io': expected an http:// or https:// URL", error, StringComparison.Ordinal);
        Assert.Contains("'https://ghcr.io/path': the path must be empty", error, StringComparison.Ordinal);
        Assert.Contains("--mirror-targets (MIRROR_TARGETS) is required", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigurationWritesAndCleanupRestores()
    {
        using var temp = new TempFolder();
        temp.Write("certs.d/docker.io/hosts.toml", "server = \"https://registry-1.docker.io\"\n");
        var before = TempFolder.Snapshot(temp.Combine("certs.d"));
        var (code, _, error) = await RunAsync(
            new Dictionary<string, string> { ["MIRROR_TARGETS"] = "http://10.0.0.5:30020,http://10.0.0.5:30021" },
            "configuration", "--containerd-registry-config-path", temp.Combine("certs.d"), "--mirrored-registries", "https://docker.io", "--basic-auth-dir", temp.Combine("none"));
        Assert.True(code == 0, error);
        Assert.Equal(
            "server = 'https://registry-1.docker.io'\n\n[host.'http://10.0.0.5:30020']\ncapabilities = ['pull', 'resolve']\ndial_timeout = '200ms'\n\n[host.'http://10.0.0.5:30021']\ncapabilities = ['pull', 'resolve']\ndial_timeout = '200ms'",
            await File.ReadAllTextAsync(temp.Combine("certs.d", "docker.io", "hosts.toml")));

        // cleanup restores, then answers probes until stopped; cleanup-wait sees it healthy for three rounds and exits 0.
        await using var cleanup = await CleanupProcess.StartAsync(Binary, temp.Combine("certs.d"));
        Assert.Equal(before, TempFolder.Snapshot(temp.Combine("certs.d")));
        var wait = await RunAsync(null, "cleanup-wait", "--probe-endpoint", cleanup.Endpoint, "--period", "10ms");
        Assert.Equal(0, wait.ExitCode);
        Assert.Equal(0, await cleanup.StopAsync(CleanupProcess.SigTerm));
    }

    [Fact]
    public async Task ConfigurationAcceptsTheChartsUnbracketedIPv6NodeIp()
    {
        // The chart's init container on an IPv6 node: --mirror-targets http://$(NODE_IP):30020 http://$(NODE_IP):30021.
        using var temp = new TempFolder();
        var (code, _, error) = await RunAsync(
            null,
            "configuration", "--containerd-registry-config-path", temp.Combine("certs.d"), "--mirrored-registries", "https://docker.io",
            "--mirror-targets", "http://fd77:77::5:30020", "http://fd77:77::5:30021", "--basic-auth-dir", temp.Combine("none"));
        Assert.True(code == 0, error);
        Assert.Equal(
            "server = 'https://registry-1.docker.io'\n\n[host.'http://[fd77:77::5]:30020']\ncapabilities = ['pull', 'resolve']\ndial_timeout = '200ms'\n\n[host.'http://[fd77:77::5]:30021']\ncapabilities = ['pull', 'resolve']\ndial_timeout = '200ms'",
            await File.ReadAllTextAsync(temp.Combine("certs.d", "docker.io", "hosts.toml")));

        var bad = await RunAsync(null, "configuration", "--containerd-registry-config-path", temp.Combine("certs.d"), "--mirror-targets", "http://fd77:77::5");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--mirror-targets (MIRROR_TARGETS): 'http://fd77:77::5': read as an IPv6 address and port", bad.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CleanupWaitKeepsWaitingWhileAPodIsDown()
    {
        // The pod's port refuses connections (bound, not listening). cleanup-wait must probe, find it down and keep
        // going: it needs three healthy rounds in a row. Judged by its own log lines, not by how long it ran.
        using var down = LoopbackPorts.Refusing(out int port);
        using var process = StartCleanupWait(port);
        try
        {
            var lines = new LineCollector(process);
            var rounds = await lines.WaitForCountAsync(l => l.Contains("Cleanup probe round", StringComparison.Ordinal), 5, TimeSpan.FromSeconds(60));
            Assert.All(rounds, l => Assert.Contains("all healthy false, 0 of 3 consecutive", l, StringComparison.OrdinalIgnoreCase));
            Assert.False(process.HasExited);
            Assert.Equal(0, CleanupProcess.Kill(process.Id, CleanupProcess.SigTerm));
            Assert.True(await CleanupProcess.WaitForExitAsync(process, CleanupProcess.StopLimit), "cleanup-wait outlived SIGTERM");
            Assert.Equal(1, process.ExitCode);
        }
        finally
        {
            KillIfRunning(process);
        }
    }

    [Fact]
    public async Task VersionPrintsWhatSpegelPrints()
    {
        var text = await RunAsync(null, "version");
        Assert.Equal(0, text.ExitCode);
        Assert.Matches(@"^spegel version v\d+\.\d+\.\d+ [0-9a-f]*\n$", text.Output);

        var json = await RunAsync(null, "version", "--format", "json");
        Assert.Equal(0, json.ExitCode);
        Assert.EndsWith("}", json.Output, StringComparison.Ordinal); // no newline, as Spegel's fmt.Print
        using var document = System.Text.Json.JsonDocument.Parse(json.Output);
        var build = document.RootElement.GetProperty("build");
        var runtime = document.RootElement.GetProperty("runtime");
        Assert.StartsWith("v", build.GetProperty("version").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("dotnet", build.GetProperty("goVersion").GetString(), StringComparison.Ordinal);
        Assert.NotNull(build.GetProperty("commit").GetString());
        Assert.Equal("linux", runtime.GetProperty("os").GetString());
        Assert.Equal("amd64", runtime.GetProperty("arch").GetString());
        Assert.False(string.IsNullOrEmpty(runtime.GetProperty("distro").GetString()));
        Assert.Equal(["build", "runtime"], document.RootElement.EnumerateObject().Select(p => p.Name));

        // Spegel's --format has no environment variable: a stray FORMAT changes nothing.
        Assert.Equal(text.Output, (await RunAsync(new Dictionary<string, string> { ["FORMAT"] = "json" }, "version")).Output);
    }

    [Fact]
    public async Task LogLevelIsGlobalBeforeOrAfterTheSubcommand()
    {
        Assert.Equal(0, (await RunAsync(null, "--log-level", "DEBUG", "version")).ExitCode);
        Assert.Equal(0, (await RunAsync(null, "version", "--log-level", "WARN")).ExitCode);
        var bad = await RunAsync(null, "--log-level", "LOUD", "version");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--log-level: got 'LOUD', expected one of DEBUG, INFO, WARN, ERROR", bad.Error, StringComparison.Ordinal);

        // The level given before the subcommand applies: ERROR hides configuration's INFO lines, DEBUG shows them.
        using var temp = new TempFolder();
        string[] configuration = ["configuration", "--containerd-registry-config-path", temp.Combine("certs.d"), "--mirror-targets", "http://10.0.0.5:30020", "--basic-auth-dir", temp.Combine("none")];
        var quiet = await RunAsync(null, ["--log-level", "ERROR", .. configuration]);
        Assert.Equal(0, quiet.ExitCode);
        Assert.Equal(string.Empty, quiet.Error);
        var chatty = await RunAsync(null, ["--log-level", "DEBUG", .. configuration]);
        Assert.Equal(0, chatty.ExitCode);
        Assert.Contains("\"level\":\"INFO\"", chatty.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(CleanupProcess.SigTerm)]
    [InlineData(CleanupProcess.SigInt)]
    public async Task CleanupAnswersProbesAsSpegelAndStopsOnASignal(int signal)
    {
        using var temp = new TempFolder();
        await using var cleanup = await CleanupProcess.StartAsync(Binary, temp.Combine("certs.d"));
        using var http = new HttpClient { Timeout = Eventually.HangGuard };
        async Task<int> Status(HttpMethod method, string path) => (int)(await http.SendAsync(new HttpRequestMessage(method, $"http://{cleanup.Endpoint}{path}"))).StatusCode;
        Assert.Equal(200, await Status(HttpMethod.Get, "/readyz"));
        Assert.Equal(200, await Status(HttpMethod.Get, "/healthz"));
        Assert.Equal(200, await Status(HttpMethod.Get, "/anything"));
        Assert.Equal(200, await Status(HttpMethod.Post, "/readyz"));
        Assert.Equal(404, await Status(HttpMethod.Post, "/anything"));

        Assert.Equal(0, await cleanup.StopAsync(signal));
        Assert.Contains("\"msg\":\"Stopped\"", cleanup.Error, StringComparison.Ordinal);
    }

    /// <summary>
    /// What a user types: <c>timeout 5 spegel cleanup …</c> must come back (it never did: SIGTERM was ignored). The
    /// expiry is triggered by hand once spegel is up: timeout's own clock (SIGALRM) could fire while a loaded machine
    /// is still starting dotnet, before spegel handles signals at all.
    /// </summary>
    [Fact]
    public async Task TimeoutEndsCleanup()
    {
        using var temp = new TempFolder();
        var info = new ProcessStartInfo("timeout") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string arg in new[] { "3600", "dotnet", Binary, "cleanup", "--addr", "127.0.0.1:0", "--containerd-registry-config-path", temp.Combine("certs.d") })
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        try
        {
            var lines = new LineCollector(process);
            await lines.WaitForAsync(l => l.Contains("answering probes on http://", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
            Assert.Equal(0, CleanupProcess.Kill(process.Id, SigAlrm)); // timeout's timer went off
            Assert.True(await CleanupProcess.WaitForExitAsync(process, TimeSpan.FromSeconds(60)), "timeout … spegel cleanup did not return: spegel ignored SIGTERM");
            Assert.Equal(124, process.ExitCode); // timeout's code for "I had to send the signal"; spegel then stopped
            await lines.DrainedAsync();
            Assert.Contains("\"msg\":\"Stopped\"", lines.Text, StringComparison.Ordinal);
        }
        finally
        {
            KillIfRunning(process);
        }
    }

    [Fact]
    public async Task CleanupWaitStopsOnSigtermWithoutClaimingSuccess()
    {
        using var down = LoopbackPorts.Refusing(out int port);
        using var process = StartCleanupWait(port);
        try
        {
            var lines = new LineCollector(process);
            await lines.WaitForAsync(l => l.Contains("Cleanup probe round", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
            Assert.Equal(0, CleanupProcess.Kill(process.Id, CleanupProcess.SigTerm));
            Assert.True(await CleanupProcess.WaitForExitAsync(process, CleanupProcess.StopLimit), "cleanup-wait outlived SIGTERM");
            Assert.Equal(1, process.ExitCode);
            await lines.WaitForAsync(l => l.Contains("Stopped by a signal", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        }
        finally
        {
            KillIfRunning(process);
        }
    }

    private static void KillIfRunning(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }
    }

    /// <summary><c>spegel cleanup-wait</c> probing 127.0.0.1:<paramref name="port"/> every 10 ms.</summary>
    private static Process StartCleanupWait(int port)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string arg in new[] { Binary, "cleanup-wait", "--probe-endpoint", $"127.0.0.1:{port}", "--period", "10ms" })
        {
            info.ArgumentList.Add(arg);
        }

        return Process.Start(info)!;
    }
}
