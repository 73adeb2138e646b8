using System.Globalization;

namespace Spegel.Bench;

internal sealed record BenchOptions(int BlobMiB, int ImageMiB, int Runs, string? Out)
{
    public static BenchOptions Parse(string[] args)
    {
        int blob = 1024, image = 250, runs = 3;
        string? output = null;
        for (int i = 0; i < args.Length - 1; i++)
        {
            switch (args[i])
            {
                case "--blob-mib": blob = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--image-mib": image = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--runs": runs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--out": output = args[++i]; break;
            }
        }

        return new BenchOptions(blob, image, runs, output);
    }
}
