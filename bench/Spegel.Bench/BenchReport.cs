using System.Text;

namespace Spegel.Bench;

/// <summary>A Markdown report printed as it is written, and saved to <c>--out</c> at the end when given.</summary>
internal sealed class BenchReport
{
    private readonly StringBuilder _text = new();

    public void Line(string text)
    {
        Console.WriteLine(text);
        _text.AppendLine(text);
    }

    public async Task SaveAsync(string? path)
    {
        if (path is null)
        {
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        await File.WriteAllTextAsync(path, _text.ToString());
        Console.WriteLine($"\nReport written to {path}");
    }
}
