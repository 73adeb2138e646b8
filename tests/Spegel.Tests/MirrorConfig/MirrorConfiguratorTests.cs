using Microsoft.Extensions.Logging.Abstractions;
using Spegel.MirrorConfig;
using Spegel.Oci;

namespace Spegel.Tests.MirrorConfig;

public sealed class MirrorConfiguratorTests
{
    private static readonly MirrorConfigurator Configurator = new(NullLogger<MirrorConfigurator>.Instance);

    private static RegistryUrl Url(string text)
    {
        RegistryUrl.TryParse(text, true, out var url, out _);
        return url!;
    }

    private static MirrorConfiguration Config(string path, bool prepend = false, params string[] registries) => new(
        path,
        registries.Length == 0 ? [Url("https://docker.io"), Url("http://foo.bar:5000")] : registries.Select(Url).ToList(),
        [Url("http://127.0.0.1:5000")],
        ResolveTags: true,
        PrependExisting: prepend,
        Authorization: null);

    [Fact]
    public async Task CreatesTheFolderAndWritesOneFilePerRegistryWithMode0644()
    {
        using var temp = new TempFolder();
        string path = temp.Combine("does", "not", "exist");
        await Configurator.ApplyAsync(Config(path), CancellationToken.None);
        Assert.Equal(
            "server = 'https://registry-1.docker.io'\n\n[host.'http://127.0.0.1:5000']\ncapabilities = ['pull', 'resolve']\ndial_timeout = '200ms'",
            await File.ReadAllTextAsync(Path.Combine(path, "docker.io", "hosts.toml")));
        Assert.True(File.Exists(Path.Combine(path, "foo.bar:5000", "hosts.toml")));
        Assert.Equal(
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            File.GetUnixFileMode(Path.Combine(path, "docker.io", "hosts.toml")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(path, "_backup")));
    }

    [Fact]
    public async Task WithBasicAuthTheHostsFilesAre0600AndNoTempIsLeft()
    {
        using var temp = new TempFolder();
        string path = temp.Combine("certs.d");
        await Configurator.ApplyAsync(Config(path) with { Authorization = "Basic dTpw" }, CancellationToken.None);
        foreach (string registry in new[] { "docker.io", "foo.bar:5000" })
        {
            string hosts = Path.Combine(path, registry, "hosts.toml");
            Assert.Contains("Authorization = 'Basic dTpw'", await File.ReadAllTextAsync(hosts), StringComparison.Ordinal); // the secret is in it
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(hosts));
            Assert.Equal(["hosts.toml"], Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(hosts)!).Select(Path.GetFileName));
        }
    }

    [Fact]
    public async Task PrependExistingCopiesAFolderSymlinkAsALinkWithoutWalkingIt()
    {
        using var temp = new TempFolder();
        string path = temp.Combine("certs.d");
        temp.Write("certs.d/docker.io/hosts.toml", "[host.'https://mirror.example']\ncapabilities = ['pull']\n");
        temp.Write("certs.d/docker.io/ca.crt", "ca");
        temp.Write("outside/secret.key", "not for certs.d");
        File.CreateSymbolicLink(temp.Combine("certs.d", "docker.io", "outside"), temp.Combine("outside"));
        File.CreateSymbolicLink(temp.Combine("certs.d", "docker.io", "loop"), ".");
        var before = TempFolder.Snapshot(path);

        await Configurator.ApplyAsync(Config(path, prepend: true, "https://docker.io"), CancellationToken.None);

        string live = Path.Combine(path, "docker.io");
        Assert.Equal(
            ["ca.crt", "hosts.toml", "loop", "outside"],
            Directory.EnumerateFileSystemEntries(live).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(temp.Combine("outside"), new DirectoryInfo(Path.Combine(live, "outside")).LinkTarget);
        Assert.Equal(".", new DirectoryInfo(Path.Combine(live, "loop")).LinkTarget);
        Assert.Equal("ca", await File.ReadAllTextAsync(Path.Combine(live, "ca.crt")));

        Configurator.Cleanup(path);
        Assert.Equal(before, TempFolder.Snapshot(path));
        Assert.Equal("not for certs.d", await File.ReadAllTextAsync(temp.Combine("outside", "secret.key")));
    }

    [Fact]
    public async Task ConfigurationThenCleanupLeavesTheFolderByteIdentical()
    {
        using var temp = new TempFolder();
        string path = temp.Combine("certs.d");
        temp.Write("certs.d/docker.io/hosts.toml", "server = \"https://registry-1.docker.io\"\n[host.\"https://mirror.example\"]\n  capabilities = [\"pull\"]\n");
        temp.Write("certs.d/docker.io/ca.crt", "-----BEGIN CERTIFICATE-----\n");
        temp.Write("certs.d/ghcr.io/hosts.toml", "foo = 'bar'");
        temp.Write("certs.d/deep/a/b/c.txt", "nested");
        temp.Write("certs.d/README", "top-level file");
        File.SetUnixFileMode(temp.Combine("certs.d", "README"), UnixFileMode.UserRead);
        File.CreateSymbolicLink(temp.Combine("certs.d", "link"), "docker.io");
        var before = TempFolder.Snapshot(path);

        await Configurator.ApplyAsync(Config(path, prepend: true), CancellationToken.None);
        Assert.NotEqual(before, TempFolder.Snapshot(path));

        // A restart of the init container keeps the first backup.
        await Configurator.ApplyAsync(Config(path), CancellationToken.None);
        Assert.Equal("foo = 'bar'", await File.ReadAllTextAsync(Path.Combine(path, "_backup", "ghcr.io", "hosts.toml")));
        Assert.False(Directory.Exists(Path.Combine(path, "ghcr.io")));

        Configurator.Cleanup(path);
        Assert.Equal(before, TempFolder.Snapshot(path));

        // Idempotent: a second cleanup changes nothing.
        Configurator.Cleanup(path);
        Assert.Equal(before, TempFolder.Snapshot(path));
    }

    [Fact]
    public async Task PrependExistingAppendsTheOriginalHostsAndCopiesTheirFiles()
    {
        using var temp = new TempFolder();
        string path = temp.Combine("certs.d");
        temp.Write("certs.d/docker.io/hosts.toml", """
            server = 'https://registry-1.docker.io'

            [host.'http://example.com:30020']
            capabilities = ['pull', 'resolve']
            client = ['/etc/certs/xxx/client.cert', '/etc/certs/xxx/client.key']

            [host.'http://example.com:30021']
            client = ['/etc/certs/xxx/client.cert', '/etc/certs/xxx/client.key']
            capabilities = ['pull', 'resolve']
            """);
        temp.Write("certs.d/docker.io/hello.txt", "Hello World");
        temp.Write("certs.d/docker.io/nested/cert.tls", "Foo Bar");

        await Configurator.ApplyAsync(Config(path, prepend: true), CancellationToken.None);

        Assert.Equal("""
            server = 'https://registry-1.docker.io'

            [host.'http://127.0.0.1:5000']
            capabilities = ['pull', 'resolve']
            dial_timeout = '200ms'

            [host.'http://example.com:30020']
            capabilities = ['pull', 'resolve']
            client = ['/etc/certs/xxx/client.cert', '/etc/certs/xxx/client.key']

            [host.'http://example.com:30021']
            capabilities = ['pull', 'resolve']
            client = ['/etc/certs/xxx/client.cert', '/etc/certs/xxx/client.key']
            """, await File.ReadAllTextAsync(Path.Combine(path, "docker.io", "hosts.toml")));
        Assert.Equal("Hello World", await File.ReadAllTextAsync(Path.Combine(path, "docker.io", "hello.txt")));
        Assert.Equal("Foo Bar", await File.ReadAllTextAsync(Path.Combine(path, "docker.io", "nested", "cert.tls")));
        Assert.Equal("server = 'http://foo.bar:5000'\n\n[host.'http://127.0.0.1:5000']\ncapabilities = ['pull', 'resolve']\ndial_timeout = '200ms'", await File.ReadAllTextAsync(Path.Combine(path, "foo.bar:5000", "hosts.toml")));
    }

    [Fact]
    public async Task PrependExistingWithAMalformedOriginalFailsClearlyAndKeepsTheBackup()
    {
        using var temp = new TempFolder();
        string path = temp.Combine("certs.d");
        temp.Write("certs.d/docker.io/hosts.toml", "[host.'broken'");
        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => Configurator.ApplyAsync(Config(path, prepend: true), CancellationToken.None));
        Assert.Contains("TOML", ex.Message, StringComparison.Ordinal);
        Assert.Equal("[host.'broken'", await File.ReadAllTextAsync(Path.Combine(path, "_backup", "docker.io", "hosts.toml")));
        Configurator.Cleanup(path);
        Assert.Equal("[host.'broken'", await File.ReadAllTextAsync(Path.Combine(path, "docker.io", "hosts.toml")));
    }

    [Fact]
    public void CleanupWithoutBackupDoesNothing()
    {
        using var temp = new TempFolder();
        temp.Write("certs.d/docker.io/hosts.toml", "x");
        var before = TempFolder.Snapshot(temp.Combine("certs.d"));
        Configurator.Cleanup(temp.Combine("certs.d"));
        Assert.Equal(before, TempFolder.Snapshot(temp.Combine("certs.d")));
    }
}
