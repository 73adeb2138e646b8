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

    /// <summary>
    /// Payloads as containerd encodes them, produced by <c>protoc --encode</c> from containerd's own .proto files, not
    /// from our subset (so a wrong field number in ours fails here): <c>api/events/image.proto</c> and
    /// <c>content.proto</c> of containerd 1.6.20 (Debian's golang-github-containerd-containerd-dev, TESTBED.md §1), and,
    /// for what only 2.1 sends, <c>api/events/content.proto</c> (<c>ContentCreate { string digest = 1; int64 size = 2; }</c>)
    /// and <c>api/types/event.proto</c> of containerd 2.x (containerd/containerd@54faccc). Options stripped: they do
    /// not change the wire format.
    /// </summary>
    private static class Golden
    {
        /// <summary>ImageCreate { name: "docker.io/library/a:1", labels { "containerd.io/distribution.source.docker.io": "library/a" } }.</summary>
        public const string ImageCreate = "0a15646f636b65722e696f2f6c6962726172792f613a3112380a2b636f6e7461696e6572642e696f2f646973747269627574696f6e2e736f757263652e646f636b65722e696f12096c6962726172792f61";

        /// <summary>ImageUpdate and ImageDelete { name: "docker.io/library/a:1" } (the same bytes).</summary>
        public const string ImageName = "0a15646f636b65722e696f2f6c6962726172792f613a31";

        /// <summary>ContentDelete { digest: D } (1.6; the same in 2.x).</summary>
        public const string ContentDelete = "0a477368613235363a33636161323436396465326132336362636332303964643062396430316364373866663961306638383734313635353939316433366261656465356230393936";

        /// <summary>ContentCreate { digest: D, size: 1234567 } (2.1).</summary>
        public const string ContentCreate = ContentDelete + "1087ad4b";

        /// <summary>Envelope { timestamp { seconds: 1796121752 nanos: 500000000 }, namespace: "k8s.io", topic: "/content/create", event: Any { type_url: "containerd.events.ContentCreate", value: ContentCreate } }.</summary>
        public const string Envelope = "0a0c0898c9bad8061080cab5ee0112066b38732e696f1a0f2f636f6e74656e742f63726561746522700a1f636f6e7461696e6572642e6576656e74732e436f6e74656e74437265617465124d0a" + "477368613235363a336361613234363964653261323363626363323039646430623964303163643738666639613066383837343136353539393164333662616564653562303939361087ad4b";
    }

    [Theory]
    [InlineData("containerd.services.images.v1.ImageCreate", Golden.ImageCreate, (int)StoreEventKind.ImageCreated)]
    [InlineData("containerd.services.images.v1.ImageUpdate", Golden.ImageName, (int)StoreEventKind.ImageUpdated)]
    [InlineData("containerd.services.images.v1.ImageDelete", Golden.ImageName, (int)StoreEventKind.ImageDeleted)]
    public void DecodesContainerdsImageEventBytes(string typeUrl, string hex, int expected)
    {
        var kind = (StoreEventKind)expected;
        var decoded = ContainerdEvents.Decode(new Any { TypeUrl = typeUrl, Value = ByteString.CopyFrom(Convert.FromHexString(hex)) });
        Assert.Equal(new StoreEvent(kind, "docker.io/library/a:1", null), decoded);
    }

    [Fact]
    public void DecodesContainerdsContentEventBytesOf16And21()
    {
        var deleted = ContainerdEvents.Decode(new Any { TypeUrl = "containerd.events.ContentDelete", Value = ByteString.CopyFrom(Convert.FromHexString(Golden.ContentDelete)) });
        Assert.Equal(new StoreEvent(StoreEventKind.ContentDeleted, null, Spegel.Oci.Digest.Parse(D)), deleted);

        byte[] created = Convert.FromHexString(Golden.ContentCreate);
        Assert.Equal(new StoreEvent(StoreEventKind.ContentCreated, null, Spegel.Oci.Digest.Parse(D)), ContainerdEvents.Decode(new Any { TypeUrl = "containerd.events.ContentCreate", Value = ByteString.CopyFrom(created) }));
        Assert.Equal(1234567, ContentCreate.Parser.ParseFrom(created).Size); // field 2 is the size, as in containerd's proto
    }

    [Fact]
    public void ReadsContainerdsEnvelopeBytes()
    {
        // The stream message of /content/create as containerd 2.1 sends it (its Envelope has the 1.6 field numbers).
        var envelope = Spegel.Containerd.Api.Events.Envelope.Parser.ParseFrom(Convert.FromHexString(Golden.Envelope));
        Assert.Equal("k8s.io", envelope.Namespace);
        Assert.Equal("/content/create", envelope.Topic);
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 10, 42, 32, TimeSpan.Zero).AddMilliseconds(500), envelope.Timestamp.ToDateTimeOffset());
        Assert.Equal(new StoreEvent(StoreEventKind.ContentCreated, null, Spegel.Oci.Digest.Parse(D)), ContainerdEvents.Decode(envelope.Event));
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
