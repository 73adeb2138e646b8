using Spegel.MirrorConfig;
using Spegel.Oci;

namespace Spegel.Tests.MirrorConfig;

/// <summary>Golden tests: every hosts.toml sample of SPEC.md §5.1, byte for byte.</summary>
public sealed class HostsTomlTests
{
    private static RegistryUrl Url(string text)
    {
        Assert.True(RegistryUrl.TryParse(text, allowWildcard: true, out var url, out string? error), error);
        return url!;
    }

    [Fact]
    public void SpecSampleDockerHubWithTwoTargets()
    {
        string expected = """
            server = 'https://registry-1.docker.io'

            [host.'http://10.0.0.5:30020']
            capabilities = ['pull', 'resolve']
            dial_timeout = '200ms'

            [host.'http://10.0.0.5:30021']
            capabilities = ['pull', 'resolve']
            dial_timeout = '200ms'
            """;
        string actual = HostsToml.Render(Url("https://docker.io"), [Url("http://10.0.0.5:30020"), Url("http://10.0.0.5:30021")], resolveTags: true, authorization: null);
        Assert.Equal(expected, actual);
        Assert.False(actual.EndsWith('\n'));
    }

    [Fact]
    public void WithoutResolveTagsOnlyPull()
    {
        string expected = """
            server = 'http://foo.bar:5000'

            [host.'http://127.0.0.1:5000']
            capabilities = ['pull']
            dial_timeout = '200ms'
            """;
        Assert.Equal(expected, HostsToml.Render(Url("http://foo.bar:5000"), [Url("http://127.0.0.1:5000")], resolveTags: false, authorization: null));
    }

    [Fact]
    public void DefaultHasNoServerLine()
    {
        string expected = """
            [host.'http://127.0.0.1:5000']
            capabilities = ['pull', 'resolve']
            dial_timeout = '200ms'
            """;
        Assert.Equal(expected, HostsToml.Render(RegistryUrl.Wildcard, [Url("http://127.0.0.1:5000")], resolveTags: true, authorization: null));
        Assert.Equal("_default", HostsToml.FolderName(RegistryUrl.Wildcard));
        Assert.Equal(expected, HostsToml.Render(Url("_default"), [Url("http://127.0.0.1:5000")], true, null));
        Assert.Equal(expected, HostsToml.Render(Url("*"), [Url("http://127.0.0.1:5000")], true, null));
    }

    [Fact]
    public void SpecSampleBasicAuthHeader()
    {
        string expected = """
            server = 'https://ghcr.io'

            [host.'http://127.0.0.1:5000']
            capabilities = ['pull', 'resolve']
            dial_timeout = '200ms'
            [host.'http://127.0.0.1:5000'.header]
            Authorization = 'Basic aGVsbG86d29ybGQ='
            """;
        using var secret = new TempFolder();
        secret.Write("username", "hello");
        secret.Write("password", "world");
        string authorization = Spegel.Registry.BasicAuth.Load(secret.Path).HeaderValue!;
        Assert.Equal("Basic aGVsbG86d29ybGQ=", authorization);
        Assert.Equal(expected, HostsToml.Render(Url("https://ghcr.io"), [Url("http://127.0.0.1:5000")], true, authorization));
    }

    [Fact]
    public void ThreeTargetsInOrder()
    {
        string expected = """
            server = 'http://foo.bar:5000'

            [host.'http://127.0.0.1:5000']
            capabilities = ['pull', 'resolve']
            dial_timeout = '200ms'

            [host.'http://127.0.0.2:5000']
            capabilities = ['pull', 'resolve']
            dial_timeout = '200ms'

            [host.'http://127.0.0.1:5001']
            capabilities = ['pull', 'resolve']
            dial_timeout = '200ms'
            """;
        Assert.Equal(expected, HostsToml.Render(Url("http://foo.bar:5000"), [Url("http://127.0.0.1:5000"), Url("http://127.0.0.2:5000"), Url("http://127.0.0.1:5001")], true, null));
    }

    [Theory]
    [InlineData("ftp://docker.io", "http:// or https://")]
    [InlineData("docker.io", "http:// or https://")]
    [InlineData("https://docker.io/", "path must be empty")]
    [InlineData("https://docker.io/v2", "path must be empty")]
    [InlineData("https://docker.io?x=1", "query must be empty")]
    [InlineData("https://user:pass@docker.io", "user info must be empty")]
    public void RejectsUrlsThatAreNotPlainRegistries(string text, string reason)
    {
        Assert.False(RegistryUrl.TryParse(text, allowWildcard: false, out _, out string? error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void WildcardOnlyWhereAllowedAndOnce()
    {
        Assert.False(RegistryUrl.TryParse("_default", allowWildcard: false, out _, out _));
        var errors = new List<string>();
        RegistryUrl.ParseList(["_default", "*"], allowWildcard: true, errors);
        Assert.Single(errors);
        Assert.Equal([RegistryUrl.Wildcard], RegistryUrl.ParseList([], allowWildcard: true, []));
    }
}
