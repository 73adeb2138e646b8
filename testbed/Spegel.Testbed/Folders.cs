namespace Spegel.Testbed;

/// <summary>Temporary folders of the harness.</summary>
public static class Folders
{
    /// <summary>
    /// Deletes <paramref name="root"/> and everything below it, ignoring what cannot be deleted (a file a process that
    /// is still stopping holds): cleaning up must not hide the result of the run it follows.
    /// </summary>
    public static void DeleteQuietly(string root)
    {
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
