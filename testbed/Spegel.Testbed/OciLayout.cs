using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spegel.Testbed;

/// <summary>A content descriptor of a blob written to the layout.</summary>
public sealed record OciDescriptor(string MediaType, string Digest, long Size)
{
    public JsonObject ToJson(JsonObject? platform = null)
    {
        var json = new JsonObject { ["mediaType"] = MediaType, ["digest"] = Digest, ["size"] = Size };
        if (platform is not null)
        {
            json["platform"] = platform;
        }

        return json;
    }
}

/// <summary>
/// Writes an OCI image layout deterministically and offline: layers are tars of seeded pseudo-random bytes,
/// gzip level 0 (random bytes do not compress, and level 0 keeps building fast), streamed through files so
/// gigabyte layers never sit in memory. TESTBED.md §2.
/// </summary>
public sealed class OciLayout
{
    public const string LayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string ConfigType = "application/vnd.oci.image.config.v1+json";
    public const string ManifestType = "application/vnd.oci.image.manifest.v1+json";
    public const string IndexType = "application/vnd.oci.image.index.v1+json";
    private static readonly DateTimeOffset Epoch = new(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly List<JsonObject> _refs = [];

    public OciLayout(string folder)
    {
        Folder = folder;
        Directory.CreateDirectory(Path.Combine(folder, "blobs", "sha256"));
        File.WriteAllText(Path.Combine(folder, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
    }

    public string Folder { get; }

    public string BlobPath(string digest) => Path.Combine(Folder, "blobs", "sha256", digest["sha256:".Length..]);

    /// <summary>A gzip layer holding one file of <paramref name="size"/> pseudo-random bytes; also returns its diff ID.</summary>
    public (OciDescriptor Layer, string DiffId) AddLayer(int seed, long size)
    {
        string tarPath = Path.Combine(Folder, $"tmp-{Guid.NewGuid():N}.tar");
        string gzPath = tarPath + ".gz";
        try
        {
            using (var tarFile = File.Create(tarPath))
            using (var tar = new TarWriter(tarFile, TarEntryFormat.Pax, leaveOpen: false))
            {
                var entry = new PaxTarEntry(TarEntryType.RegularFile, $"data-{seed}.bin")
                {
                    ModificationTime = Epoch,
                    Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                    DataStream = new PseudoRandomStream(seed, size),
                };
                tar.WriteEntry(entry);
            }

            string diffId = "sha256:" + HashFile(tarPath);
            using (var source = File.OpenRead(tarPath))
            using (var target = File.Create(gzPath))
            using (var gzip = new GZipStream(target, CompressionLevel.NoCompression))
            {
                source.CopyTo(gzip, 1024 * 1024);
            }

            return (Store(gzPath, LayerGzip), diffId);
        }
        finally
        {
            File.Delete(tarPath);
            File.Delete(gzPath);
        }
    }

    /// <summary>A raw blob with any media type (artifact layers, configs).</summary>
    public OciDescriptor AddBlob(byte[] content, string mediaType)
    {
        string temp = Path.Combine(Folder, $"tmp-{Guid.NewGuid():N}");
        File.WriteAllBytes(temp, content);
        return Store(temp, mediaType);
    }

    public OciDescriptor AddJson(JsonObject json, string mediaType) =>
        AddBlob(Encoding.UTF8.GetBytes(json.ToJsonString()), mediaType);

    /// <summary>An image config for <paramref name="diffIds"/>.</summary>
    public OciDescriptor AddConfig(string architecture, IEnumerable<string> diffIds) => AddJson(new JsonObject
    {
        ["architecture"] = architecture,
        ["os"] = "linux",
        ["created"] = "2024-01-01T00:00:00Z",
        ["config"] = new JsonObject(),
        ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(diffIds.Select(d => (JsonNode)d!).ToArray()) },
    }, ConfigType);

    /// <summary>A manifest; <paramref name="includeMediaType"/> false writes one without <c>mediaType</c> (some real images do).</summary>
    public OciDescriptor AddManifest(OciDescriptor config, IEnumerable<OciDescriptor> layers, bool includeMediaType = true, string? artifactType = null)
    {
        var json = new JsonObject { ["schemaVersion"] = 2 };
        if (includeMediaType)
        {
            json["mediaType"] = ManifestType;
        }

        if (artifactType is not null)
        {
            json["artifactType"] = artifactType;
        }

        json["config"] = config.ToJson();
        json["layers"] = new JsonArray(layers.Select(l => (JsonNode)l.ToJson()).ToArray());
        return AddJson(json, ManifestType);
    }

    public OciDescriptor AddIndex(IEnumerable<(OciDescriptor Manifest, string Architecture)> manifests) => AddJson(new JsonObject
    {
        ["schemaVersion"] = 2,
        ["mediaType"] = IndexType,
        ["manifests"] = new JsonArray(manifests.Select(m => (JsonNode)m.Manifest.ToJson(new JsonObject { ["architecture"] = m.Architecture, ["os"] = "linux" })).ToArray()),
    }, IndexType);

    /// <summary>Names <paramref name="target"/> in the layout's index.json, so skopeo can copy <c>oci:dir:tag</c>.</summary>
    public void Tag(string tag, OciDescriptor target)
    {
        var json = target.ToJson();
        json["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = tag };
        _refs.Add(json);
        File.WriteAllText(Path.Combine(Folder, "index.json"), new JsonObject
        {
            ["schemaVersion"] = 2,
            ["manifests"] = new JsonArray(_refs.Select(r => (JsonNode)r.DeepClone()).ToArray()),
        }.ToJsonString());
    }

    private OciDescriptor Store(string tempPath, string mediaType)
    {
        string hex = HashFile(tempPath);
        long size = new FileInfo(tempPath).Length;
        string target = Path.Combine(Folder, "blobs", "sha256", hex);
        if (File.Exists(target))
        {
            File.Delete(tempPath);
        }
        else
        {
            File.Move(tempPath, target);
        }

        return new OciDescriptor(mediaType, "sha256:" + hex, size);
    }

    public static string HashFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1024 * 1024);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    public static string ToJsonText(JsonObject json) => json.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
}
