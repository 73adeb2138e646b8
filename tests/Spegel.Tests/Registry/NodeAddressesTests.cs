using System.Net;
using Spegel.Hosting;
using Spegel.Registry;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Registry;

/// <summary>Who is "this node's containerd" (<see cref="NodeAddress.IsLocalClient"/>, <see cref="NodeAddresses"/>).</summary>
public sealed class NodeAddressesTests
{
    // Captured from a pod on a bridge network (cni0 at 10.244.1.1) and a dual-stack one (gateway fe80::1).
    private const string Ipv4Routes =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
        "eth0\t00000000\t0101F40A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
        "eth0\t0001F40A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

    private const string Ipv6Routes =
        "fd770077000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n" +
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n";

    [Fact]
    public void DefaultGatewaysAreReadFromTheKernelsRouteTables()
    {
        Assert.Equal(
            [IPAddress.Parse("10.244.1.1"), IPAddress.Parse("fe80::1")],
            NodeAddresses.DefaultGateways(Ipv4Routes, Ipv6Routes));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Iface\tDestination\tGateway\n")]
    [InlineData("Iface\tDestination\tGateway\neth0\t00000000\n")]
    [InlineData("Iface\nneth0\t00000000\t0101F40A\t0001\n")] // no gateway flag
    [InlineData("Iface\neth0\t00000000\t00000000\t0003\n")] // gateway 0.0.0.0
    [InlineData("Iface\neth0\t00000001\t0101F40A\t0003\n")] // not the default route
    [InlineData("Iface\neth0\t00000000\t0101F40\t0003\n")]
    [InlineData("Iface\neth0\t00000000\t0101F40Z\t0003\n")]
    [InlineData("Iface\neth0\t00000000\t0101F40A\t00000000003\n")]
    [InlineData("Iface\neth0\t00000000\t-101F40A\t0003\n")]
    [InlineData("\u0000\u0001\n\u0002")]
    public void MalformedIpv4RoutesGiveNoGateway(string? text) => Assert.Empty(NodeAddresses.Ipv4DefaultGateways(text));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 00000400 00000001 00000000 00000003 eth0")] // no next hop
    [InlineData("00000000000000000000000000000000 40 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0")] // a /64, not default
    [InlineData("00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe80000000000000000000000000001 00000400 00000001 00000000 00000003 eth0")]
    [InlineData("00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe80000000000000000000000000000g 00000400 00000001 00000000 00000003 eth0")]
    [InlineData("00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001")]
    [InlineData("garbage")]
    public void MalformedIpv6RoutesGiveNoGateway(string? text) => Assert.Empty(NodeAddresses.Ipv6DefaultGateways(text));

    [Fact]
    public void InAPodTheNodeIpAndTheGatewaysAreTheNodes()
    {
        var node = new NodeAddresses(
            IPAddress.Parse("192.0.2.10"), new ManualTime(), () => [IPAddress.Parse("10.244.1.7")], path => path.EndsWith("ipv6_route", StringComparison.Ordinal) ? Ipv6Routes : Ipv4Routes);
        Assert.True(node.Contains(IPAddress.Parse("192.0.2.10")));
        Assert.True(node.Contains(IPAddress.Parse("::ffff:192.0.2.10")));
        Assert.True(node.Contains(IPAddress.Parse("10.244.1.1")));
        Assert.True(node.Contains(IPAddress.Parse("10.244.1.7")));
        Assert.False(node.Contains(IPAddress.Parse("10.244.2.9"))); // a pod of another node
    }

    [Fact]
    public void OnTheHostsNetworkTheGatewayIsSomeoneElse()
    {
        // NODE_IP is one of our interfaces: the default gateway is the LAN's router, whose clients are not ours.
        var node = new NodeAddresses(IPAddress.Parse("192.0.2.10"), new ManualTime(), () => [IPAddress.Parse("192.0.2.10")], _ => Ipv4Routes);
        Assert.True(node.Contains(IPAddress.Parse("192.0.2.10")));
        Assert.False(node.Contains(IPAddress.Parse("10.244.1.1")));

        var noNodeIp = new NodeAddresses(null, new ManualTime(), () => [IPAddress.Parse("192.0.2.10")], _ => Ipv4Routes);
        Assert.False(noNodeIp.Contains(IPAddress.Parse("10.244.1.1")));
    }

    [Fact]
    public async Task AddressesAreReadAgainAfterAWhile()
    {
        var time = new ManualTime();
        IPAddress current = IPAddress.Parse("10.0.0.1");
        var node = new NodeAddresses(null, time, () => [current], _ => null);
        Assert.True(node.Contains(IPAddress.Parse("10.0.0.1")));
        current = IPAddress.Parse("10.0.0.2");
        Assert.False(node.Contains(IPAddress.Parse("10.0.0.2")));
        time.Advance(TimeSpan.FromSeconds(30));
        await Eventually.WaitAsync(() => node.Contains(IPAddress.Parse("10.0.0.2")), "the addresses read again");
        Assert.False(node.Contains(IPAddress.Parse("10.0.0.1")));
    }

    /// <summary>A re-read of the addresses that hangs holds up no request: they answer from the set they have.</summary>
    [Fact]
    public async Task ARequestNeverWaitsForTheAddressesToBeReadAgain()
    {
        var time = new ManualTime();
        using var reading = new ManualResetEventSlim(initialState: true);
        int reads = 0;
        var node = new NodeAddresses(null, time, () =>
        {
            Interlocked.Increment(ref reads);
            // A read that hangs ends empty-handed after a while: a caller that waited for it would see no address.
            return reading.Wait(TimeSpan.FromSeconds(5)) ? [IPAddress.Parse("10.0.0.1")] : [];
        }, _ => null);
        Assert.True(node.Contains(IPAddress.Parse("10.0.0.1")));

        reading.Reset();
        time.Advance(TimeSpan.FromSeconds(30));
        for (int i = 0; i < 100; i++)
        {
            Assert.True(node.Contains(IPAddress.Parse("10.0.0.1")));
        }

        await Eventually.WaitAsync(() => Volatile.Read(ref reads) == 2, "one re-read started");
        reading.Set();
        await Task.Delay(50);
        Assert.Equal(2, Volatile.Read(ref reads));
    }

    [Theory]
    [InlineData("127.0.0.1", "10.0.0.5", true)]
    [InlineData("::1", "10.0.0.5", true)]
    [InlineData("127.8.9.10", "10.0.0.5", true)]
    [InlineData("10.0.0.5", "10.0.0.5", true)] // the node talking to itself on its own address
    [InlineData("::ffff:10.0.0.5", "10.0.0.5", true)]
    [InlineData("192.0.2.10", "10.0.0.5", true)] // the node IP (containerd through the host port)
    [InlineData("10.0.0.6", "10.0.0.5", false)] // another pod or node
    [InlineData("fd77:77::9", "fd77:77::5", false)]
    public void ALocalClientIsLoopbackTheConnectionsOwnAddressOrTheNodes(string remote, string local, bool expected) =>
        Assert.Equal(expected, NodeAddress.IsLocalClient(IPAddress.Parse(remote), IPAddress.Parse(local), new FixedNodeAddresses(IPAddress.Parse("192.0.2.10"))));

    [Fact]
    public void AnUnknownClientIsNotLocal() => Assert.False(NodeAddress.IsLocalClient(null, IPAddress.Loopback, FixedNodeAddresses.None));
}
