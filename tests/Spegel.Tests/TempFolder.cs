namespace Spegel.Tests;

/// <summary>A folder under /tmp removed after the test.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = Directory.CreateTempSubdirectory("spegel-test-").FullName;
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Write(string relative, string content)
    {
        string full = Combine(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, content);
    }

    /// <summary>Every entry under <paramref name="root"/>: kind, mode, content or link target.</summary>
    public static SortedDictionary<string, string> Snapshot(string root)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in new DirectoryInfo(root).EnumerateFileSystemInfos("*", SearchOption.AllDirectories))
        {
            string relative = System.IO.Path.GetRelativePath(root, entry.FullName);
            string mode = Convert.ToString((int)entry.UnixFileMode, 8);
            result[relative] = entry switch
            {
                { LinkTarget: { } target } => $"link {target}",
                DirectoryInfo => $"dir {mode}",
                FileInfo file => $"file {mode} {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file.FullName)))}",
                _ => "other",
            };
        }

        return result;
    }

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
