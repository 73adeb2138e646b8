using ScottPlot;

namespace Spegel.Bench.Scale;

/// <summary>The scale report's charts (ScottPlot): figures against the cluster size, on a log axis.</summary>
internal static class ScaleCharts
{
    private static readonly Color[] Palette = [Color.FromHex("#2563eb"), Color.FromHex("#dc2626"), Color.FromHex("#16a34a"), Color.FromHex("#9333ea"), Color.FromHex("#9ca3af")];

    /// <summary>Lines of <paramref name="series"/> (label, value per result) against N.</summary>
    public static void AgainstNodes(string path, string title, string yLabel, IReadOnlyList<ScaleResult> results, params (string Label, Func<ScaleResult, double> Value)[] series)
    {
        var plot = new Plot();
        double[] xs = [.. results.Select(r => Math.Log10(r.Nodes))];
        for (int i = 0; i < series.Length; i++)
        {
            var line = plot.Add.Scatter(xs, results.Select(series[i].Value).ToArray());
            line.LegendText = series[i].Label;
            line.Color = Palette[i % Palette.Length];
            line.LineWidth = 2;
            line.MarkerSize = 8;
        }

        plot.Axes.Bottom.SetTicks(xs, [.. results.Select(r => r.Nodes.ToString("N0", System.Globalization.CultureInfo.InvariantCulture))]);
        plot.Axes.Margins(0.1, 0.15);
        plot.Title(title);
        plot.XLabel("nodes");
        plot.YLabel(yLabel);
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 900, 480);
    }

    /// <summary>Per-second values over the reprovide cycle.</summary>
    public static void OverCycle(string path, string title, string yLabel, params (string Label, IReadOnlyList<double> PerSecond)[] series)
    {
        var plot = new Plot();
        for (int i = 0; i < series.Length; i++)
        {
            var line = plot.Add.Scatter(Enumerable.Range(0, series[i].PerSecond.Count).Select(s => s / 60.0).ToArray(), series[i].PerSecond.ToArray());
            line.LegendText = series[i].Label;
            line.Color = Palette[i % Palette.Length];
            line.MarkerSize = 0;
        }

        plot.Title(title);
        plot.XLabel("minute of the reprovide cycle");
        plot.YLabel(yLabel);
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 900, 420);
    }

    /// <summary>Share of lookups of a departed node's keys that still name it, by minutes since it left.</summary>
    public static void Departed(string path, IReadOnlyList<ScaleResult> results)
    {
        var plot = new Plot();
        for (int i = 0; i < results.Count; i++)
        {
            var byMinute = results[i].Departed.GroupBy(d => d.AgeSeconds / 60).OrderBy(g => g.Key).ToList();
            if (byMinute.Count == 0)
            {
                continue;
            }

            var line = plot.Add.Scatter(byMinute.Select(g => (double)g.Key).ToArray(), byMinute.Select(g => 100.0 * g.Count(d => d.Returned) / g.Count()).ToArray());
            line.LegendText = $"{results[i].Nodes:N0} nodes, {(results[i].DepartedCheck ? "departed check" : "no check (before)")}";
            line.Color = Palette[i % Palette.Length];
            line.LineWidth = 2;
        }

        plot.Title("Lookups of a departed node's keys that still name it");
        plot.XLabel("minutes since the node left");
        plot.YLabel("% of lookups");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 900, 420);
    }
}
