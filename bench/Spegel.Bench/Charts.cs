using ScottPlot;

namespace Spegel.Bench;

/// <summary>Box plots like Spegel's benchmark charts (ScottPlot): per image, baseline and spegel side by side.</summary>
internal static class Charts
{
    private static readonly Color Baseline = Color.FromHex("#9ca3af");
    private static readonly Color Spegel = Color.FromHex("#2563eb");

    public static void BoxPlot(string path, string title, IReadOnlyList<string> images, IReadOnlyList<SuiteBenchmark.Sample> samples)
    {
        var plot = new Plot();
        var baselineBoxes = new List<Box>();
        var spegelBoxes = new List<Box>();
        for (int i = 0; i < images.Count; i++)
        {
            foreach (var (mode, offset, list, color) in new[] { ("baseline", -0.2, baselineBoxes, Baseline), ("spegel", 0.2, spegelBoxes, Spegel) })
            {
                var values = samples.Where(s => s.Image == images[i] && s.Mode == mode).Select(s => s.Seconds).Order().ToList();
                if (values.Count == 0)
                {
                    continue;
                }

                list.Add(new Box
                {
                    Position = i + offset,
                    Width = 0.35,
                    BoxMin = Quantile(values, 0.25),
                    BoxMax = Quantile(values, 0.75),
                    BoxMiddle = Quantile(values, 0.5),
                    WhiskerMin = values[0],
                    WhiskerMax = values[^1],
                    FillColor = color.WithAlpha(0.6),
                    LineColor = color,
                });
            }
        }

        var baseline = plot.Add.Boxes(baselineBoxes);
        baseline.LegendText = "baseline (no mirror)";
        var spegel = plot.Add.Boxes(spegelBoxes);
        spegel.LegendText = "spegel";
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, images.Count).Select(i => (double)i)], [.. images]);
        plot.Axes.Margins(bottom: 0);
        plot.Title(title);
        plot.YLabel("pull time per node (s)");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 1000, 520);
    }

    private static double Quantile(List<double> sorted, double q)
    {
        double index = q * (sorted.Count - 1);
        int low = (int)Math.Floor(index);
        int high = (int)Math.Ceiling(index);
        return sorted[low] + ((sorted[high] - sorted[low]) * (index - low));
    }
}
