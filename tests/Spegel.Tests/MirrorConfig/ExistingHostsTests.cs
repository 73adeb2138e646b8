using Spegel.MirrorConfig;

namespace Spegel.Tests.MirrorConfig;

public sealed class ExistingHostsTests
{
    [Fact]
    public void KeepsHostTablesInFileOrderWithSortedKeysAndDropsTopLevelKeys()
    {
        string existing = """
            server = 'https://registry-1.docker.io'

            [host.'http://example.com:30020']
            capabilities = ['pull', 'resolve']
            client = ['/etc/certs/xxx/client.cert', '/etc/certs/xxx/client.key']

            [host.'http://example.com:30021']
            client = ['/etc/certs/xxx/client.cert', '/etc/certs/xxx/client.key']
            capabilities = ['pull', 'resolve']

            [host.'http://bar.com:30020']
            capabilities = ['pull', 'resolve']
            client = ['/etc/certs/xxx/client.cert', '/etc/certs/xxx/client.key']
            """;
        string expected = """
            [host.'http://example.com:30020']
            capabilities = ['pull', 'resolve']
            client = ['/etc/certs/xxx/client.cert', '/etc/certs/xxx/client.key']

            [host.'http://example.com:30021']
            capabilities = ['pull', 'resolve']
            client = ['/etc/certs/xxx/client.cert', '/etc/certs/xxx/client.key']

            [host.'http://bar.com:30020']
            capabilities = ['pull', 'resolve']
            client = ['/etc/certs/xxx/client.cert', '/etc/certs/xxx/client.key']
            """;
        Assert.Equal(expected, ExistingHosts.Extract(existing));
    }

    [Fact]
    public void WritesOtherValueKindsAndSubTables()
    {
        string existing = """
            [host."https://mirror.local"]
              capabilities = ["pull"]
              skip_verify = true
              override_path = false
              [host."https://mirror.local".header]
                x-custom = "it's"
            """;
        string expected = """
            [host.'https://mirror.local']
            capabilities = ['pull']
            override_path = false
            skip_verify = true

            [host.'https://mirror.local'.header]
            x-custom = "it's"
            """;
        Assert.Equal(expected, ExistingHosts.Extract(existing));
    }

    [Theory]
    [InlineData("server = 'https://registry-1.docker.io'")]
    [InlineData("")]
    [InlineData("hello = 'world'")]
    public void NoHostTablesGivesNothing(string existing) => Assert.Equal(string.Empty, ExistingHosts.Extract(existing));

    [Theory]
    [InlineData("[host.'x'")]
    [InlineData("server = ")]
    [InlineData("= 1")]
    [InlineData("[host.'a']\nk = 'v' 'w'")]
    [InlineData("[host.'a']\nk = \"\\q\"")]
    public void MalformedTomlIsAClearError(string existing)
    {
        var ex = Assert.Throws<InvalidDataException>(() => ExistingHosts.Extract(existing));
        Assert.Contains("not valid TOML", ex.Message, StringComparison.Ordinal);
    }
}
