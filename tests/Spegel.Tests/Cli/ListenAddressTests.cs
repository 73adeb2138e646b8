using System.Net;
using Spegel.Hosting;

namespace Spegel.Tests.Cli;

/// <summary>
/// <c>--registry-addr</c>, <c>--router-addr</c>, <c>--metrics-addr</c> in Go's <c>host:port</c> form, IPv6 in brackets.
/// An empty or wildcard host listens on both families (Go's net.Listen does too).
/// </summary>
public sealed class ListenAddressTests
{
    [Theory]
    [InlineData(":5000", "[::]:5000")]
    [InlineData("[::]:5000", "[::]:5000")]
    [InlineData("0.0.0.0:5000", "[::]:5000")]
    [InlineData("[fd77:77::5]:5001", "[fd77:77::5]:5001")]
    [InlineData("10.77.0.5:9090", "10.77.0.5:9090")]
    public void ParsesIPv4AndIPv6(string text, string endPoint)
    {
        Assert.True(ListenAddress.TryParse(text, out var address));
        var bound = address!.TryGetEndPoint();
        Assert.NotNull(bound);
        Assert.Equal(endPoint, bound.ToString());
        Assert.Equal(text is ":5000" or "[::]:5000" or "0.0.0.0:5000", address.IsAnyHost);
        Assert.Equal(text, address.ToString());
    }

    [Theory]
    [InlineData("fd77:77::5:5001")] // Go's SplitHostPort: too many colons
    [InlineData("[fd77:77::5]")]
    [InlineData("[fd77:77::5]:")]
    [InlineData("[zz::5]:5001")]
    [InlineData("[::1]:65536")]
    [InlineData("[::1:5000")]
    [InlineData("5000")]
    public void RejectsMalformedAddresses(string text) => Assert.False(ListenAddress.TryParse(text, out _));

    [Fact]
    public void LocalhostIsLoopbackAndOtherHostNamesAreRefused()
    {
        Assert.True(ListenAddress.TryParse("localhost:5000", out var address));
        Assert.True(address!.IsLocalhost);
        Assert.Null(address.TryGetEndPoint()); // Kestrel's ListenLocalhost: both loopbacks
        Assert.Equal(IPAddress.IPv6Any, new ListenAddress(string.Empty, 1).TryGetEndPoint()!.Address);

        // A name we would have to resolve, and then pick one address of: refused when the flag is read, where it
        // used to bind localhost silently (registry, metrics) or fail at start with a stack trace (router).
        Assert.False(ListenAddress.TryParse("node-1.example.com:5000", out _));
        Assert.False(ListenAddress.TryParse("myhost:5001", out _));
    }
}
