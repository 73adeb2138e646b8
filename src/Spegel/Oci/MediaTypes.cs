using System.Text.Json;

namespace Spegel.Oci;

/// <summary>Media types of OCI and Docker content, and the one place where a manifest's type is sniffed.</summary>
internal static class MediaTypes
{
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string OctetStream = "application/octet-stream";

    /// <summary>The largest manifest we read into memory (the OCI distribution spec's suggested limit).</summary>
    public const int MaxManifestBytes = 4 * 1024 * 1024;

    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;

    public static bool IsManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;

    /// <summary>
    /// The media type of a manifest document: its <c>mediaType</c> field when present, otherwise guessed from its
    /// shape (<c>manifests</c> → index, <c>config</c> → manifest, <c>architecture</c>+<c>os</c>+<c>rootfs</c> →
    /// image config). Some real images have manifests without <c>mediaType</c>. Returns null when the bytes are not
    /// a JSON object we recognise.
    /// </summary>
    public static string? Sniff(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            string? mediaType = null;
            bool manifests = false, config = false, architecture = false, os = false, rootfs = false;
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == 0)
                {
                    break;
                }

                if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1)
                {
                    continue;
                }

                if (reader.ValueTextEquals("mediaType"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        mediaType = reader.GetString();
                    }
                }
                else if (reader.ValueTextEquals("manifests"u8))
                {
                    manifests = true;
                }
                else if (reader.ValueTextEquals("config"u8))
                {
                    config = true;
                }
                else if (reader.ValueTextEquals("architecture"u8))
                {
                    architecture = true;
                }
                else if (reader.ValueTextEquals("os"u8))
                {
                    os = true;
                }
                else if (reader.ValueTextEquals("rootfs"u8))
                {
                    rootfs = true;
                }

                if (reader.TokenType is JsonTokenType.PropertyName)
                {
                    reader.Read();
                }

                reader.Skip();
            }

            if (!string.IsNullOrEmpty(mediaType))
            {
                return mediaType;
            }

            if (manifests)
            {
                return OciIndex;
            }

            if (config)
            {
                return OciManifest;
            }

            return architecture && os && rootfs ? OciConfig : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
