using System.Diagnostics;

namespace Spegel.Tests.Cli;

/// <summary>The real binary: exit codes and messages a user sees.</summary>
public sealed class CommandLineTests
{
    private static readonly string Binary = Path.Combine(AppContext.BaseDirectory, "spegel.dll");

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

        // cleanup restores, then serves /healthz until stopped: stop it once it is up.
        int port = FreePort();
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string arg in new[] { Binary, "cleanup", "--addr", $"127.0.0.1:{port}", "--containerd-registry-config-path", temp.Combine("certs.d") })
        {
            info.ArgumentList.Add(arg);
        }

        using var cleanup = Process.Start(info)!;
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (true)
            {
                try
                {
                    if ((await http.GetAsync($"http://127.0.0.1:{port}/healthz")).IsSuccessStatusCode)
                    {
                        break;
                    }
                }
                catch (HttpRequestException) when (DateTime.UtcNow < deadline)
                {
                    await Task.Delay(50);
                }
            }

            Assert.Equal(before, TempFolder.Snapshot(temp.Combine("certs.d")));

            // cleanup-wait sees the healthy endpoint for three rounds and exits 0.
            var wait = await RunAsync(null, "cleanup-wait", "--probe-endpoint", $"127.0.0.1:{port}", "--period", "10ms");
            Assert.Equal(0, wait.ExitCode);
        }
        finally
        {
            cleanup.Kill();
            await cleanup.WaitForExitAsync();
        }
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
        int port = FreePort();
        var (code, _, _) = await RunAsync(TimeSpan.FromSeconds(3), null, "cleanup-wait", "--probe-endpoint", $"127.0.0.1:{port}", "--period", "10ms");
        Assert.Equal(-1, code);
    }

    [Fact]
    public async Task VersionPrintsTextAndJson()
    {
        var text = await RunAsync(null, "version");
        Assert.Equal(0, text.ExitCode);
        Assert.Matches(@"^\d+\.\d+\.\d+", text.Output.Trim());
        var json = await RunAsync(null, "version", "--format", "json");
        Assert.Contains("\"version\":", json.Output, StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
