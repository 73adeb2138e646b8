using System.Text;
using Spegel.Libp2p.Files;

namespace Spegel.Libp2p.Tests.Files;

public sealed class AtomicFileTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("spegel-atomic-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string Target => Path.Combine(folder, "hosts.toml");

    [Theory]
    [InlineData(AtomicFile.OwnerOnly)]
    [InlineData(AtomicFile.WorldReadable)]
    public async Task TheTempIsOwnerOnlyFromItsCreationAndTheTargetGetsTheModeAsked(UnixFileMode mode)
    {
        // A folder anyone may enter and write in: only the file's own mode keeps others out.
        File.SetUnixFileMode(folder, (UnixFileMode)0b111_111_111);
        var seen = new List<UnixFileMode>();
        await AtomicFile.WriteAsync(Target, "async"u8.ToArray(), mode, temp => seen.Add(File.GetUnixFileMode(temp)), CancellationToken.None);
        AtomicFile.Write(Path.Combine(folder, "sync"), "sync"u8, mode, temp => seen.Add(File.GetUnixFileMode(temp)));

        Assert.Equal([AtomicFile.OwnerOnly, AtomicFile.OwnerOnly], seen);
        Assert.Equal(mode, File.GetUnixFileMode(Target));
        Assert.Equal(mode, File.GetUnixFileMode(Path.Combine(folder, "sync")));
        Assert.Equal("async", await File.ReadAllTextAsync(Target));
        Assert.Equal("sync", await File.ReadAllTextAsync(Path.Combine(folder, "sync")));
        Assert.Equal(["hosts.toml", "sync"], Directory.EnumerateFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task AReaderOfTheOldFileKeepsReadingItWhole()
    {
        string old = string.Concat(Enumerable.Repeat("old content ", 1000));
        await File.WriteAllTextAsync(Target, old);
        await using var reader = new FileStream(Target, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        byte[] first = new byte[12];
        await reader.ReadExactlyAsync(first);

        await AtomicFile.WriteAsync(Target, "new"u8.ToArray(), AtomicFile.WorldReadable, CancellationToken.None);

        // Truncating in place (File.WriteAllText) would leave this reader at the end of a 3-byte file.
        using var rest = new StreamReader(reader);
        Assert.Equal(old, Encoding.UTF8.GetString(first) + await rest.ReadToEndAsync());
        Assert.Equal("new", await File.ReadAllTextAsync(Target));
    }

    [Fact]
    public async Task ASymlinkAtTheTargetIsReplacedAndItsPointeeLeftAlone()
    {
        string pointee = Path.Combine(folder, "elsewhere");
        await File.WriteAllTextAsync(pointee, "not yours");
        File.CreateSymbolicLink(Target, pointee);

        await AtomicFile.WriteAsync(Target, "ours"u8.ToArray(), AtomicFile.OwnerOnly, CancellationToken.None);

        Assert.Null(new FileInfo(Target).LinkTarget);
        Assert.Equal("ours", await File.ReadAllTextAsync(Target));
        Assert.Equal("not yours", await File.ReadAllTextAsync(pointee));
    }

    [Fact]
    public async Task AWriteCancelledOnceTheTempExistsLeavesTheOldFileAndNoTemp()
    {
        await File.WriteAllTextAsync(Target, "old");
        using var cancel = new CancellationTokenSource();
        bool created = false;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => AtomicFile.WriteAsync(
            Target,
            "new"u8.ToArray(),
            AtomicFile.WorldReadable,
            temp =>
            {
                created = File.Exists(temp);
                cancel.Cancel();
            },
            cancel.Token));

        Assert.True(created); // positive control: the failure came after the temp was made
        Assert.Equal("old", await File.ReadAllTextAsync(Target));
        Assert.Equal(["hosts.toml"], Directory.EnumerateFileSystemEntries(folder).Select(Path.GetFileName));
    }

    [Fact]
    public async Task AFailureWhileWritingLeavesTheOldFileAndNoTemp()
    {
        await File.WriteAllTextAsync(Target, "old");
        var ex = Assert.Throws<IOException>(() => AtomicFile.Write(Target, "new"u8, AtomicFile.OwnerOnly, _ => throw new IOException("disk full")));
        Assert.Equal("disk full", ex.Message);
        Assert.Equal("old", await File.ReadAllTextAsync(Target));
        Assert.Equal(["hosts.toml"], Directory.EnumerateFileSystemEntries(folder).Select(Path.GetFileName));
    }

    [Fact]
    public async Task AStaleTempIsReplacedByAFreshOwnerOnlyFile()
    {
        // Left by a crash, world-readable, and still open by someone: reusing its inode would hand them the new bytes.
        string temp = AtomicFile.TempPath(Target);
        await File.WriteAllTextAsync(temp, "stale");
        File.SetUnixFileMode(temp, (UnixFileMode)0b110_110_110);
        await using var holder = new FileStream(temp, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var seen = new List<UnixFileMode>();

        await AtomicFile.WriteAsync(Target, "secret"u8.ToArray(), AtomicFile.OwnerOnly, t => seen.Add(File.GetUnixFileMode(t)), CancellationToken.None);

        Assert.Equal([AtomicFile.OwnerOnly], seen);
        Assert.Equal("stale", await new StreamReader(holder).ReadToEndAsync());
        Assert.Equal("secret", await File.ReadAllTextAsync(Target));
        Assert.False(File.Exists(temp));
    }

    [Fact]
    public async Task ASymlinkPlantedAtTheTempIsNotFollowed()
    {
        string pointee = Path.Combine(folder, "elsewhere");
        await File.WriteAllTextAsync(pointee, "not yours");
        File.CreateSymbolicLink(AtomicFile.TempPath(Target), pointee);

        AtomicFile.Write(Target, "ours"u8, AtomicFile.OwnerOnly);

        Assert.Equal("not yours", await File.ReadAllTextAsync(pointee));
        Assert.Equal("ours", await File.ReadAllTextAsync(Target));
        Assert.Null(new FileInfo(Target).LinkTarget);
        Assert.False(Path.Exists(AtomicFile.TempPath(Target)));
    }
}
