using System.Text.Json;

namespace Spegel.Testbed;

/// <summary>One request line of spegel's JSON log (event 1301): what was asked and where the answer came from.</summary>
public sealed record RequestLogEntry(string Method, string Path, int Status, double LatencyMs, string Handler, string Source, long Bytes, string Ip)
{
    public static IReadOnlyList<RequestLogEntry> Parse(string log)
    {
        var entries = new List<RequestLogEntry>();
        foreach (string line in log.Split('\n'))
        {
            if (!line.StartsWith('{') || !line.Contains("\"eventId\":1301", StringComparison.Ordinal))
            {
                continue;
            }

            try
            {
                using var json = JsonDocument.Parse(line);
                var state = json.RootElement;
                entries.Add(new RequestLogEntry(
                    state.GetProperty("method").GetString() ?? string.Empty,
                    state.GetProperty("path").GetString() ?? string.Empty,
                    state.GetProperty("status").GetInt32(),
                    state.GetProperty("latencyMs").GetDouble(),
                    state.GetProperty("handler").GetString() ?? string.Empty,
                    state.GetProperty("source").GetString() ?? string.Empty,
                    state.TryGetProperty("bytes", out var bytes) ? bytes.GetInt64() : -1,
                    state.TryGetProperty("ip", out var ip) ? ip.GetString() ?? string.Empty : string.Empty));
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
            {
            }
        }

        return entries;
    }

    /// <summary>The reference at the end of the path: a digest or a tag.</summary>
    public string Reference => Path[(Path.LastIndexOf('/') + 1)..];
}
