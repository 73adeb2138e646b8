using Spegel.Testbed;

namespace Spegel.EndToEndTests;

/// <summary>
/// The guard of TESTBED.md §0, checked in a scratch network namespace of its own (routes and nftables are per
/// namespace), so the machine's guard is never touched: a guard installed by the IPv4-only harness is upgraded in place
/// with the IPv6 rules, and nothing short of both families passes the check.
/// </summary>
public sealed class NetworkGuardTests
{
    private const string OldTable = """
        table inet testguard {
          chain output  { type filter hook output  priority 0; policy accept; ip daddr 10.77.0.0/24 oifname != "tbr0" drop; }
          chain forward { type filter hook forward priority 0; policy accept; iifname "tbr0" oifname != "tbr0" drop; ip saddr 10.77.0.0/24 oifname != "tbr0" drop; }
        }
        """;

    [Fact]
    public async Task AnIPv4OnlyGuardIsUpgradedInPlaceAndBothFamiliesAreVerified()
    {
        // Not "sp-": TestNetwork removes leftover sp-* namespaces, and this one has no address to guard.
        string ns = $"spguard-{Environment.ProcessId}";
        string table = Path.Combine(Path.GetTempPath(), $"{ns}.nft");
        (await ProcessRunner.RunAsync(Tools.Ip, ["netns", "add", ns], TimeSpan.FromSeconds(10))).EnsureSuccess("ip netns add");
        try
        {
            (await TestNetwork.ExecAsync(ns, [Tools.Ip, "link", "set", "lo", "up"])).EnsureSuccess("lo up");
            var none = await Assert.ThrowsAsync<InvalidOperationException>(() => NetworkGuard.VerifyAsync(ns));
            Assert.Contains("refusing to create test namespaces", none.Message, StringComparison.Ordinal);

            // What the IPv4-only harness installed.
            await File.WriteAllTextAsync(table, OldTable);
            (await TestNetwork.ExecAsync(ns, [Tools.Nft, "-f", table])).EnsureSuccess("old guard");
            (await TestNetwork.ExecAsync(ns, [Tools.Ip, "route", "replace", "unreachable", NetworkGuard.Subnet])).EnsureSuccess("old route");
            var old = await Assert.ThrowsAsync<InvalidOperationException>(() => NetworkGuard.VerifyAsync(ns));
            Assert.Contains("unreachable route for fd77:77::/64", old.Message, StringComparison.Ordinal);
            Assert.Contains("'ip6 daddr fd77:77::/64 oifname != \"tbr0\" drop' in chain output", old.Message, StringComparison.Ordinal);

            await NetworkGuard.EnsureAsync(ns);
            await NetworkGuard.EnsureAsync(ns); // idempotent: nothing is added twice
            string listed = (await TestNetwork.ExecAsync(ns, [Tools.Nft, "list", "table", "inet", "testguard"])).EnsureSuccess("nft list").StandardOutput;
            string[] rules = [.. listed.Split('\n').Select(l => l.Trim()).Where(l => l.EndsWith("drop", StringComparison.Ordinal))];
            Assert.Equal(
                [
                    "ip daddr 10.77.0.0/24 oifname != \"tbr0\" drop",
                    "ip6 daddr fd77:77::/64 oifname != \"tbr0\" drop",
                    "iifname \"tbr0\" oifname != \"tbr0\" drop",
                    "ip saddr 10.77.0.0/24 oifname != \"tbr0\" drop",
                    "ip6 daddr fd77:77::/64 oifname != \"tbr0\" drop",
                    "ip6 saddr fd77:77::/64 oifname != \"tbr0\" drop",
                ],
                rules);
            string route6 = (await TestNetwork.ExecAsync(ns, [Tools.Ip, "-6", "route", "show", NetworkGuard.Prefix6])).StandardOutput;
            Assert.StartsWith("unreachable fd77:77::/64", route6, StringComparison.Ordinal);

            // A guard missing an IPv6 rule again is refused.
            (await TestNetwork.ExecAsync(ns, [Tools.Nft, "flush", "chain", "inet", "testguard", "forward"])).EnsureSuccess("flush");
            await Assert.ThrowsAsync<InvalidOperationException>(() => NetworkGuard.VerifyAsync(ns));
        }
        finally
        {
            File.Delete(table);
            await ProcessRunner.RunAsync(Tools.Ip, ["netns", "del", ns], TimeSpan.FromSeconds(10));
        }
    }
}
