using System.CommandLine;
using System.Diagnostics;
using Spegel.Cli;
using Spegel.Hosting;

namespace Spegel.Tests.Cli;

/// <summary>
/// <c>--router-swarm-key-path</c> / <c>ROUTER_SWARM_KEY_PATH</c> (ours; Spegel has no private network): the key file
/// is read when the flags are bound, its 32 bytes are <see cref="RegistrySettings.SwarmKey"/> and the router's
/// private network; a file that is not a key stops the start with a message naming the flag, the file and the fault.
/// </summary>
public sealed class SwarmKeyFlagTests : IDisposable
{
    private const string Hex = "dffb7e3135399a8b1612b2aaca1c36a3a8ac2cd0cca51ceeb2ced87d308cac6d";
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void WithoutTheFlagThereIsNoKey()
    {
        var (settings, errors) = Bind([]);
        Assert.Empty(errors);
        Assert.Null(settings!.SwarmKey);

        // Empty, as the chart would pass it when no Secret is set: the open network too.
        (settings, errors) = Bind([], "--router-swarm-key-path", string.Empty);
        Assert.Empty(errors);
        Assert.Null(settings!.SwarmKey);
    }

    [Fact]
    public void TheFlagAndTheVariableLoadTheKeysBytes()
    {
        _temp.Write("swarm.key", $"/key/swarm/psk/1.0.0/\n/base16/\n{Hex}\n");
        var (settings, errors) = Bind([], "--router-swarm-key-path", _temp.Combine("swarm.key"));
        Assert.Empty(errors);
        Assert.Equal(Convert.FromHexString(Hex), settings!.SwarmKey);

        (settings, errors) = Bind(new() { ["ROUTER_SWARM_KEY_PATH"] = _temp.Combine("swarm.key") });
        Assert.Empty(errors);
        Assert.Equal(Convert.FromHexString(Hex), settings!.SwarmKey);
    }

    [Fact]
    public async Task TheRouterIsInThePrivateNetworkOfTheKey()
    {
        _temp.Write("swarm.key", $"/key/swarm/psk/1.0.0/\n/base16/\n{Hex}\n");
        var (settings, _) = Bind([], "--router-swarm-key-path", _temp.Combine("swarm.key"), "--router-addr", "127.0.0.1:0");
        await using var router = RoutingSetup.Create(settings!, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        Assert.Equal(Convert.FromHexString(Hex), router.Host.Options.PrivateNetwork!.Bytes.ToArray());

        var (open, _) = Bind([], "--router-addr", "127.0.0.1:0");
        await using var openRouter = RoutingSetup.Create(open!, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        Assert.Null(openRouter.Host.Options.PrivateNetwork);
    }

    [Theory]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\ndffb7e31\n", "the key has 8 hex characters, expected 64 (32 bytes)")]
    [InlineData("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n", "the first line is '-----BEGIN PRIVATE KEY-----', expected /key/swarm/psk/1.0.0/")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base58/\n" + Hex + "\n", "the second line is '/base58/', expected the key's encoding: /base16/")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\ng" + Hex + "\n", "the key is not hex: 'g' at character 1")]
    public void AFileThatIsNotAKeyNamesTheFlagTheFileAndTheFault(string content, string fault)
    {
        _temp.Write("bad.key", content);
        string path = _temp.Combine("bad.key");
        var (settings, errors) = Bind([], "--router-swarm-key-path", path);
        Assert.Null(settings);
        Assert.StartsWith($"--router-swarm-key-path (ROUTER_SWARM_KEY_PATH): {path} is not a libp2p swarm key file: {fault}", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void AFileThatCannotBeReadNamesTheFlagAndTheFile()
    {
        string missing = _temp.Combine("absent.key");
        var (_, errors) = Bind(new() { ["ROUTER_SWARM_KEY_PATH"] = missing });
        string error = Assert.Single(errors);
        Assert.StartsWith($"--router-swarm-key-path (ROUTER_SWARM_KEY_PATH): cannot read {missing}: ", error, StringComparison.Ordinal);

        // A folder (a Secret mounted without its key's file name) is not a key file either.
        (_, errors) = Bind([], "--router-swarm-key-path", _temp.Path);
        Assert.StartsWith($"--router-swarm-key-path (ROUTER_SWARM_KEY_PATH): cannot read {_temp.Path}: ", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheBinaryExitsWith2AndSaysWhy()
    {
        _temp.Write("bad.key", $"/key/swarm/psk/1.0.0/\n/base16/\n{Hex[..62]}\n");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string arg in new[] { Path.Combine(AppContext.BaseDirectory, "spegel.dll"), "registry", "--bootstrap-kind", "static", "--router-swarm-key-path", _temp.Combine("bad.key") })
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        string error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        await output;
        Assert.Equal(2, process.ExitCode);
        Assert.Contains($"spegel registry: --router-swarm-key-path (ROUTER_SWARM_KEY_PATH): {_temp.Combine("bad.key")} is not a libp2p swarm key file: the key has 62 hex characters, expected 64 (32 bytes)", error, StringComparison.Ordinal);
    }

    /// <summary>Binds from the arguments and exactly <paramref name="environment"/>.</summary>
    private static (RegistrySettings? Settings, List<string> Errors) Bind(Dictionary<string, string> environment, params string[] args)
    {
        var command = new RegistryCommand(environment: environment);
        var root = new RootCommand();
        root.Subcommands.Add(command.Build());
        var errors = new List<string>();
        var settings = command.Bind(root.Parse(["registry", "--bootstrap-kind", "static", .. args]), errors);
        return (settings, errors);
    }
}
