using System.Security.Cryptography;
using Spegel.Testbed;

namespace Spegel.EndToEndTests;

/// <summary>
/// Four nodes and an upstream registry, shared by the end-to-end tests. node 1 pulls every test image from upstream
/// and node 2 the big and multi-layer ones; then the upstream is stopped, so what nodes 3 and 4 pull comes from peers.
/// Tests leave nodes 3 and 4 empty and restore anything they break. The nodes share a swarm key: admitted members are
/// trusted for tags, so a tag one node holds resolves from it while the upstream is down (without a key a tag needs two
/// independent peers that agree, docs/security.md, and here one node holds each image).
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public const long BigLayerBytes = 200L * 1000 * 1000;

    public string Root { get; } = Directory.CreateTempSubdirectory("sp-e2e-").FullName;

    public Cluster Cluster { get; private set; } = null!;

    public IReadOnlyList<TestImage> Images { get; private set; } = [];

    public TestImage Big { get; private set; } = null!;

    public TestImage Multilayer => Images.Single(i => i.Repository == "spegeltest/multilayer");

    /// <summary>The key the nodes prove peer requests with (derived from the swarm key), for tests that ask as a peer.</summary>
    internal Spegel.Oci.PeerKey PeerKey { get; private set; } = null!;

    /// <summary>curl's headers for a GET of <paramref name="path"/> from <paramref name="node"/> as a peer asks: marked, with a proof.</summary>
    internal string[] PeerHeaders(ClusterNode node, string path) =>
    [
        "-H", "X-Spegel-Mirrored: true",
        "-H", "X-Spegel-Peer-Proof: " + Spegel.Oci.PeerProof.Create(PeerKey, "GET", node.RegistryAddress, path, DateTimeOffset.UtcNow, RandomNumberGenerator.GetBytes(Spegel.Oci.PeerProof.NonceBytes)),
    ];

    public ClusterNode N1 => Cluster.Nodes[0];

    public ClusterNode N2 => Cluster.Nodes[1];

    public ClusterNode N3 => Cluster.Nodes[2];

    public ClusterNode N4 => Cluster.Nodes[3];

    public async Task InitializeAsync()
    {
        var layout = new OciLayout(Path.Combine(Root, "layout"));
        Images = TestImages.Build(layout);
        Big = TestImages.BuildImage(layout, "spegeltest/big", "1", [BigLayerBytes], seed: 500);
        string swarmKey = Path.Combine(Root, "swarm.key");
        var key = Spegel.Libp2p.Pnet.SwarmKey.Generate();
        PeerKey = Spegel.Oci.PeerKey.FromSwarmKey(key.Bytes);
        await File.WriteAllTextAsync(swarmKey, key.ToFileText());
        Cluster = await Spegel.Testbed.Cluster.StartAsync(Root, 4, ["--mirror-rate-grace-period", "1s", "--router-swarm-key-path", swarmKey]);
        foreach (var image in Images.Append(Big))
        {
            await TestImages.PushAsync(layout, image, Cluster.UpstreamAddress, Cluster.Upstream.Netns);
        }

        foreach (var image in Images.Append(Big))
        {
            (image.IsArtifact ? await N1.FetchAsync(Ref(image)) : await N1.PullAsync(Ref(image))).EnsureSuccess($"n1 pulling {image.Repository}");
        }

        (await N2.PullAsync(Ref(Big))).EnsureSuccess("n2 pulling big");
        (await N2.PullAsync(Ref(Multilayer))).EnsureSuccess("n2 pulling multilayer");
        await Cluster.Upstream.StopAsync();

        // Wait until what n1 and n2 hold is findable from n3.
        foreach (var image in Images.Append(Big))
        {
            await WaitFindableAsync(N3, image);
        }
    }

    public string Ref(TestImage image) => Cluster.Reference(image);

    /// <summary>Polls a HEAD of the tag on <paramref name="node"/>'s own spegel until a peer answers it.</summary>
    public async Task WaitFindableAsync(ClusterNode node, TestImage image) =>
        await Network.WaitUntilAsync(
            async () => await Network.StatusAsync($"http://{node.RegistryAddress}/v2/{image.Repository}/manifests/{image.Tag}?ns={Cluster.UpstreamAddress}", node.Netns) == 200,
            TimeSpan.FromSeconds(30),
            $"{image.Repository} findable from {node.Name}");

    /// <summary>The digest the tag points to, from n1's store.</summary>
    public async Task<string> TargetDigestAsync(TestImage image)
    {
        var list = (await N1.Containerd.Ctr(["images", "ls"])).EnsureSuccess("ctr images ls").StandardOutput;
        return list.Split('\n').Single(l => l.StartsWith(Ref(image) + " ", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[2];
    }

    public string BlobFile(ClusterNode node, string digest) => Path.Combine(node.Containerd.ContentRoot, "blobs", "sha256", digest["sha256:".Length..]);

    public static string Sha256File(string path) => "sha256:" + OciLayout.HashFile(path);

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
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
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
