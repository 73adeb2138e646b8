using System.Text.RegularExpressions;

namespace Spegel.Tests.Architecture;

/// <summary>A <c>using Spegel.…;</c> directive in a source file, with the file's own namespace and main type.</summary>
internal sealed record SourceUsing(string File, int Line, string FileType, string FileNamespace, string UsedNamespace);

/// <summary>
/// The <c>using</c> directives of the source files under a folder. The compiler copies constants into the IL, so a
/// type that only reads another room's <c>const</c> leaves no reference in the assembly; its <c>using</c> still shows.
/// </summary>
internal static partial class SourceUsings
{
    public static IReadOnlyList<SourceUsing> Read(string folder)
    {
        var result = new List<SourceUsing>();
        foreach (string file in Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(folder, file);
            if (relative.Split(Path.DirectorySeparatorChar).SkipLast(1).Any(folder => folder is "obj" or "bin"))
            {
                continue;
            }

            string[] lines = File.ReadAllLines(file);
            string fileNamespace = lines.Select(l => NamespaceLine().Match(l)).FirstOrDefault(m => m.Success)?.Groups[1].Value ?? string.Empty;
            string fileType = fileNamespace.Length == 0 ? Path.GetFileNameWithoutExtension(file) : $"{fileNamespace}.{Path.GetFileNameWithoutExtension(file)}";
            for (int i = 0; i < lines.Length; i++)
            {
                if (UsingLine().Match(lines[i]) is { Success: true } match)
                {
                    result.Add(new SourceUsing(relative, i + 1, fileType, fileNamespace, match.Groups[1].Value));
                }
            }
        }

        return result;
    }

    [GeneratedRegex(@"^namespace\s+([\w.]+)\s*[;{]?")]
    private static partial Regex NamespaceLine();

    /// <summary><c>using Spegel.X;</c>, <c>using static Spegel.X.Type;</c>, <c>using Alias = Spegel.X.Type;</c>, <c>global using …</c>.</summary>
    [GeneratedRegex(@"^\s*(?:global\s+)?using\s+(?:static\s+)?(?:\w+\s*=\s*)?(Spegel(?:\.\w+)*)\s*;")]
    private static partial Regex UsingLine();
}
