using Spegel.MirrorConfig;
using Spegel.Oci;

namespace Spegel.Tests.Oci;

/// <summary>
/// Mirror targets with an IPv6 host. The chart renders <c>http://$(NODE_IP):port</c>, which on an IPv6 node is an
/// unbracketed address; Spegel brackets it (<c>EncapsulateIPv6Host</c>, <c>pkg/httpx/url.go</c>) before parsing.
/// </summary>
public sealed class RegistryUrlTests
{
    [Theory]
    [InlineData("http://fc00:f853:ccd:e793::2:30020", "http://[fc00:f853:ccd:e793::2]:30020")] // Spegel's url_test.go
    [InlineData("http://fd77:77::5:30020", "http://[fd77:77::5]:30020")]
    [InlineData("https://fd77:77::5:443/v2", "https://[fd77:77::5]:443/v2")]
    [InlineData("http://::1:5000", "http://[::1]:5000")]
    [InlineData("http://[fd77:77::5]:30020", "http://[fd77:77::5]:30020")]
    [InlineData("http://10.0.0.5:30020", "http://10.0.0.5:30020")]
    [InlineData("http://node-1.example:30020", "http://node-1.example:30020")]
    [InlineData("http://node-1.example", "http://node-1.example")]
    [InlineData("fd77:77::5:30020", "fd77:77::5:30020")]
    [InlineData("", "")]
    public void BracketsAnUnbracketedIPv6HostAsSpegelDoes(string text, string expected) =>
        Assert.Equal(expected, RegistryUrl.BracketIPv6Host(text));

    [Fact]
    public void AnIPv6NodeIpTargetIsWrittenBracketedByteForByteAsSpegel()
    {
        var errors = new List<string>();
        var targets = RegistryUrl.ParseList(["http://fd77:77::5:30020"], allowWildcard: false, errors, bracketIPv6Hosts: true);
        Assert.Empty(errors);
        Assert.True(RegistryUrl.TryParse("https://docker.io", false, out var docker, out _));

        // What Spegel writes for `--mirror-targets http://fd77:77::5:30020` (its template prints url.URL.String()).
        string expected = """
            server = 'https://registry-1.docker.io'

            [host.'http://[fd77:77::5]:30020']
            capabilities = ['pull', 'resolve']
            dial_timeout = '200ms'
            """;
        Assert.Equal(expected, HostsToml.Render(docker!, targets, resolveTags: true, authorization: null));
    }

    [Fact]
    public void EveryTargetIsBracketedNotOnlyTheFirst()
    {
        // Our chart renders two NODE_IP targets (hostPort and NodePort); Spegel brackets only the first and rejects the
        // second (Go 1.26's url.Parse refuses colons in an unbracketed host). Bracketing all is a superset.
        var errors = new List<string>();
        var targets = RegistryUrl.ParseList(["http://fd77:77::5:30020", "http://fd77:77::5:30021", "http://10.0.0.5:30022", "http://[fd77:77::6]:30023"], false, errors, bracketIPv6Hosts: true);
        Assert.Empty(errors);
        Assert.Equal(["http://[fd77:77::5]:30020", "http://[fd77:77::5]:30021", "http://10.0.0.5:30022", "http://[fd77:77::6]:30023"], targets.Select(t => t.ToString()));
        Assert.Equal("[fd77:77::5]:30020", targets[0].Host);
    }

    [Theory]
    [InlineData("http://[fd77::5]]:30020")]
    [InlineData("http://[::]:")]
    [InlineData("http://[10.0.0.5]:5000")]
    [InlineData("http://[fd77::5]:0")]
    [InlineData("http://[fd77::5]:+80")]
    [InlineData("http://[fd77::5]x")]
    public void OddBracketedHostsAreRejected(string text)
    {
        Assert.False(RegistryUrl.TryParse(text, allowWildcard: false, out _, out string? error));
        Assert.Contains("expected an http:// or https:// URL", error, StringComparison.Ordinal);
    }

    [Fact]
    public void WithoutBracketingAnUnbracketedIPv6HostIsStillRejected()
    {
        // --mirrored-registries are not bracketed (nor are they in Spegel).
        Assert.False(RegistryUrl.TryParse("http://fd77:77::5:30020", allowWildcard: false, out _, out string? error));
        Assert.Contains("expected an http:// or https:// URL", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://fd77::5", "write the address in brackets with a port")] // no port: Spegel would write http://[fd77:]:5
    [InlineData("http://::", "write the address in brackets with a port")]
    [InlineData("http://:::", "write the address in brackets with a port")]
    [InlineData("http://fd77::5:port", "write the address in brackets with a port")]
    [InlineData("http://fd77::5:99999", "write the address in brackets with a port")]
    [InlineData("http://zz::5:30020", "write the address in brackets with a port")]
    [InlineData("http://fd77::5:30020/v2", "the path must be empty")]
    [InlineData("http://fd77::5:30020?x=1", "the query must be empty")]
    [InlineData("http://[fd77::5:30020", "expected an http:// or https:// URL")]
    [InlineData("http://fd77::5]:30020", "write the address in brackets with a port")]
    [InlineData("ftp://fd77::5:30020", "expected an http:// or https:// URL")]
    [InlineData("http://user@fd77::5:30020", "write the address in brackets with a port")]
    public void MalformedIPv6TargetsAreRejectedQuotingTheTextAsGiven(string text, string reason)
    {
        var errors = new List<string>();
        var targets = RegistryUrl.ParseList([text], allowWildcard: false, errors, bracketIPv6Hosts: true);
        Assert.Empty(targets);
        string error = Assert.Single(errors);
        Assert.Contains($"'{text}'", error, StringComparison.Ordinal);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }
}
