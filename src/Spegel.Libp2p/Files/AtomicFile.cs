namespace Spegel.Libp2p.Files;

/// <summary>
/// Replaces a file all at once, for files that readers pick up at any moment (containerd reads <c>hosts.toml</c> on
/// every pull) or that hold secrets (<c>private.key</c>, <c>hosts.toml</c> with a Basic auth header). The bytes go to
/// <c>&lt;path&gt;.tmp</c> in the same folder, created owner-only (0600) by <c>open(O_CREAT|O_EXCL)</c> itself so no
/// other user can open it even for a moment; then the final mode is set on the handle, the file is fsynced and renamed
/// over <paramref name="path"/>. A reader sees the old file or the new one, never a part; a reader holding the old
/// file keeps reading it whole; a symlink at the target is replaced, not followed. A leftover temp (from a crash) is
/// removed first, and O_EXCL does not follow a symlink planted there. On any failure the temp is removed and the
/// target is untouched. One writer per target is assumed: two writers of the same path share the temp name.
/// </summary>
/// <remarks>
/// In Spegel.Libp2p (a folder with no dependency) because the library writes its identity file with it and may not
/// know the product; the product's mirror configuration uses the same code.
/// </remarks>
public static class AtomicFile
{
    /// <summary>0600: for files that hold a secret.</summary>
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>0644: readable by everyone, written by the owner.</summary>
    public const UnixFileMode WorldReadable = OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>The temp file a write of <paramref name="path"/> goes through.</summary>
    public static string TempPath(string path) => path + ".tmp";

    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/> with <paramref name="mode"/> (exactly; the umask does not apply).</summary>
    public static void Write(string path, ReadOnlySpan<byte> content, UnixFileMode mode) => Write(path, content, mode, onTempCreated: null);

    /// <inheritdoc cref="Write(string, ReadOnlySpan{byte}, UnixFileMode)"/>
    public static Task WriteAsync(string path, ReadOnlyMemory<byte> content, UnixFileMode mode, CancellationToken cancellationToken) =>
        WriteAsync(path, content, mode, onTempCreated: null, cancellationToken);

    /// <param name="onTempCreated">Test seam: called with the temp's path right after it was created, before any byte is written.</param>
    internal static void Write(string path, ReadOnlySpan<byte> content, UnixFileMode mode, Action<string>? onTempCreated)
    {
        string temp = TempPath(path);
        var stream = CreateTemp(temp);
        try
        {
            using (stream)
            {
                onTempCreated?.Invoke(temp);
                stream.Write(content);
                Seal(stream, mode);
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            Abandon(temp);
            throw;
        }
    }

    /// <param name="onTempCreated">Test seam: called with the temp's path right after it was created, before any byte is written.</param>
    internal static async Task WriteAsync(string path, ReadOnlyMemory<byte> content, UnixFileMode mode, Action<string>? onTempCreated, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        string temp = TempPath(path);
        var stream = CreateTemp(temp);
        try
        {
            await using (stream.ConfigureAwait(false))
            {
                onTempCreated?.Invoke(temp);
                await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
                Seal(stream, mode);
            }

            // A write cancelled after its last byte still leaves the target as it was.
            cancellationToken.ThrowIfCancellationRequested();
            File.Move(temp, path, overwrite: true); // rename(2): replaces the target (or a symlink there) at once
        }
        catch
        {
            Abandon(temp);
            throw;
        }
    }

    private static FileStream CreateTemp(string temp)
    {
        // A leftover from a crash (or anything planted there) goes: CreateNew below then makes a fresh inode of ours,
        // where FileMode.Create would reuse the old one with its mode and whoever still has it open.
        File.Delete(temp);
        return new FileStream(temp, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, // O_CREAT|O_EXCL: never follows a symlink
            Access = FileAccess.Write,
            Share = FileShare.None,
            BufferSize = 0,
            UnixCreateMode = OwnerOnly, // the mode open(2) creates it with: never readable by others, whatever the umask
        });
    }

    /// <summary>The final mode (fchmod, exact), then data and metadata to disk before the rename publishes them.</summary>
    private static void Seal(FileStream stream, UnixFileMode mode)
    {
        File.SetUnixFileMode(stream.SafeFileHandle, mode);
        stream.Flush(flushToDisk: true);
    }

    private static void Abandon(string temp)
    {
        try
        {
            File.Delete(temp);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The original failure is what the caller needs to see.
        }
    }
}
