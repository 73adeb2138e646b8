using System.Globalization;
using System.Text;
using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Parsing;
using Tomlyn.Syntax;

namespace Spegel.MirrorConfig;

/// <summary>
/// Extracts the <c>[host.'…']</c> tables of an existing <c>hosts.toml</c> so they can follow ours
/// (<c>--prepend-existing</c>), as Spegel does (<c>pkg/oci/containerd/mirror.go</c>, <c>existingHosts</c>): the
/// hosts with an explicit <c>[host.X]</c> header, in the order of those headers (a <c>[host.X.header]</c> written
/// before <c>[host.X]</c> does not move X up; a host defined only through sub-tables or dotted keys is dropped); each
/// re-marshalled whole, keys sorted and strings single-quoted where possible, as go-toml writes them.
/// </summary>
internal static class ExistingHosts
{
    /// <summary>The host tables as TOML text, or an empty string when the file has none.</summary>
    /// <exception cref="InvalidDataException">The file is not valid TOML.</exception>
    public static string Extract(string toml)
    {
        TomlTable model;
        try
        {
            model = TomlSerializer.Deserialize(toml, TomlModelContext.Default.TomlTable) ?? new TomlTable();
        }
        catch (Exception ex) when (ex is TomlException or FormatException or InvalidOperationException)
        {
            throw new InvalidDataException($"existing hosts.toml is not valid TOML: {ex.Message}", ex);
        }

        if (!model.TryGetValue("host", out object? hostValue) || hostValue is not TomlTable hosts || hosts.Count == 0)
        {
            return string.Empty;
        }

        var parts = new List<string>();
        foreach (string name in ExplicitHostHeaders(toml))
        {
            if (!hosts.TryGetValue(name, out object? value) || value is not TomlTable table)
            {
                continue;
            }

            var sb = new StringBuilder();
            WriteTable(sb, $"host.{Key(name)}", table);
            parts.Add(sb.ToString());
        }

        return string.Join("\n", parts).Trim();
    }

    /// <summary>The X of every <c>[host.X]</c> table header (not <c>[[…]]</c>, not deeper keys), in file order.</summary>
    private static List<string> ExplicitHostHeaders(string toml)
    {
        var names = new List<string>();
        foreach (var table in SyntaxParser.Parse(toml, validate: false).Tables)
        {
            if (table is TableSyntax { Name: { DotKeys.ChildrenCount: 1 } key } && KeyText(key.Key) == "host" && KeyText(key.DotKeys.GetChild(0)?.Key) is { } host && !names.Contains(host))
            {
                names.Add(host);
            }
        }

        return names;
    }

    private static string? KeyText(BareKeyOrStringValueSyntax? key) => key switch
    {
        BareKeySyntax bare => bare.Key?.Text,
        StringValueSyntax quoted => quoted.Value,
        _ => null,
    };

    private static void WriteTable(StringBuilder sb, string header, TomlTable table)
    {
        sb.Append('[').Append(header).Append("]\n");
        var keys = table.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        foreach (string key in keys)
        {
            if (table[key] is not TomlTable)
            {
                sb.Append(Key(key)).Append(" = ").Append(Value(table[key])).Append('\n');
            }
        }

        foreach (string key in keys)
        {
            if (table[key] is TomlTable child)
            {
                sb.Append('\n');
                WriteTable(sb, $"{header}.{Key(key)}", child);
            }
        }
    }

    private static string Key(string key)
    {
        bool bare = key.Length > 0 && key.All(c => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' or '-');
        return bare ? key : String(key);
    }

    private static string Value(object? value) => value switch
    {
        string s => String(s),
        bool b => b ? "true" : "false",
        long l => l.ToString(CultureInfo.InvariantCulture),
        int i => i.ToString(CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        TomlArray array => "[" + string.Join(", ", array.Select(Value)) + "]",
        TomlTable inline => "{" + string.Join(", ", inline.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{Key(p.Key)} = {Value(p.Value)}")) + "}",
        null => "''",
        _ => String(Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty),
    };

    /// <summary>A literal string when it can be one, else a basic string with escapes.</summary>
    private static string String(string s)
    {
        if (!s.Contains('\'') && !s.Any(char.IsControl))
        {
            return $"'{s}'";
        }

        var sb = new StringBuilder("\"");
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (char.IsControl(c))
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        return sb.Append('"').ToString();
    }
}
