using System.Text;
using Microsoft.Extensions.Logging;
using Spegel.Libp2p.Files;
using Spegel.Oci;

namespace Spegel.MirrorConfig;

/// <summary>What <c>spegel configuration</c> writes.</summary>
internal sealed record MirrorConfiguration(
    string ConfigPath,
    IReadOnlyList<RegistryUrl> MirroredRegistries,
    IReadOnlyList<RegistryUrl> MirrorTargets,
    bool ResolveTags,
    bool PrependExisting,
    string? Authorization);

/// <summary>
/// Writes and removes containerd mirror configuration (SPEC §5.2–5.3):
/// <list type="number">
/// <item>create the config folder if needed;</item>
/// <item>first run only: move every entry into <c>_backup/</c> (a later run keeps the original backup);</item>
/// <item>remove every entry but <c>_backup/</c>;</item>
/// <item>write one <c>hosts.toml</c> per mirrored registry, optionally followed by the original host tables (and the
/// original folder's other files, such as certificates, copied back).</item>
/// </list>
/// Cleanup reverses it exactly: the folder afterwards equals the folder before the first run.
/// </summary>
internal sealed partial class MirrorConfigurator(ILogger<MirrorConfigurator> logger)
{
    public const string BackupFolder = "_backup";

    public async Task ApplyAsync(MirrorConfiguration config, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(config.ConfigPath);
        Backup(config.ConfigPath);
        Clear(config.ConfigPath);
        foreach (var registry in config.MirroredRegistries)
        {
            string folder = HostsToml.FolderName(registry);
            string text = HostsToml.Render(registry, config.MirrorTargets, config.ResolveTags, config.Authorization);
            if (config.PrependExisting)
            {
                string backupFolder = Path.Combine(config.ConfigPath, BackupFolder, folder);
                string backupHosts = Path.Combine(backupFolder, "hosts.toml");
                if (File.Exists(backupHosts))
                {
                    string existing = ExistingHosts.Extract(await File.ReadAllTextAsync(backupHosts, cancellationToken).ConfigureAwait(false));
                    if (existing.Length > 0)
                    {
                        CopySupportingFiles(backupFolder, Path.Combine(config.ConfigPath, folder));
                        text = text + "\n\n" + existing;
                        LogPrepending(logger, registry.ToString());
                    }
                }
            }

            string target = Path.Combine(config.ConfigPath, folder, "hosts.toml");
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await AtomicFile.WriteAsync(target, Encoding.UTF8.GetBytes(text), HostsMode(config), cancellationToken).ConfigureAwait(false);
            LogWrote(logger, registry.ToString(), target);
        }
    }

    /// <summary>
    /// 0600 when the file carries the Basic auth header (containerd reads it as root; nobody else needs the
    /// credentials), else 0644 as Spegel writes it.
    /// </summary>
    internal static UnixFileMode HostsMode(MirrorConfiguration config) =>
        config.Authorization is null ? AtomicFile.WorldReadable : AtomicFile.OwnerOnly;

    /// <summary>Restores the original configuration; does nothing when there is no backup (idempotent).</summary>
    public void Cleanup(string configPath)
    {
        string backup = Path.Combine(configPath, BackupFolder);
        if (!Directory.Exists(backup))
        {
            LogNoBackup(logger, configPath);
            return;
        }

        Clear(configPath);
        foreach (string entry in Directory.EnumerateFileSystemEntries(backup))
        {
            string destination = Path.Combine(configPath, Path.GetFileName(entry));
            Move(entry, destination);
            LogRestored(logger, destination);
        }

        Directory.Delete(backup, recursive: true);
    }

    private void Backup(string configPath)
    {
        string backup = Path.Combine(configPath, BackupFolder);
        if (Directory.Exists(backup))
        {
            return;
        }

        var entries = Directory.EnumerateFileSystemEntries(configPath).ToList();
        Directory.CreateDirectory(backup);
        foreach (string entry in entries)
        {
            Move(entry, Path.Combine(backup, Path.GetFileName(entry)));
            LogBackedUp(logger, entry);
        }
    }

    private static void Clear(string configPath)
    {
        foreach (string entry in Directory.EnumerateFileSystemEntries(configPath))
        {
            if (Path.GetFileName(entry) == BackupFolder)
            {
                continue;
            }

            var attributes = File.GetAttributes(entry);
            if (attributes.HasFlag(FileAttributes.Directory) && !attributes.HasFlag(FileAttributes.ReparsePoint))
            {
                Directory.Delete(entry, recursive: true);
            }
            else
            {
                File.Delete(entry);
            }
        }
    }

    /// <summary>Renames a file, folder or symlink (rename keeps modes, times and link targets).</summary>
    private static void Move(string source, string destination)
    {
        var attributes = File.GetAttributes(source);
        if (attributes.HasFlag(FileAttributes.Directory) && !attributes.HasFlag(FileAttributes.ReparsePoint))
        {
            Directory.Move(source, destination);
        }
        else
        {
            File.Move(source, destination);
        }
    }

    /// <summary>
    /// Copies the backed-up registry folder's other files (certificates, keys) back next to our <c>hosts.toml</c>.
    /// Walks real folders only: a symlink to a folder is recreated as the same link, never descended into (it may
    /// point anywhere, or at itself); a symlink to a file is copied as its content, as Spegel does.
    /// </summary>
    private static void CopySupportingFiles(string backupFolder, string liveFolder) => CopyTree(backupFolder, liveFolder, top: true);

    private static void CopyTree(string from, string to, bool top)
    {
        Directory.CreateDirectory(to);
        foreach (var entry in new DirectoryInfo(from).EnumerateFileSystemInfos())
        {
            string destination = Path.Combine(to, entry.Name);
            if (entry is DirectoryInfo { LinkTarget: { } linkTarget })
            {
                Directory.CreateSymbolicLink(destination, linkTarget);
            }
            else if (entry is DirectoryInfo)
            {
                CopyTree(entry.FullName, destination, top: false);
            }
            else if (!(top && entry.Name == "hosts.toml"))
            {
                File.Copy(entry.FullName, destination, overwrite: true);
            }
        }
    }

    [LoggerMessage(EventId = 1501, Level = LogLevel.Information, Message = "Backed up containerd host configuration {Path}")]
    private static partial void LogBackedUp(ILogger logger, string path);

    [LoggerMessage(EventId = 1502, Level = LogLevel.Information, Message = "Wrote containerd mirror configuration for {Registry} to {Path}")]
    private static partial void LogWrote(ILogger logger, string registry, string path);

    [LoggerMessage(EventId = 1503, Level = LogLevel.Information, Message = "Keeping the existing mirror configuration of {Registry} after ours")]
    private static partial void LogPrepending(ILogger logger, string registry);

    [LoggerMessage(EventId = 1504, Level = LogLevel.Information, Message = "No backup in {ConfigPath}: nothing to clean up")]
    private static partial void LogNoBackup(ILogger logger, string configPath);

    [LoggerMessage(EventId = 1505, Level = LogLevel.Information, Message = "Restored containerd host configuration {Path}")]
    private static partial void LogRestored(ILogger logger, string path);
}
