using Microsoft.Extensions.Logging.Abstractions;
using Spegel.Containerd;
using Spegel.Oci;
using Spegel.Store;
using Spegel.Testbed;

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
        using var stop = new CancellationTokenSource();
        var received = System.Threading.Channels.Channel.CreateUnbounded<StoreEvent>();
        var reader = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in ContainerdEvents.SubscribeAsync(client, stop.Token))
                {
                    received.Writer.TryWrite(e);
                }
            }
            catch (Exception ex) when (stop.IsCancellationRequested && ex is OperationCanceledException or Grpc.Core.RpcException)
            {
            }
        });

        string source = fixture.UpstreamImage(fixture.Images[0]);
        var probes = new List<string>();
        try
        {
            // containerd sends nothing when it accepts a subscription: it is live once an event made after it arrives.
            // Tag probe images until one comes through (each wait is a retry, not a verdict).
            while (true)
            {
                string probe = $"example.com/events/probe:{probes.Count + 1}";
                (await fixture.NodeA.Ctr(["images", "tag", source, probe])).EnsureSuccess("ctr images tag (probe)");
                probes.Add(probe);
                try
                {
                    await received.Reader.WaitToReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(1));
                    break;
                }
                catch (TimeoutException)
                {
                    Assert.True(probes.Count < 60, "no event ever arrived on the subscription");
                }
            }

            // Real events in order: ours, one in another namespace (containerd's own publisher, as its shims use), the
            // same in ours (the positive control: a published event does reach us), ours again.
            (await fixture.NodeA.Ctr(["images", "tag", source, "example.com/events/test:1"])).EnsureSuccess("ctr images tag");
            await PublishImageCreateAsync("default", "example.com/events/other:1");
            await PublishImageCreateAsync("k8s.io", "example.com/events/ours:1");
            (await fixture.NodeA.Ctr(["images", "rm", "example.com/events/test:1"])).EnsureSuccess("ctr images rm");

            var events = new List<StoreEvent>();
            while (!events.Contains(new StoreEvent(StoreEventKind.ImageDeleted, "example.com/events/test:1", null)))
            {
                var next = await received.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromMinutes(2)); // a hang guard
                if (next.ImageName is not { } name || !probes.Contains(name))
                {
                    events.Add(next);
                }
            }

            Assert.Equal(
                [
                    new StoreEvent(StoreEventKind.ImageCreated, "example.com/events/test:1", null),
                    new StoreEvent(StoreEventKind.ImageCreated, "example.com/events/ours:1", null),
                    new StoreEvent(StoreEventKind.ImageDeleted, "example.com/events/test:1", null),
                ],
                events);
        }
        finally
        {
            await stop.CancelAsync();
            await reader;
            if (probes.Count > 0)
            {
                (await fixture.NodeA.Ctr(["images", "rm", .. probes])).EnsureSuccess("ctr images rm (probes)");
            }
        }
    }

    /// <summary>
    /// Publishes <c>/images/create</c> for <paramref name="name"/> in <paramref name="ns"/> through containerd's own
    /// publisher (<c>containerd publish</c>, what shims use): an event containerd forwards to every subscriber, without
    /// creating an image.
    /// </summary>
    private async Task PublishImageCreateAsync(string ns, string name)
    {
        var payload = new Google.Protobuf.WellKnownTypes.Any
        {
            TypeUrl = "containerd.services.images.v1.ImageCreate",
            Value = Google.Protobuf.MessageExtensions.ToByteString(new Spegel.Containerd.Api.Images.ImageCreate { Name = name }),
        };
        string file = Path.Combine(fixture.Root, $"event-{Guid.NewGuid():N}.bin");
        await File.WriteAllBytesAsync(file, Google.Protobuf.MessageExtensions.ToByteArray(payload));
        var result = await ProcessRunner.RunAsync(
            "sh", ["-c", $"exec {Tools.Containerd} --address \"$1\" publish --namespace \"$2\" --topic /images/create < \"$3\"", "publish", fixture.NodeA.Socket, ns, file], TimeSpan.FromMinutes(1));
        result.EnsureSuccess($"containerd publish in {ns}");
    }
}
