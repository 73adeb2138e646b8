using System.Text.RegularExpressions;
using Spegel.Store;

namespace Spegel.Oci;

/// <summary>
/// What may be advertised and mirrored (SPEC §2.2, §3.1, §4): only content of the mirrored registries (all when the
/// list is empty or a wildcard), never what a registry filter matches (<c>registry/repository[:tag]</c>), and no
/// <c>latest</c> tags when <c>--resolve-latest-tag=false</c>. The one place these rules live.
/// </summary>
internal sealed class ContentPolicy(IReadOnlyList<RegistryUrl> mirroredRegistries, IReadOnlyList<Regex> filters, bool resolveLatestTag)
{
    public const string SourceLabelPrefix = "containerd.io/distribution.source.";
    private readonly HashSet<string>? _registries = mirroredRegistries.Count == 0 || mirroredRegistries.Any(r => r.IsWildcard)
        ? null
        : mirroredRegistries.Select(r => r.Host).ToHashSet(StringComparer.OrdinalIgnoreCase);

    public static ContentPolicy AllowAll { get; } = new([], [], true);

    /// <summary>
    /// Whether a registry is mirrored. containerd's distribution-source labels name a registry by host without its port
    /// (<c>containerd.io/distribution.source.10.0.0.5</c> for <c>10.0.0.5:5000</c>), so a host matches a host:port too.
    /// </summary>
    public bool AllowsRegistry(string registry) =>
        _registries is null
        || _registries.Contains(registry)
        || _registries.Any(r => r.StartsWith(registry + ":", StringComparison.OrdinalIgnoreCase))
        || (registry == "docker.io" && _registries.Contains("registry-1.docker.io"));

    /// <summary>A reference <c>registry/repository[:tag]</c>.</summary>
    public bool Allows(string registry, string repository, string? tag)
    {
        if (!AllowsRegistry(registry))
        {
            return false;
        }

        if (tag == "latest" && !resolveLatestTag)
        {
            return false;
        }

        string text = tag is null ? $"{registry}/{repository}" : $"{registry}/{repository}:{tag}";
        foreach (var filter in filters)
        {
            try
            {
                if (filter.IsMatch(text))
                {
                    return false;
                }
            }
            catch (RegexMatchTimeoutException)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// A blob is advertised when one of the registries it came from (its distribution-source labels) is allowed;
    /// a blob with no source label only when nothing is restricted.
    /// </summary>
    public bool Allows(ContentInfo content)
    {
        bool anySource = false;
        foreach (var (key, value) in content.Labels)
        {
            if (!key.StartsWith(SourceLabelPrefix, StringComparison.Ordinal))
            {
                continue;
            }

            anySource = true;
            string registry = key[SourceLabelPrefix.Length..];
            foreach (string repository in value.Split(','))
            {
                if (Allows(registry, repository, null))
                {
                    return true;
                }
            }
        }

        return !anySource && _registries is null && filters.Count == 0;
    }

    /// <summary>A request: by tag, <c>ns/name:tag</c>; by digest, <c>ns/name</c> (when ns is known).</summary>
    public bool Allows(DistributionRequest request) =>
        request.Registry is null ? filters.Count == 0 || Allows("", request.Name, request.Tag) : Allows(request.Registry, request.Name, request.Tag);
}
