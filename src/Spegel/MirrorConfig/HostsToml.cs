using System.Text;
using Spegel.Oci;

namespace Spegel.MirrorConfig;

/// <summary>
/// Renders containerd's <c>hosts.toml</c> for one mirrored registry, byte for byte as Spegel writes it (single-quoted
/// TOML strings, a blank line between tables, no trailing newline).
/// </summary>
internal static class HostsToml
{
    public static string Render(RegistryUrl registry, IReadOnlyList<RegistryUrl> mirrorTargets, bool resolveTags, string? authorization)
    {
        var sb = new StringBuilder();
        string? server = registry.IsWildcard ? null
            : registry.ToString() == "https://docker.io" ? "https://registry-1.docker.io"
            : registry.ToString();
        if (server is not null)
        {
            sb.Append("server = '").Append(server).Append("'\n");
        }

        string capabilities = resolveTags ? "['pull', 'resolve']" : "['pull']";
        foreach (var target in mirrorTargets)
        {
            sb.Append('\n');
            sb.Append("[host.'").Append(target).Append("']\n");
            sb.Append("capabilities = ").Append(capabilities).Append('\n');
            sb.Append("dial_timeout = '200ms'\n");
            if (authorization is not null)
            {
                sb.Append("[host.'").Append(target).Append("'.header]\n");
                sb.Append("Authorization = '").Append(authorization).Append("'\n");
            }
        }

        return sb.ToString().Trim();
    }

    /// <summary>The folder a registry's hosts.toml goes in: its host[:port], or <c>_default</c>.</summary>
    public static string FolderName(RegistryUrl registry) => registry.Host;
}
