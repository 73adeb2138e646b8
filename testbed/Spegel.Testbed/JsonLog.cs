using System.Text.Json;

namespace Spegel.Testbed;

/// <summary>Reads spegel's JSON log lines (one object per line on stderr).</summary>
public static class JsonLog
{
    /// <summary>The <c>Message</c> of every JSON line; other lines are skipped.</summary>
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
                if (json.RootElement.TryGetProperty("Message", out var message) && message.GetString() is { } text)
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

    public static bool Contains(string log, string fragment) => Messages(log).Any(m => m.Contains(fragment, StringComparison.Ordinal));
}
