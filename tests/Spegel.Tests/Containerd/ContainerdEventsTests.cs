using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Spegel.Containerd;
using Spegel.Containerd.Api.ContentEvents;
using Spegel.Containerd.Api.Images;
using Spegel.Store;

namespace Spegel.Tests.Containerd;

/// <summary>
/// Event decoding, including <c>/content/create</c>, which only containerd ≥ 2.1 sends (not installable here): these
/// payloads are what that version puts in its envelopes.
/// </summary>
public sealed class ContainerdEventsTests
{
    private const string D = "sha256:3caa2469de2a23cbcc209dd0b9d01cd78ff9a0f88741655991d36baede5b0996";

    [Fact]
    public void DecodesImageEvents()
    {
        Assert.Equal(new StoreEvent(StoreEventKind.ImageCreated, "docker.io/library/a:1", null), ContainerdEvents.Decode(Any.Pack(new ImageCreate { Name = "docker.io/library/a:1" })));
        Assert.Equal(StoreEventKind.ImageUpdated, ContainerdEvents.Decode(Any.Pack(new ImageUpdate { Name = "x" }))!.Kind);
        Assert.Equal(StoreEventKind.ImageDeleted, ContainerdEvents.Decode(Any.Pack(new ImageDelete { Name = "x" }))!.Kind);
    }

    [Fact]
    public void DecodesContentEventsOf21()
    {
        var created = ContainerdEvents.Decode(Any.Pack(new ContentCreate { Digest = D, Size = 5 }));
        Assert.Equal(StoreEventKind.ContentCreated, created!.Kind);
        Assert.Equal(D, created.Digest.ToString());
        Assert.Equal(StoreEventKind.ContentDeleted, ContainerdEvents.Decode(Any.Pack(new ContentDelete { Digest = D }))!.Kind);
    }

    [Fact]
    public void TypeUrlsAreContainerds()
    {
        Assert.Equal("type.googleapis.com/containerd.services.images.v1.ImageCreate", Any.Pack(new ImageCreate()).TypeUrl);
        Assert.Equal("type.googleapis.com/containerd.events.ContentDelete", Any.Pack(new ContentDelete()).TypeUrl);
        Assert.Equal("type.googleapis.com/containerd.events.ContentCreate", Any.Pack(new ContentCreate()).TypeUrl);
    }

    [Fact]
    public void DecodesContainerdsBareTypeUrls()
    {
        // What containerd 1.6 actually sends: the type name without a type.googleapis.com/ prefix.
        var payload = new Any { TypeUrl = "containerd.services.images.v1.ImageCreate", Value = new ImageCreate { Name = "a:1" }.ToByteString() };
        Assert.Equal(new StoreEvent(StoreEventKind.ImageCreated, "a:1", null), ContainerdEvents.Decode(payload));
        var delete = new Any { TypeUrl = "containerd.events.ContentDelete", Value = new ContentDelete { Digest = D }.ToByteString() };
        Assert.Equal(StoreEventKind.ContentDeleted, ContainerdEvents.Decode(delete)!.Kind);
    }

    [Fact]
    public void IgnoresUnknownMalformedAndInvalid()
    {
        Assert.Null(ContainerdEvents.Decode(null));
        Assert.Null(ContainerdEvents.Decode(new Any { TypeUrl = "containerd.events.TaskExit", Value = ByteString.CopyFrom(1, 2, 3) }));
        Assert.Null(ContainerdEvents.Decode(new Any { TypeUrl = "type.googleapis.com/containerd.events.ContentDelete", Value = ByteString.CopyFrom(0x0a, 0xff) }));
        Assert.Null(ContainerdEvents.Decode(Any.Pack(new ContentDelete { Digest = "sha256:nothex" })));
        var random = new Random(5);
        for (int i = 0; i < 2000; i++)
        {
            byte[] bytes = new byte[random.Next(0, 40)];
            random.NextBytes(bytes);
            _ = ContainerdEvents.Decode(new Any { TypeUrl = "type.googleapis.com/containerd.services.images.v1.ImageCreate", Value = ByteString.CopyFrom(bytes) });
        }
    }
}
