using System.Text;

namespace Spegel.Testbed;

/// <summary>How an image is pushed: as OCI, or converted to Docker schema 2 media types.</summary>
public enum PushFormat
{
    Oci,
    DockerV2S2,
}

/// <summary>An image of the test set: where it is in the layout, where it goes, how it is pulled.</summary>
public sealed record TestImage(string Repository, string Tag, PushFormat Format, bool IsIndex, bool IsArtifact, string Description)
{
    /// <summary>The name containerd pulls: <c>registry/repository:tag</c>.</summary>
    public string Reference(string registry) => $"{registry}/{Repository}:{Tag}";

    public string LayoutTag => $"{Repository.Replace('/', '-')}-{Tag}";
}

/// <summary>
/// The standard image set of the integration tests: several layers of different sizes; a multi-platform index;
/// a manifest without <c>mediaType</c>; Docker schema-2 media types; an OCI artifact with a non-image config media type.
/// </summary>
public static class TestImages
{
    public const string ArtifactConfigType = "application/vnd.spegel.test.config.v1+json";
    public const string ArtifactLayerType = "application/vnd.spegel.test.data.v1";

    public static IReadOnlyList<TestImage> Build(OciLayout layout, long largeLayerBytes = 8 * 1024 * 1024)
    {
        var images = new List<TestImage>();

        // 1. Several layers of different sizes (1 byte to largeLayerBytes).
        var layers = new[] { layout.AddLayer(1, 1), layout.AddLayer(2, 100 * 1024), layout.AddLayer(3, largeLayerBytes) };
        var config = layout.AddConfig("amd64", layers.Select(l => l.DiffId));
        var multi = layout.AddManifest(config, layers.Select(l => l.Layer));
        images.Add(Tagged(layout, new TestImage("spegeltest/multilayer", "1", PushFormat.Oci, false, false, "3 layers: 1 B, 100 KiB, large"), multi));

        // 2. A multi-platform index (amd64 + arm64); containerd pulls only the host platform's manifest.
        var amdLayer = layout.AddLayer(10, 300 * 1024);
        var armLayer = layout.AddLayer(11, 200 * 1024);
        var amd = layout.AddManifest(layout.AddConfig("amd64", [amdLayer.DiffId]), [amdLayer.Layer]);
        var arm = layout.AddManifest(layout.AddConfig("arm64", [armLayer.DiffId]), [armLayer.Layer]);
        var index = layout.AddIndex([(amd, "amd64"), (arm, "arm64")]);
        images.Add(Tagged(layout, new TestImage("spegeltest/multiplatform", "1", PushFormat.Oci, true, false, "index of amd64 + arm64"), index));

        // 3. A manifest without mediaType.
        var bare = layout.AddLayer(20, 50 * 1024);
        var bareManifest = layout.AddManifest(layout.AddConfig("amd64", [bare.DiffId]), [bare.Layer], includeMediaType: false);
        images.Add(Tagged(layout, new TestImage("spegeltest/nomediatype", "1", PushFormat.Oci, false, false, "manifest without mediaType"), bareManifest));

        // 4. Docker schema-2 media types (skopeo converts on push).
        var docker = layout.AddLayer(30, 400 * 1024);
        var dockerManifest = layout.AddManifest(layout.AddConfig("amd64", [docker.DiffId]), [docker.Layer]);
        images.Add(Tagged(layout, new TestImage("library/dockerv2", "1", PushFormat.DockerV2S2, false, false, "Docker schema 2"), dockerManifest));

        // 5. An OCI artifact: a non-image config media type and a non-tar layer (what image volumes pull).
        var artifactConfig = layout.AddBlob(Encoding.UTF8.GetBytes("{\"kind\":\"spegel-test\"}"), ArtifactConfigType);
        var artifactLayer = layout.AddBlob(Encoding.UTF8.GetBytes(new string('x', 4096)), ArtifactLayerType);
        var artifact = layout.AddManifest(artifactConfig, [artifactLayer], artifactType: ArtifactConfigType);
        images.Add(Tagged(layout, new TestImage("spegeltest/artifact", "1", PushFormat.Oci, false, true, "OCI artifact"), artifact));

        return images;
    }

    /// <summary>One single-platform image with layers of the given sizes (seeded by <paramref name="seed"/>).</summary>
    public static TestImage BuildImage(OciLayout layout, string repository, string tag, IReadOnlyList<long> layerSizes, int seed)
    {
        var layers = layerSizes.Select((size, i) => layout.AddLayer(seed + i, size)).ToList();
        var manifest = layout.AddManifest(layout.AddConfig("amd64", layers.Select(l => l.DiffId)), layers.Select(l => l.Layer));
        return Tagged(layout, new TestImage(repository, tag, PushFormat.Oci, false, false, $"{layerSizes.Count} layers"), manifest);
    }

    private static TestImage Tagged(OciLayout layout, TestImage image, OciDescriptor target)
    {
        layout.Tag(image.LayoutTag, target);
        return image;
    }

    /// <summary>Pushes an image of the layout with skopeo, keeping the manifest bytes (and so the digests).</summary>
    public static async Task PushAsync(OciLayout layout, TestImage image, string registryAddress, string? netns = null)
    {
        Tools.Require(Tools.Skopeo);
        var args = new List<string> { "copy", "--quiet", "--dest-tls-verify=false" };
        if (image.IsIndex)
        {
            args.Add("--all");
        }

        if (image.Format == PushFormat.DockerV2S2)
        {
            args.AddRange(["--format", "v2s2"]);
        }
        else
        {
            args.Add("--preserve-digests");
        }

        args.Add($"oci:{layout.Folder}:{image.LayoutTag}");
        args.Add($"docker://{image.Reference(registryAddress)}");
        var result = netns is null
            ? await ProcessRunner.RunAsync(Tools.Skopeo, args, TimeSpan.FromMinutes(5)).ConfigureAwait(false)
            : await TestNetwork.ExecAsync(netns, [Tools.Skopeo, .. args], TimeSpan.FromMinutes(5)).ConfigureAwait(false);
        result.EnsureSuccess($"skopeo copy {image.LayoutTag}");
    }
}
