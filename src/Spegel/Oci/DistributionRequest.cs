using System.Text.RegularExpressions;

namespace Spegel.Oci;

internal enum DistributionKind
{
    Manifest,
    Blob,
}

/// <summary>
/// A parsed OCI distribution read: <c>/v2/&lt;name&gt;/manifests/&lt;reference&gt;</c> or
/// <c>/v2/&lt;name&gt;/blobs/&lt;digest&gt;</c>, with the <c>ns</c> query parameter containerd adds for mirrors.
/// </summary>
internal sealed record DistributionRequest(DistributionKind Kind, string Name, string? Tag, Digest? Digest, string? Registry)
{
    /// <summary>
    /// The routing key: the digest, or <c>registry/name:tag</c> (the containerd image name of a tag), exactly the
    /// strings Spegel advertises.
    /// </summary>
    public string Key => Digest is { } d ? d.ToString() : $"{Registry}/{Name}:{Tag}";
}

/// <summary>Why a request path is not a distribution read we serve; maps to an OCI error.</summary>
internal sealed record PathError(int Status, string Code, string Message);

/// <summary>Parses request targets strictly. The single owner of name/tag/digest syntax.</summary>
internal static partial class DistributionPath
{
    public const int MaxNameLength = 255;
    public const int MaxTargetLength = 4096;

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 100)]
    private static partial Regex NameRegex();

    [GeneratedRegex(@"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 100)]
    private static partial Regex TagRegex();

    // A registry host as containerd puts it in ?ns=: host[:port] or [ipv6][:port].
    [GeneratedRegex(@"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 100)]
    private static partial Regex RegistryRegex();

    public static bool IsValidName(string name) => name.Length <= MaxNameLength && NameRegex().IsMatch(name);

    public static bool IsValidTag(string tag) => TagRegex().IsMatch(tag);

    public static bool IsValidRegistry(string registry) => registry.Length <= 255 && RegistryRegex().IsMatch(registry);

    /// <summary>True for <c>/v2</c> and <c>/v2/</c>, the API version check.</summary>
    public static bool IsBase(string path) => path is "/v2/" or "/v2";

    /// <summary>
    /// Parses a decoded path and the raw <c>ns</c> query value. Path traversal cannot get through: every component
    /// must match the strict grammar, and only the digest (validated hex) is ever used to build a file path.
    /// </summary>
    public static DistributionRequest? Parse(string path, string? ns, out PathError? error)
    {
        error = null;
        if (!path.StartsWith("/v2/", StringComparison.Ordinal))
        {
            error = new PathError(404, OciErrorCodes.Unsupported, "not a registry API path");
            return null;
        }

        string rest = path[4..];
        DistributionKind kind;
        int split = rest.LastIndexOf("/manifests/", StringComparison.Ordinal);
        int blobSplit = rest.LastIndexOf("/blobs/", StringComparison.Ordinal);
        string reference;
        string name;
        if (split >= 0 && split > blobSplit)
        {
            kind = DistributionKind.Manifest;
            name = rest[..split];
            reference = rest[(split + "/manifests/".Length)..];
        }
        else if (blobSplit >= 0)
        {
            kind = DistributionKind.Blob;
            name = rest[..blobSplit];
            reference = rest[(blobSplit + "/blobs/".Length)..];
        }
        else
        {
            error = new PathError(404, OciErrorCodes.Unsupported, "only manifest and blob reads are served by this mirror");
            return null;
        }

        if (!IsValidName(name))
        {
            error = new PathError(400, OciErrorCodes.NameInvalid, name.Length > MaxNameLength
                ? $"repository name is longer than {MaxNameLength} characters"
                : "invalid repository name");
            return null;
        }

        string? registry = null;
        if (ns is not null)
        {
            if (!IsValidRegistry(ns))
            {
                error = new PathError(400, OciErrorCodes.NameInvalid, "invalid ns parameter: expected a registry host[:port]");
                return null;
            }

            registry = ns;
        }

        if (reference.Contains(':', StringComparison.Ordinal))
        {
            if (!Digest.TryParse(reference, out var digest, out string? digestError))
            {
                error = new PathError(400, OciErrorCodes.DigestInvalid, digestError);
                return null;
            }

            return new DistributionRequest(kind, name, null, digest, registry);
        }

        if (kind == DistributionKind.Blob)
        {
            error = new PathError(400, OciErrorCodes.DigestInvalid, "blobs are addressed by digest (algorithm:hex)");
            return null;
        }

        if (!IsValidTag(reference))
        {
            error = new PathError(400, OciErrorCodes.TagInvalid, "invalid tag");
            return null;
        }

        if (registry is null)
        {
            // Spegel only resolves tags for a known registry: containerd always sends ?ns= to a mirror.
            error = new PathError(404, OciErrorCodes.ManifestUnknown, "a tag needs the ns query parameter (the registry it belongs to)");
            return null;
        }

        return new DistributionRequest(kind, name, reference, null, registry);
    }
}
