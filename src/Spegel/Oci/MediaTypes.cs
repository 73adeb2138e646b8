using System.Text.Json;

namespace Spegel.Oci;

/// <summary>Media types of OCI and Docker content, and the one place where a blob's type is read from its bytes (<see cref="Fingerprint"/>).</summary>
internal static class MediaTypes
{
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string OctetStream = "application/octet-stream";
    public const string EmptyJson = "application/vnd.oci.empty.v1+json";

    /// <summary>The largest manifest we read into memory (the OCI distribution spec's suggested limit).</summary>
    public const int MaxManifestBytes = 4 * 1024 * 1024;

    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;

    public static bool IsManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;

    /// <summary>
    /// The media type Spegel gives a blob it holds (its <c>Content-Type</c> on a whole-blob answer), found the way
    /// Spegel's <c>FingerprintMediaType</c> finds it, since containerd keeps no media type for content: exactly
    /// <c>{}</c> → the OCI empty type; a JSON object whose <c>schemaVersion</c> is 2 and <c>mediaType</c> set → that
    /// type; else one <c>manifests</c> array → OCI index; <c>config</c> object and <c>layers</c> array → OCI manifest;
    /// <c>architecture</c>, <c>os</c> (strings) and <c>rootfs</c> → OCI image config (Docker configs included);
    /// bytes that are not JSON → <c>application/octet-stream</c>. Returns null where Spegel fails (other JSON, empty
    /// input, a JSON value that is not an object); a blob over 4 MiB is octet-stream without being read (the caller).
    /// </summary>
    public static string? Fingerprint(ReadOnlySpan<byte> content)
    {
        if (content.Trim(" \t\r\n"u8).IsEmpty)
        {
            return null;
        }

        var reader = new Utf8JsonReader(content, new JsonReaderOptions { MaxDepth = 256 });
        try
        {
            if (!reader.Read())
            {
                return null;
            }
        }
        catch (JsonException)
        {
            return OctetStream;
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return null;
        }

        if (content.Length == 2)
        {
            return EmptyJson;
        }

        try
        {
            return FingerprintObject(ref reader);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? FingerprintObject(ref Utf8JsonReader reader)
    {
        int schemaVersion = 0, indexKeys = 0, manifestKeys = 0, configKeys = 0;
        string mediaType = string.Empty;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string key = reader.GetString()!;
            reader.Read();
            var type = reader.TokenType;
            switch (key)
            {
                case "schemaVersion" when type == JsonTokenType.Number && reader.TryGetInt32(out int version):
                    schemaVersion = version;
                    break;
                case "mediaType" when type == JsonTokenType.String:
                    mediaType = reader.GetString()!;
                    break;
                case "manifests" when IsDescriptorList(reader):
                    indexKeys++;
                    break;
                case "config" when type is JsonTokenType.StartObject or JsonTokenType.Null:
                    manifestKeys++;
                    break;
                case "layers" when IsDescriptorList(reader):
                    manifestKeys++;
                    break;
                case "architecture" or "os" when type is JsonTokenType.String or JsonTokenType.Null:
                case "rootfs":
                    configKeys++;
                    break;
            }

            reader.Skip();
            if (schemaVersion == 2 && mediaType.Length > 0)
            {
                return mediaType;
            }
        }

        return indexKeys == 1 ? OciIndex
            : manifestKeys == 2 ? OciManifest
            : configKeys == 3 ? OciConfig
            : null;
    }

    /// <summary>A JSON array whose items are all objects (or null), or null: what decodes into a descriptor list.</summary>
    private static bool IsDescriptorList(Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return true;
        }

        if (reader.TokenType != JsonTokenType.StartArray)
        {
            return false;
        }

        int depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndArray && reader.CurrentDepth == depth))
        {
            if (reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.Null))
            {
                return false;
            }

            reader.Skip();
        }

        return true;
    }
}
