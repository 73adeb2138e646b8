using System.Text.RegularExpressions;

namespace Spegel.Oci;

/// <summary>
/// What may be advertised, mirrored and answered (SPEC §2.2, §3.1, §4): only content of the mirrored registries (all
/// when the list is empty or a wildcard), never what a registry filter matches (<c>registry/repository[:tag]</c>,
/// not even from the local store: <see cref="IsFiltered"/>), and no <c>latest</c> tags from peers when
/// <c>--resolve-latest-tag=false</c>. The one place these rules live.
/// </summary>
internal sealed class ContentPolicy(IReadOnlyList<RegistryUrl> mirroredRegistries, IReadOnlyList<Regex> filters, bool resolveLatestTag)
{
    private readonly HashSet<string>? _registries = mirroredRegistries.Count == 0 || mirroredRegistries.Any(r => r.IsWildcard)
        ? null
        : mirroredRegistries.Select(r => r.Host).ToHashSet(StringComparer.OrdinalIgnoreCase);

    public static ContentPolicy AllowAll { get; } = new([], [], true);

    /// <summary>Only the listed registries are mirrored (a request for any other is filtered: <see cref="IsFiltered"/>).</summary>
    public bool RestrictsRegistries => _registries is not null;

    /// <summary>
    /// Whether a registry is mirrored. A blob's distribution source names a registry by host without its port
    /// (containerd's labels do: <c>10.0.0.5</c> for <c>10.0.0.5:5000</c>), so a host matches a host:port too.
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

        return !MatchesFilter(registry, repository, tag);
    }

    /// <summary>
    /// A blob is advertised when one of the registries it came from (its distribution sources) is allowed; a blob with
    /// no known source only when nothing is restricted.
    /// </summary>
    public bool Allows(IReadOnlyList<DistributionSource> sources)
    {
        foreach (var source in sources)
        {
            foreach (string repository in source.Repositories)
            {
                if (Allows(source.Registry, repository, null))
                {
                    return true;
                }
            }
        }

        return sources.Count == 0 && _registries is null && filters.Count == 0;
    }

    /// <summary>
    /// Whether a request is filtered out, as Spegel's registry does before it looks at the local store (Spegel
    /// ≥ v0.4, <c>pkg/registry/registry.go</c>): the registry (<c>ns</c>) is not a mirrored one, or a registry filter
    /// matches <c>ns/name:tag</c> (by tag) or <c>ns/name</c> (by digest). A filtered reference is answered 404 even
    /// when this node holds it, so containerd goes to the upstream (e.g. <c>:latest$</c> always resolves there).
    /// A digest request without <c>ns</c> (Spegel answers those 404) is judged with an empty registry, as Spegel's
    /// filters would: any mirrored-registries list, or a filter matching <c>/name</c>, excludes it.
    /// </summary>
    public bool IsFiltered(DistributionRequest request)
    {
        string registry = request.Registry ?? string.Empty;
        return !AllowsRegistry(registry) || MatchesFilter(registry, request.Name, request.Tag);
    }

    /// <summary>
    /// Whether a local miss may be looked up on peers: not filtered, and not a <c>latest</c> tag when
    /// <c>--resolve-latest-tag=false</c> (Spegel v0.3's flag only ever stopped mirroring, never local answers).
    /// </summary>
    public bool AllowsMirroring(DistributionRequest request) =>
        !IsFiltered(request) && !(request.Tag == "latest" && !resolveLatestTag);

    private bool MatchesFilter(string registry, string repository, string? tag)
    {
        string text = tag is null ? $"{registry}/{repository}" : $"{registry}/{repository}:{tag}";
        foreach (var filter in filters)
        {
            try
            {
                if (filter.IsMatch(text))
                {
                    return true;
                }
            }
            catch (RegexMatchTimeoutException)
            {
                return true;
            }
        }

        return false;
    }
}
