using System.CommandLine;
using System.Diagnostics;
using Spegel.Cli;
using Spegel.Routing.Bootstrap;

namespace Spegel.Tests.Cli;

/// <summary>
/// Flags whose meaning follows Spegel's: the two HTTP-bootstrap generations (v0.7.x <c>--http-bootstrap-peer</c>,
/// main <c>--http-bootstrap-url</c>) and the Basic-auth secret as <c>spegel configuration</c> writes it.
/// </summary>
public sealed class SpegelCompatibleFlagsTests
{
    private static readonly string Binary = Path.Combine(AppContext.BaseDirectory, "spegel.dll");

    [Fact]
    public void TestSettingsBindFromAnExplicitEnvironmentOnly()
    {
        // The test harness binds flags from the environment it is given, never the machine's (hidden input).
        var given = Spegel.Tests.Registry.RegistryServer.Settings(
            new Dictionary<string, string> { ["MIRROR_RESOLVE_RETRIES"] = "7", ["COALESCE_PULLS"] = "false" }, "--bootstrap-kind", "static");
        Assert.Equal(7, given.MirrorResolveRetries);
        Assert.False(given.CoalescePulls);
        var none = Spegel.Tests.Registry.RegistryServer.Settings("--bootstrap-kind", "static");
        Assert.Equal(3, none.MirrorResolveRetries);
        Assert.True(none.CoalescePulls);
    }

    [Fact]
    public void HttpBootstrapPeerIsABaseUrlWithIdAppendedAndServesTheV07Object()
    {
        var (settings, errors) = Bind("--bootstrap-kind", "http", "--http-bootstrap-peer", "http://10.0.0.5:5002");
        Assert.Empty(errors);
        Assert.Equal("http://10.0.0.5:5002/id", settings!.HttpBootstrapUrl!.ToString());
        Assert.Equal(IdShape.Object, settings.HttpBootstrapIdShape);

        // Appended as text, as v0.7.4 does (peer + "/id"): a base with a path keeps it.
        (settings, errors) = Bind("--bootstrap-kind", "http", "--http-bootstrap-peer", "https://seed.example/v0.7");
        Assert.Empty(errors);
        Assert.Equal("https://seed.example/v0.7/id", settings!.HttpBootstrapUrl!.ToString());
    }

    [Fact]
    public void HttpBootstrapUrlIsFetchedAsIsAndServesMainsList()
    {
        var (settings, errors) = Bind("--bootstrap-kind", "http", "--http-bootstrap-url", "http://10.0.0.5:5002/peers?x=1");
        Assert.Empty(errors);
        Assert.Equal("http://10.0.0.5:5002/peers?x=1", settings!.HttpBootstrapUrl!.ToString());
        Assert.Equal(IdShape.List, settings.HttpBootstrapIdShape);

        (settings, errors) = Bind("--bootstrap-kind", "dns", "--dns-bootstrap-domain", "x");
        Assert.Empty(errors);
        Assert.Equal(IdShape.List, settings!.HttpBootstrapIdShape);
    }

    [Theory]
    [InlineData("10.0.0.5", "10.0.0.5")]
    [InlineData("2001:db8::5", "2001:db8::5")]
    [InlineData("[2001:db8::5]", "2001:db8::5")]
    [InlineData("", null)]
    public void NodeIpIsTheChartsNodeIpVariable(string value, string? expected)
    {
        // The chart sets NODE_IP on the registry container (Spegel's chart does too, unused by Spegel's registry).
        var settings = Spegel.Tests.Registry.RegistryServer.Settings(new Dictionary<string, string> { ["NODE_IP"] = value }, "--bootstrap-kind", "static");
        Assert.Equal(expected, settings.NodeIp?.ToString());
        Assert.Null(Spegel.Tests.Registry.RegistryServer.Settings("--bootstrap-kind", "static").NodeIp);
    }

    [Theory]
    [InlineData("node-a")]
    [InlineData("10.0.0")]
    [InlineData("10")]
    [InlineData("10.0.0.5:5000")]
    [InlineData("fe80::1%eth0")]
    public void ANodeIpThatIsNotAnAddressNamesTheFlag(string value)
    {
        var (settings, errors) = Bind("--bootstrap-kind", "static", "--node-ip", value);
        Assert.Null(settings);
        Assert.Contains(errors, e => e.StartsWith("--node-ip: got", StringComparison.Ordinal) && e.Contains(value, StringComparison.Ordinal) && e.Contains("an IP address", StringComparison.Ordinal));

        var command = new RegistryCommand(environment: new Dictionary<string, string> { ["NODE_IP"] = value });
        var root = new RootCommand();
        root.Subcommands.Add(command.Build());
        errors = [];
        Assert.Null(command.Bind(root.Parse(["registry", "--bootstrap-kind", "static"]), errors));
        Assert.Contains(errors, e => e.StartsWith("NODE_IP (environment for --node-ip): got", StringComparison.Ordinal));
    }

    [Fact]
    public void BadHttpBootstrapSettingsNameTheFlags()
    {
        var (_, errors) = Bind("--bootstrap-kind", "http");
        Assert.Contains(errors, e => e.Contains("--http-bootstrap-url (HTTP_BOOTSTRAP_URL)", StringComparison.Ordinal) && e.Contains("--http-bootstrap-peer (HTTP_BOOTSTRAP_PEER)", StringComparison.Ordinal));

        (_, errors) = Bind("--bootstrap-kind", "http", "--http-bootstrap-peer", "10.0.0.5:5002");
        Assert.Contains(errors, e => e.Contains("--http-bootstrap-peer (HTTP_BOOTSTRAP_PEER): '10.0.0.5:5002' + \"/id\" is not an absolute http:// or https:// URL", StringComparison.Ordinal));

        (_, errors) = Bind("--bootstrap-kind", "http", "--http-bootstrap-peer", "http://a:1", "--http-bootstrap-url", "http://a:1/id");
        Assert.Contains(errors, e => e.Contains("set one", StringComparison.Ordinal));
    }

    [Fact]
    public async Task HttpBootstrapPeerHasItsOwnEnvironmentVariable()
    {
        var (code, _, error) = await RunAsync(new Dictionary<string, string> { ["HTTP_BOOTSTRAP_PEER"] = "ftp://10.0.0.5", ["BOOTSTRAP_KIND"] = "http" }, "registry");
        Assert.Equal(2, code);
        Assert.Contains("--http-bootstrap-peer (HTTP_BOOTSTRAP_PEER): 'ftp://10.0.0.5'", error, StringComparison.Ordinal);

        (code, _, error) = await RunAsync(new Dictionary<string, string> { ["HTTP_BOOTSTRAP_PEER"] = "http://10.0.0.5:5002", ["HTTP_BOOTSTRAP_URL"] = "http://10.0.0.5:5002/id" }, "registry", "--bootstrap-kind", "http");
        Assert.Equal(2, code);
        Assert.Contains("set one", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("hello\n", "world\n", "Basic aGVsbG8KOndvcmxkCg==")]
    [InlineData("hello", null, "Basic aGVsbG86")]
    [InlineData(null, "world", "Basic Ondvcmxk")]
    public async Task ConfigurationWritesTheSecretsBytesIntoHostsToml(string? username, string? password, string expected)
    {
        using var temp = new TempFolder();
        Directory.CreateDirectory(temp.Combine("secret"));
        if (username is not null)
        {
            temp.Write("secret/username", username);
        }

        if (password is not null)
        {
            temp.Write("secret/password", password);
        }

        int code = await SpegelCli.RunAsync(["configuration", "--containerd-registry-config-path", temp.Combine("certs.d"), "--mirror-targets", "http://10.0.0.5:30020", "--basic-auth-dir", temp.Combine("secret"), "--log-level", "ERROR"]);
        Assert.Equal(0, code);
        Assert.Equal(
            $"[host.'http://10.0.0.5:30020']\ncapabilities = ['pull', 'resolve']\ndial_timeout = '200ms'\n[host.'http://10.0.0.5:30020'.header]\nAuthorization = '{expected}'",
            await File.ReadAllTextAsync(temp.Combine("certs.d", "_default", "hosts.toml")));
    }

    /// <summary>Binds from the arguments alone: no environment variable of the machine running the tests.</summary>
    private static (Spegel.Hosting.RegistrySettings? Settings, List<string> Errors) Bind(params string[] args)
    {
        var command = new RegistryCommand(environment: new Dictionary<string, string>());
        var root = new RootCommand();
        root.Subcommands.Add(command.Build());
        var errors = new List<string>();
        var settings = command.Bind(root.Parse(["registry", .. args]), errors);
        return (settings, errors);
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(IDictionary<string, string> environment, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        info.ArgumentList.Add(Binary);
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }
}
