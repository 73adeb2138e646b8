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

    /// <summary>
    /// Spegel's own golden case, <c>TestExistingHosts</c> in <c>pkg/oci/containerd/mirror_test.go</c> (main), input and
    /// expected output as written there: hosts follow their explicit <c>[host.X]</c> headers (test-1 before test-2,
    /// although test-2's <c>.header</c> sub-table comes first), <c>[host]</c> alone adds nothing.
    /// </summary>
    [Fact]
    public void SpegelsTestExistingHostsGolden()
    {
        string existing = """
            server = "https://registry-1.docker.io"
            [host."https://mirror.registry"]
              capabilities = ["pull"]
              ca = "/etc/certs/mirror.pem"
              skip_verify = false
              [host."https://mirror.registry".header]
                x-custom-2 = ["value1", "value2"]

            [host]

            [host."https://mirror-bak.registry/us"]
              capabilities = ["pull"]
              skip_verify = true

            [host."http://mirror.registry"]
              capabilities = ["pull"]

            [host."https://test-3.registry"]
              client = ["/etc/certs/client-1.pem", "/etc/certs/client-2.pem"]

            [host."https://test-2.registry".header]
              x-custom-2 = ["foo"]

            [host."https://test-1.registry"]
              capabilities = ["pull", "resolve", "push"]
              ca = ["/etc/certs/test-1-ca.pem", "/etc/certs/special.pem"]
              client = [["/etc/certs/client.cert", "/etc/certs/client.key"],["/etc/certs/client.pem", ""]]

            [host."https://test-2.registry"]
              client = "/etc/certs/client.pem"

            [host."https://non-compliant-mirror.registry/v2/upstream"]
              capabilities = ["pull"]
              override_path = true
            """;
        string expected = """
            [host.'https://mirror.registry']
            ca = '/etc/certs/mirror.pem'
            capabilities = ['pull']
            skip_verify = false

            [host.'https://mirror.registry'.header]
            x-custom-2 = ['value1', 'value2']

            [host.'https://mirror-bak.registry/us']
            capabilities = ['pull']
            skip_verify = true

            [host.'http://mirror.registry']
            capabilities = ['pull']

            [host.'https://test-3.registry']
            client = ['/etc/certs/client-1.pem', '/etc/certs/client-2.pem']

            [host.'https://test-1.registry']
            ca = ['/etc/certs/test-1-ca.pem', '/etc/certs/special.pem']
            capabilities = ['pull', 'resolve', 'push']
            client = [['/etc/certs/client.cert', '/etc/certs/client.key'], ['/etc/certs/client.pem', '']]

            [host.'https://test-2.registry']
            client = '/etc/certs/client.pem'

            [host.'https://test-2.registry'.header]
            x-custom-2 = ['foo']

            [host.'https://non-compliant-mirror.registry/v2/upstream']
            capabilities = ['pull']
            override_path = true
            """;
        Assert.Equal(expected, ExistingHosts.Extract(existing));
    }

    [Fact]
    public void HostsDefinedOnlyThroughSubTablesOrDottedKeysAreDropped()
    {
        string existing = """
            [host.'https://only-header.registry'.header]
            x = ['1']

            [host]
            'https://dotted.registry'.capabilities = ['pull']

            [host.'https://kept.registry']
            capabilities = ['pull']

            [[host.'https://array.registry'.client]]
            a = 'b'
            """;
        string expected = """
            [host.'https://kept.registry']
            capabilities = ['pull']
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
