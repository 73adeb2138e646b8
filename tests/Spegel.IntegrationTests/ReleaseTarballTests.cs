using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using Spegel.Testbed;
using Xunit.Abstractions;

namespace Spegel.IntegrationTests;

/// <summary>
/// scripts/publish.sh, the way to get the binary without a container engine: archives named like Spegel's release
/// assets (spegel_&lt;version&gt;_linux_&lt;arch&gt;.tar.gz holding spegel_linux_&lt;arch&gt;/spegel, as goreleaser
/// packs them), a sha256 checksums file, and a binary that runs from the archive with the stamped version.
/// </summary>
public sealed class ReleaseTarballTests(ITestOutputHelper output)
{
    [Fact]
    public async Task PublishScriptPacksARunnableBinaryUnderSpegelsArchiveNames()
    {
        var platform = ContainerPlatform.Build;
        string arch = platform.Architecture;
        using var dist = new TemporaryFolder();
        var clock = Stopwatch.StartNew();
        var publish = await ProcessRunner.RunAsync(
            RepositoryFiles.Path("scripts", "publish.sh"), [arch], TimeSpan.FromMinutes(15), new Dictionary<string, string> { ["DIST"] = dist.Path, ["VERSION"] = "v0.9.1-rc.1" });
        output.WriteLine($"publish.sh {arch}: {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(publish.ExitCode == 0, $"{publish.StandardError}\n{publish.StandardOutput}");

        string archive = $"spegel_0.9.1-rc.1_linux_{arch}.tar.gz";
        string checksums = "spegel_0.9.1-rc.1_checksums.txt";
        Assert.Equal(
            [checksums, archive],
            Directory.EnumerateFiles(dist.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        byte[] tarball = File.ReadAllBytes(Path.Combine(dist.Path, archive));
        Assert.Equal($"{Convert.ToHexStringLower(SHA256.HashData(tarball))}  {archive}\n", File.ReadAllText(Path.Combine(dist.Path, checksums)));

        // Only the binary, in goreleaser's binary folder, owned by root, executable.
        string binary = Path.Combine(dist.Path, "unpacked", "spegel");
        Directory.CreateDirectory(Path.GetDirectoryName(binary)!);
        var entries = new List<string>();
        await using (var reader = new TarReader(new GZipStream(new MemoryStream(tarball), CompressionMode.Decompress)))
        {
            while (await reader.GetNextEntryAsync() is { } entry)
            {
                entries.Add($"{entry.EntryType} {entry.Name} {entry.Uid}:{entry.Gid} {Convert.ToString((int)entry.Mode, 8)}");
                if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile)
                {
                    await entry.ExtractToFileAsync(binary, overwrite: false);
                }
            }
        }

        Assert.Equal([$"{TarEntryType.RegularFile} spegel_linux_{arch}/spegel 0:0 755"], entries);
        var elf = ElfHeader.Read(binary);
        Assert.True(elf.Matches(platform), elf.ToString());
        output.WriteLine($"{archive}: {tarball.Length} bytes, binary {new FileInfo(binary).Length} bytes");

        var version = await ProcessRunner.RunAsync(binary, ["version"], TimeSpan.FromMinutes(1));
        Assert.True(version.ExitCode == 0, version.StandardError);
        Assert.StartsWith("spegel version v0.9.1-rc.1 ", version.StandardOutput, StringComparison.Ordinal);
    }

    private sealed class TemporaryFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("sp-dist-").FullName;

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
