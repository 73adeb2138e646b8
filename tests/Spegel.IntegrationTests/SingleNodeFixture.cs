using Spegel.Testbed;

namespace Spegel.IntegrationTests;

/// <summary>
/// One node with real parts, shared by the single-node tests: a Distribution registry with the standard test images
/// pushed by skopeo; containerd A that pulled them all; <c>spegel registry</c> serving A's content; then the
/// registry is stopped, so everything afterwards comes from the mirror or nowhere.
/// </summary>
public sealed class SingleNodeFixture : IAsyncLifetime
{
    public string Root { get; } = Directory.CreateTempSubdirectory("sp-it-").FullName;

    public OciLayout Layout { get; private set; } = null!;

    public IReadOnlyList<TestImage> Images { get; private set; } = [];

    public RegistryNode Upstream { get; private set; } = null!;

    public ContainerdNode NodeA { get; private set; } = null!;

    public SpegelProcess Spegel { get; private set; } = null!;

    /// <summary>A's content digests after pulling every image.</summary>
    public IReadOnlySet<string> ContentOfA { get; private set; } = new HashSet<string>();

    public async Task InitializeAsync()
    {
        Tools.Require(Tools.Containerd, Tools.Ctr, Tools.Registry, Tools.Skopeo);
        Layout = new OciLayout(Path.Combine(Root, "layout"));
        Images = TestImages.Build(Layout);
        Upstream = await RegistryNode.StartAsync(Path.Combine(Root, "upstream"));
        foreach (var image in Images)
        {
            await TestImages.PushAsync(Layout, image, Upstream.Address);
        }

        NodeA = await ContainerdNode.StartAsync(Path.Combine(Root, "a"));
        NodeA.WriteDirectHosts(Upstream.Address);
        foreach (var image in Images)
        {
            var result = image.IsArtifact ? await NodeA.FetchAsync(image.Reference(Upstream.Address)) : await NodeA.PullAsync(image.Reference(Upstream.Address));
            result.EnsureSuccess($"node A pulling {image.Repository}");
        }

        ContentOfA = (await NodeA.ContentDigestsAsync()).ToHashSet();
        Spegel = await SpegelProcess.StartAsync(
            Path.Combine(Root, "spegel-a.log"),
            $"127.0.0.1:{Network.FreePort()}",
            ["--containerd-sock", NodeA.Socket, "--containerd-content-path", string.Empty, "--bootstrap-kind", "static", "--log-level", "DEBUG"]);
        await Upstream.StopAsync();
    }

    public string UpstreamImage(TestImage image) => image.Reference(Upstream.Address);

    public async Task DisposeAsync()
    {
        await Spegel.DisposeAsync();
        await NodeA.DisposeAsync();
        await Upstream.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class SingleNodeCollection : ICollectionFixture<SingleNodeFixture>
{
    public const string Name = "single node";
}
