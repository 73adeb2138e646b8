namespace Spegel.Oci;

/// <summary>
/// A containerd image name: <c>registry/repository:tag</c>, <c>registry/repository@digest</c> or
/// <c>registry/repository:tag@digest</c> (CRI pulls also create names that are a bare config digest).
/// </summary>
internal sealed record ImageName(string Registry, string Repository, string? Tag, string? Digest)
{
    /// <summary>The tag key Spegel advertises: <c>registry/repository:tag</c>, or null for digest-only names.</summary>
    public string? TagKey => Tag is null ? null : $"{Registry}/{Repository}:{Tag}";

    public static ImageName? TryParse(string name)
    {
        string rest = name;
        string? digest = null;
        int at = rest.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            digest = rest[(at + 1)..];
            rest = rest[..at];
        }

        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0)
        {
            return null; // no registry part (e.g. "sha256:…" names from CRI pulls)
        }

        string registry = rest[..slash];
        string path = rest[(slash + 1)..];
        string? tag = null;
        int colon = path.LastIndexOf(':');
        if (colon >= 0)
        {
            tag = path[(colon + 1)..];
            path = path[..colon];
        }

        if (!DistributionPath.IsValidRegistry(registry) || !DistributionPath.IsValidName(path) || (tag is not null && !DistributionPath.IsValidTag(tag)))
        {
            return null;
        }

        return new ImageName(registry, path, tag, digest);
    }
}
