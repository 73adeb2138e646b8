using Microsoft.Extensions.Logging.Abstractions;
using Spegel.Containerd;
using Spegel.Oci;
using Spegel.Store;

namespace Spegel.IntegrationTests;

/// <summary>Our gRPC client against containerd 1.6: introspection, listing, resolving, reading, events.</summary>
[Collection(SingleNodeCollection.Name)]
public sealed class ContainerdClientTests(SingleNodeFixture fixture)
{
    [Fact]
    public async Task DiscoversVersionAndContentRoot()
    {
        using var client = new ContainerdClient(fixture.NodeA.Socket, "k8s.io");
        Assert.StartsWith("1.6.", await ContainerdInspector.GetVersionAsync(client, CancellationToken.None), StringComparison.Ordinal);
        Assert.Equal(fixture.NodeA.ContentRoot, await ContainerdInspector.DiscoverContentRootAsync(client, CancellationToken.None));
        Assert.Null(await ContainerdInspector.GetCriSettingsAsync(client, CancellationToken.None));
    }

    [Fact]
    public async Task ListsResolvesAndReads()
    {
        using var client = new ContainerdClient(fixture.NodeA.Socket, "k8s.io");
        var store = new ContainerdContentStore(client, new ContentLocation(null), NullLogger<ContainerdContentStore>.Instance);
        var content = new List<ContentInfo>();
        await foreach (var info in store.ListContentAsync(CancellationToken.None))
        {
            content.Add(info);
        }

        Assert.Equal(fixture.ContentOfA.Order(), content.Select(c => c.Digest.ToString()).Order());
        Assert.Contains(content, c => c.Sources.Count > 0); // read from containerd's distribution-source labels

        var images = new List<ImageRecord>();
        await foreach (var image in store.ListImagesAsync(CancellationToken.None))
        {
            images.Add(image);
        }

        Assert.Equal(fixture.Images.Select(fixture.UpstreamImage).Order(), images.Select(i => i.Name).Order());
        var resolved = await store.ResolveImageAsync(images[0].Name, CancellationToken.None);
        Assert.Equal(images[0], resolved);
        Assert.Null(await store.ResolveImageAsync("docker.io/nope/nope:1", CancellationToken.None));
        Assert.Null(await store.StatAsync(Digest.Parse("sha256:" + new string('0', 64)), CancellationToken.None));

        // Reading over gRPC with offset and size gives the file's bytes.
        var largest = content.MaxBy(c => c.Size)!;
        await using var reader = await store.OpenAsync(largest.Digest, CancellationToken.None);
        var pipe = new System.IO.Pipelines.Pipe(new System.IO.Pipelines.PipeOptions(pauseWriterThreshold: 0));
        await reader!.CopyToAsync(pipe.Writer, 1000, 5000, CancellationToken.None);
        await pipe.Writer.CompleteAsync();
        var read = await pipe.Reader.ReadAtLeastAsync(5000);
        byte[] file = await File.ReadAllBytesAsync(Path.Combine(fixture.NodeA.ContentRoot, "blobs", "sha256", largest.Digest.Hex));
        Assert.Equal(file.AsSpan(1000, 5000).ToArray(), System.Buffers.BuffersExtensions.ToArray(read.Buffer));
    }

    [Fact]
    public async Task ReceivesImageEventsOfItsNamespaceOnly()
    {
        using var client = new ContainerdClient(fixture.NodeA.Socket, "k8s.io");
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var received = new List<StoreEvent>();
        var subscribed = new TaskCompletionSource();
        var reader = Task.Run(async () =>
        {
            await foreach (var e in ContainerdEvents.SubscribeAsync(client, cancel.Token))
            {
                received.Add(e);
                if (e.Kind == StoreEventKind.ImageDeleted)
                {
                    return;
                }
            }
        });

        // The subscription is live once containerd accepted the call; give it a moment, then act.
        await Task.Delay(300);
        string source = fixture.UpstreamImage(fixture.Images[0]);
        (await fixture.NodeA.Ctr(["images", "tag", source, "example.com/events/test:1"])).EnsureSuccess("ctr images tag");
        (await fixture.NodeA.Ctr(["--namespace", "default", "images", "ls"])).EnsureSuccess("other namespace");
        (await fixture.NodeA.Ctr(["images", "rm", "example.com/events/test:1"])).EnsureSuccess("ctr images rm");
        await reader.WaitAsync(cancel.Token);

        Assert.Equal(
            [new StoreEvent(StoreEventKind.ImageCreated, "example.com/events/test:1", null), new StoreEvent(StoreEventKind.ImageDeleted, "example.com/events/test:1", null)],
            received);
    }
}
