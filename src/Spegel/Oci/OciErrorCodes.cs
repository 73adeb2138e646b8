namespace Spegel.Oci;

/// <summary>Error codes of the OCI distribution spec (and Docker's TAG_INVALID) that this mirror returns.</summary>
internal static class OciErrorCodes
{
    public const string BlobUnknown = "BLOB_UNKNOWN";
    public const string ManifestUnknown = "MANIFEST_UNKNOWN";
    public const string NameInvalid = "NAME_INVALID";
    public const string TagInvalid = "TAG_INVALID";
    public const string DigestInvalid = "DIGEST_INVALID";
    public const string Unauthorized = "UNAUTHORIZED";
    public const string RangeInvalid = "RANGE_INVALID";
    public const string Unsupported = "UNSUPPORTED";
    public const string Denied = "DENIED";

    /// <summary>
    /// A 503 (a bound refused the request, or containerd did not answer): docker distribution's code for it; the OCI
    /// list has only TOOMANYREQUESTS, which goes with a 429, and containerd retries a 429 on the same host.
    /// </summary>
    public const string Unavailable = "UNAVAILABLE";
}
