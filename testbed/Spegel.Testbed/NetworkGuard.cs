namespace Spegel.Testbed;

/// <summary>
/// TESTBED.md §0, the rule that must never break: test traffic stays on this machine. Before any namespace exists,
/// the test subnet is made unreachable in the root namespace and nftables drops anything for it that would leave
/// through another interface than the test bridge. Installed once, left installed, and checked before every use.
/// </summary>
public static class NetworkGuard
{
    public const string Subnet = "10.77.0.0/24";
    public const string Bridge = "tbr0";
    private const string Table = """
        table inet testguard {
          chain output  { type filter hook output  priority 0; policy accept; ip daddr 10.77.0.0/24 oifname != "tbr0" drop; }
          chain forward { type filter hook forward priority 0; policy accept; iifname "tbr0" oifname != "tbr0" drop; ip saddr 10.77.0.0/24 oifname != "tbr0" drop; }
        }
        """;

    public static async Task EnsureAsync()
    {
        Tools.Require(Tools.Ip, Tools.Nft);
        (await ProcessRunner.RunAsync(Tools.Ip, ["route", "replace", "unreachable", Subnet], TimeSpan.FromSeconds(10)).ConfigureAwait(false)).EnsureSuccess("installing the unreachable route");
        var existing = await ProcessRunner.RunAsync(Tools.Nft, ["list", "table", "inet", "testguard"], TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        if (existing.ExitCode != 0)
        {
            string file = Path.Combine(Path.GetTempPath(), $"testguard-{Guid.NewGuid():N}.nft");
            await File.WriteAllTextAsync(file, Table).ConfigureAwait(false);
            try
            {
                (await ProcessRunner.RunAsync(Tools.Nft, ["-f", file], TimeSpan.FromSeconds(10)).ConfigureAwait(false)).EnsureSuccess("installing the nftables guard");
            }
            finally
            {
                File.Delete(file);
            }
        }

        await VerifyAsync().ConfigureAwait(false);
    }

    /// <summary>Refuses to go on unless both parts of the guard are in place.</summary>
    public static async Task VerifyAsync()
    {
        var route = await ProcessRunner.RunAsync(Tools.Ip, ["route", "show", Subnet], TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        var table = await ProcessRunner.RunAsync(Tools.Nft, ["list", "table", "inet", "testguard"], TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        if (!route.StandardOutput.Contains("unreachable", StringComparison.Ordinal)
            || !table.StandardOutput.Contains("ip daddr 10.77.0.0/24 oifname != \"tbr0\" drop", StringComparison.Ordinal)
            || !table.StandardOutput.Contains("iifname \"tbr0\" oifname != \"tbr0\" drop", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("the test network guard (TESTBED.md §0) is not installed: refusing to create test namespaces");
        }
    }
}
