namespace Spegel.Testbed;

/// <summary>
/// TESTBED.md §0, the rule that must never break: test traffic stays on this machine. Before any namespace exists,
/// the test subnet (10.77.0.0/24) and the test IPv6 prefix (fd77:77::/64) are made unreachable in the root namespace
/// and nftables drops anything for them that would leave through another interface than the test bridge. Installed
/// once, left installed, and checked (both families) before every use. A table installed by an older harness, without
/// the IPv6 rules, is upgraded in place: rules are only ever added, so the IPv4 guard never has a gap.
/// </summary>
public static class NetworkGuard
{
    public const string Subnet = "10.77.0.0/24";

    /// <summary>Our own ULA prefix for dual-stack tests; never <c>fd00::/64</c>, the machine's real network.</summary>
    public const string Prefix6 = "fd77:77::/64";
    public const string Bridge = "tbr0";
    private const string TableName = "testguard";

    /// <summary>The rules of each chain, as <c>nft list</c> prints them (that is how they are checked).</summary>
    private static readonly (string Chain, string Hook, string[] Rules)[] Chains =
    [
        ("output", "output", [
            $"ip daddr {Subnet} oifname != \"{Bridge}\" drop",
            $"ip6 daddr {Prefix6} oifname != \"{Bridge}\" drop",
        ]),
        ("forward", "forward", [
            $"iifname \"{Bridge}\" oifname != \"{Bridge}\" drop",
            $"ip saddr {Subnet} oifname != \"{Bridge}\" drop",
            $"ip6 daddr {Prefix6} oifname != \"{Bridge}\" drop",
            $"ip6 saddr {Prefix6} oifname != \"{Bridge}\" drop",
        ]),
    ];

    /// <summary>
    /// Installs or upgrades the guard in the root namespace (<paramref name="netns"/>: in that namespace instead, which
    /// is how the guard's own test checks an upgrade without touching the machine's guard).
    /// </summary>
    public static async Task EnsureAsync(string? netns = null)
    {
        Tools.Require(Tools.Ip, Tools.Nft);
        (await RunAsync(netns, Tools.Ip, ["route", "replace", "unreachable", Subnet]).ConfigureAwait(false)).EnsureSuccess("installing the unreachable route");
        (await RunAsync(netns, Tools.Ip, ["-6", "route", "replace", "unreachable", Prefix6]).ConfigureAwait(false)).EnsureSuccess("installing the IPv6 unreachable route");

        // One nft transaction: the table and chains are created when missing (add is a no-op for what exists), and
        // every rule not there yet is appended.
        var script = new List<string> { $"add table inet {TableName}" };
        foreach (var (chain, hook, rules) in Chains)
        {
            script.Add($"add chain inet {TableName} {chain} {{ type filter hook {hook} priority 0; policy accept; }}");
            string listed = await ListChainAsync(netns, chain).ConfigureAwait(false);
            script.AddRange(rules.Where(r => !listed.Contains(r, StringComparison.Ordinal)).Select(r => $"add rule inet {TableName} {chain} {r}"));
        }

        if (script.Any(line => line.StartsWith("add rule", StringComparison.Ordinal)))
        {
            string file = Path.Combine(Path.GetTempPath(), $"testguard-{Guid.NewGuid():N}.nft");
            await File.WriteAllLinesAsync(file, script).ConfigureAwait(false);
            try
            {
                (await RunAsync(netns, Tools.Nft, ["-f", file]).ConfigureAwait(false)).EnsureSuccess("installing the nftables guard");
            }
            finally
            {
                File.Delete(file);
            }
        }

        await VerifyAsync(netns).ConfigureAwait(false);
    }

    /// <summary>Refuses to go on unless every part of the guard is in place, for IPv4 and IPv6.</summary>
    public static async Task VerifyAsync(string? netns = null)
    {
        var route = await RunAsync(netns, Tools.Ip, ["route", "show", Subnet]).ConfigureAwait(false);
        var route6 = await RunAsync(netns, Tools.Ip, ["-6", "route", "show", Prefix6]).ConfigureAwait(false);
        var missing = new List<string>();
        if (!route.StandardOutput.Contains("unreachable", StringComparison.Ordinal))
        {
            missing.Add($"unreachable route for {Subnet}");
        }

        if (!route6.StandardOutput.Contains("unreachable", StringComparison.Ordinal))
        {
            missing.Add($"unreachable route for {Prefix6}");
        }

        foreach (var (chain, _, rules) in Chains)
        {
            string listed = await ListChainAsync(netns, chain).ConfigureAwait(false);
            missing.AddRange(rules.Where(r => !listed.Contains(r, StringComparison.Ordinal)).Select(r => $"'{r}' in chain {chain}"));
        }

        if (missing.Count > 0)
        {
            throw new InvalidOperationException($"the test network guard (TESTBED.md §0) is not installed ({string.Join(", ", missing)}): refusing to create test namespaces");
        }
    }

    /// <summary>The chain as nft prints it, or empty when it (or the table) does not exist.</summary>
    private static async Task<string> ListChainAsync(string? netns, string chain)
    {
        var result = await RunAsync(netns, Tools.Nft, ["list", "chain", "inet", TableName, chain]).ConfigureAwait(false);
        return result.ExitCode == 0 ? result.StandardOutput : string.Empty;
    }

    private static Task<CommandResult> RunAsync(string? netns, string tool, IEnumerable<string> args) => netns is null
        ? ProcessRunner.RunAsync(tool, args, TimeSpan.FromSeconds(10))
        : ProcessRunner.RunAsync(Tools.Ip, ["netns", "exec", netns, tool, .. args], TimeSpan.FromSeconds(10));
}
