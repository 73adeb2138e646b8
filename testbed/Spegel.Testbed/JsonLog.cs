using System.Text.Json;

namespace Spegel.Testbed;

/// <summary>Reads spegel's JSON log lines (one object per line on stderr).</summary>
public static class JsonLog
{
    /// <summary>The <c>msg</c> of every JSON line (slog's shape); other lines are skipped.</summary>
    public static IReadOnlyList<string> Messages(string log)
    {
        var messages = new List<string>();
        foreach (string line in log.Split('\n'))
        {
            if (!line.StartsWith('{'))
            {
                continue;
            }

            try
            {
                using var json = JsonDocument.Parse(line);
                if (json.RootElement.TryGetProperty("msg", out var message) && message.GetString() is { } text)
                {
                    messages.Add(text);
                }
            }
            catch (JsonException)
            {
            }
        }

        return messages;
    }

    /// <summary>Every JSON line's <c>level</c> and <c>msg</c>.</summary>
    public static IReadOnlyList<(string Level, string Message)> Lines(string log)
    {
        var lines = new List<(string, string)>();
        foreach (string line in log.Split('\n'))
        {
            if (!line.StartsWith('{'))
            {
                continue;
            }

            try
            {
                using var json = JsonDocument.Parse(line);
                var root = json.RootElement;
                if (root.TryGetProperty("level", out var level) && root.TryGetProperty("msg", out var message))
                {
                    lines.Add((level.GetString() ?? string.Empty, message.GetString() ?? string.Empty));
                }
            }
            catch (JsonException)
            {
            }
        }

        return lines;
    }

    public static bool Contains(string log, string fragment) => Messages(log).Any(m => m.Contains(fragment, StringComparison.Ordinal));

    /// <summary>The lines of <paramref name="log"/> with one event id, parsed (slog shape, attributes flat).</summary>
    public static List<JsonElement> Events(string log, int eventId)
    {
        var events = new List<JsonElement>();
        foreach (string line in log.Split('\n'))
        {
            if (line.StartsWith('{') && line.Contains($"\"eventId\":{eventId}", StringComparison.Ordinal))
            {
                using var json = JsonDocument.Parse(line);
                if (json.RootElement.TryGetProperty("eventId", out var id) && id.GetInt32() == eventId)
                {
                    events.Add(json.RootElement.Clone());
                }
            }
        }

        return events;
    }
}
