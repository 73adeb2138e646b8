using System.Text.Json;
using Spegel.Oci;

namespace Spegel.Hosting;

/// <summary>
/// Why the debug page's measurement was refused or stopped. The message names what was wrong and never quotes bytes
/// that were fetched (a manifest, a blob, a header): the page shows it.
/// </summary>
internal sealed class MeasureFailedException(string message, bool badInput = false) : Exception(message)
{
    /// <summary>True when the request was at fault (400), false when what the node fetched was (502).</summary>
    public bool BadInput { get; } = badInput;
}

/// <summary>What the debug page measures: an image reference checked against the OCI grammar before it becomes a URL.</summary>
internal sealed record MeasureTarget(ImageName Name, string Reference, Digest? Digest)
{
    public const int MaxLength = 512;

    /// <summary>The manifest's key in the DHT: its digest, or <c>registry/repository:tag</c>.</summary>
    public string Key => Digest?.ToString() ?? Name.TagKey!;

    public static MeasureTarget Parse(string? image)
    {
        if (string.IsNullOrWhiteSpace(image))
        {
            throw new MeasureFailedException("enter an image reference such as docker.io/library/nginx:1.27", badInput: true);
        }

        if (image.Length > MaxLength)
        {
            throw new MeasureFailedException($"the image reference is longer than {MaxLength} characters", badInput: true);
        }

        var name = ImageName.TryParse(image)
            ?? throw new MeasureFailedException($"'{image}' is not an image reference: registry/repository:tag or registry/repository@sha256:<64 hex>, lowercase repository", badInput: true);
        if (name.Digest is not null)
        {
            if (!Oci.Digest.TryParse(name.Digest, out var digest, out string? error))
            {
                throw new MeasureFailedException($"the image's digest (after '@') is not valid: {error}", badInput: true);
            }

            return new MeasureTarget(name, digest.ToString(), digest);
        }

        return name.Tag is null
            ? throw new MeasureFailedException("the image reference needs a tag or a digest", badInput: true)
            : new MeasureTarget(name, name.Tag, null);
    }
}

/// <summary>
/// Reads the manifests a measured pull fetches (the bytes come from peers, through the local instance): every digest
/// is checked before it becomes a URL, an index's entries must be manifests, and a manifest may name at most
/// <see cref="MaxLayers"/> layers.
/// </summary>
internal static class MeasuredManifest
{
    public const int MaxLayers = 256;

    /// <summary>True for an index, false for a manifest, by the answer's <c>Content-Type</c> (and the JSON's own <c>mediaType</c>).</summary>
    public static bool IsIndex(string? contentType, JsonElement root)
    {
        bool index = MediaTypes.IsIndex(contentType);
        if (!index && !MediaTypes.IsManifest(contentType))
        {
            throw new MeasureFailedException("the local registry answered the manifest with a Content-Type that is not an OCI or Docker manifest or index");
        }

        if (root.TryGetProperty("mediaType", out var declared) && (declared.ValueKind != JsonValueKind.String || MediaTypes.IsIndex(declared.GetString()) != index || !(MediaTypes.IsIndex(declared.GetString()) || MediaTypes.IsManifest(declared.GetString()))))
        {
            throw new MeasureFailedException("the manifest's mediaType field does not agree with its Content-Type");
        }

        return index;
    }

    /// <summary>Parses manifest bytes as a JSON object, saying only that they are not one (a parser's message quotes the bytes).</summary>
    public static JsonDocument Parse(ReadOnlyMemory<byte> bytes)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException)
        {
            throw new MeasureFailedException("the manifest is not valid JSON");
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw new MeasureFailedException("the manifest is not a JSON object");
        }

        return document;
    }

    /// <summary>The manifest of an index to measure: linux/amd64 if listed, else the first manifest; every entry's digest must be valid.</summary>
    public static Digest ChoosePlatform(JsonElement index)
    {
        if (!index.TryGetProperty("manifests", out var manifests) || manifests.ValueKind != JsonValueKind.Array)
        {
            throw new MeasureFailedException("the index has no manifests array");
        }

        Digest? first = null;
        int position = 0;
        foreach (var entry in manifests.EnumerateArray())
        {
            position++;
            var digest = DescriptorDigest(entry, $"entry {position} of the index");
            if (entry.TryGetProperty("mediaType", out var mediaType) && !MediaTypes.IsManifest(mediaType.ValueKind == JsonValueKind.String ? mediaType.GetString() : null))
            {
                continue; // a nested index or an artifact: not what a pull of this platform fetches
            }

            first ??= digest;
            if (entry.TryGetProperty("platform", out var platform) && platform.ValueKind == JsonValueKind.Object
                && Text(platform, "os") == "linux" && Text(platform, "architecture") == "amd64")
            {
                return digest;
            }
        }

        return first ?? throw new MeasureFailedException("the index lists no image manifest");
    }

    /// <summary>The config and layers of an image manifest, each digest valid, at most <see cref="MaxLayers"/> layers.</summary>
    public static IReadOnlyList<(string Kind, Digest Digest)> Blobs(JsonElement manifest)
    {
        if (!manifest.TryGetProperty("config", out var config))
        {
            throw new MeasureFailedException("the manifest has no config");
        }

        if (!manifest.TryGetProperty("layers", out var layers) || layers.ValueKind != JsonValueKind.Array)
        {
            throw new MeasureFailedException("the manifest has no layers array");
        }

        int count = layers.GetArrayLength();
        if (count > MaxLayers)
        {
            throw new MeasureFailedException($"the manifest lists {count} layers; the debug page measures images of at most {MaxLayers}");
        }

        var blobs = new List<(string, Digest)>(count + 1) { ("config", DescriptorDigest(config, "the config of the manifest")) };
        int position = 0;
        foreach (var layer in layers.EnumerateArray())
        {
            position++;
            blobs.Add(("layer", DescriptorDigest(layer, $"layer {position} of the manifest")));
        }

        return blobs;
    }

    private static Digest DescriptorDigest(JsonElement descriptor, string what)
    {
        if (descriptor.ValueKind != JsonValueKind.Object)
        {
            throw new MeasureFailedException($"{what} is not a descriptor object");
        }

        if (descriptor.TryGetProperty("mediaType", out var mediaType) && mediaType.ValueKind != JsonValueKind.String)
        {
            throw new MeasureFailedException($"{what} has a mediaType that is not a string");
        }

        string? text = descriptor.TryGetProperty("digest", out var digest) && digest.ValueKind == JsonValueKind.String ? digest.GetString() : null;
        return Digest.TryParse(text, out var parsed, out _)
            ? parsed
            : throw new MeasureFailedException($"{what} has no valid digest (sha256:<64 lowercase hex> or sha512:<128 lowercase hex>)");
    }

    private static string? Text(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
