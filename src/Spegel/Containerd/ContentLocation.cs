using Spegel.Oci;

namespace Spegel.Containerd;

/// <summary>
/// Where containerd keeps committed blobs on disk (<c>&lt;root&gt;/blobs/&lt;algorithm&gt;/&lt;hex&gt;</c>), when we can
/// read it. Null root means "read over gRPC".
/// </summary>
internal sealed class ContentLocation(string? root)
{
    public string? Root { get; } = root;

    /// <summary>The file of a digest. Safe to build from a parsed <see cref="Digest"/> only: its parts are validated.</summary>
    public string? BlobPath(Digest digest) => Root is null ? null : Path.Combine(Root, "blobs", digest.Algorithm, digest.Hex);

    /// <summary>True when the folder exists and can be listed (its <c>blobs</c> folder appears with the first blob).</summary>
    public static bool IsReadable(string root)
    {
        try
        {
            if (!Directory.Exists(root))
            {
                return false;
            }

            using var entries = Directory.EnumerateFileSystemEntries(root).GetEnumerator();
            _ = entries.MoveNext();
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
