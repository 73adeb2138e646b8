using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Spegel.Hosting;

/// <summary>
/// One JSON object per line in the shape of Go's <c>slog.JSONHandler</c>, which Spegel logs with, so a log pipeline
/// built for Spegel keeps working: <c>time</c>, <c>level</c> (DEBUG/INFO/WARN/ERROR), <c>msg</c>, then the message's
/// attributes flat, with lower-camel-case keys (<c>path</c>, <c>status</c>, <c>method</c>, <c>ip</c> on request lines, as
/// Spegel's). Ours adds <c>logger</c> (the category), <c>eventId</c> (stable per message, see the <c>[LoggerMessage]</c>
/// declarations) and, with an exception, <c>err</c> (its message, as logr's <c>Error(err, …)</c>) and <c>exception</c>
/// (type and stack).
/// </summary>
internal sealed class SlogJsonFormatter() : ConsoleFormatter(Name)
{
    public new const string Name = "slog";

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        string message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (logEntry.Exception is null && message.Length == 0 && logEntry.State is not IReadOnlyList<KeyValuePair<string, object?>>)
        {
            return;
        }

        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("time", Time(DateTimeOffset.UtcNow));
            json.WriteString("level", Level(logEntry.LogLevel));
            json.WriteString("msg", message);
            json.WriteString("logger", logEntry.Category);
            if (logEntry.EventId.Id != 0)
            {
                json.WriteNumber("eventId", logEntry.EventId.Id);
            }
            if (logEntry.State is IReadOnlyList<KeyValuePair<string, object?>> attributes)
            {
                foreach (var (key, value) in attributes)
                {
                    if (key != "{OriginalFormat}")
                    {
                        json.WritePropertyName(Key(key));
                        WriteValue(json, value);
                    }
                }
            }

            if (logEntry.Exception is { } exception)
            {
                json.WriteString("err", exception.Message);
                json.WriteString("exception", exception.ToString());
            }

            json.WriteEndObject();
        }

        textWriter.Write(System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
        textWriter.Write('\n');
    }

    /// <summary>slog's level names; Trace is below DEBUG and Critical above ERROR, named as slog names such levels.</summary>
    internal static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "DEBUG-4",
        LogLevel.Debug => "DEBUG",
        LogLevel.Information => "INFO",
        LogLevel.Warning => "WARN",
        LogLevel.Error => "ERROR",
        _ => "ERROR+4",
    };

    /// <summary>RFC 3339 with the fraction's trailing zeros dropped, as Go's time formatting (RFC3339Nano).</summary>
    internal static string Time(DateTimeOffset time)
    {
        string fraction = time.UtcDateTime.ToString("fffffff", CultureInfo.InvariantCulture).TrimEnd('0');
        return time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture) + (fraction.Length > 0 ? "." + fraction : string.Empty) + "Z";
    }

    /// <summary><c>LatencyMs</c> → <c>latencyMs</c>: message-template names become slog-style keys.</summary>
    internal static string Key(string name) =>
        name.Length > 0 && char.IsUpper(name[0]) ? string.Concat(char.ToLowerInvariant(name[0]).ToString(), name.AsSpan(1)) : name;

    private static void WriteValue(Utf8JsonWriter json, object? value)
    {
        switch (value)
        {
            case null:
                json.WriteNullValue();
                break;
            case bool b:
                json.WriteBooleanValue(b);
                break;
            case int or long or short or byte or uint or ulong or ushort or sbyte:
                json.WriteNumberValue(Convert.ToInt64(value, CultureInfo.InvariantCulture));
                break;
            case double d when double.IsFinite(d):
                json.WriteNumberValue(d);
                break;
            case float f when float.IsFinite(f):
                json.WriteNumberValue(f);
                break;
            case decimal m:
                json.WriteNumberValue(m);
                break;
            case TimeSpan t:
                json.WriteStringValue(t.ToString("c", CultureInfo.InvariantCulture));
                break;
            case IFormattable formattable:
                json.WriteStringValue(formattable.ToString(null, CultureInfo.InvariantCulture));
                break;
            default:
                json.WriteStringValue(value.ToString());
                break;
        }
    }
}
