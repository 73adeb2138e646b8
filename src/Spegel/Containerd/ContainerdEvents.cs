using System.Runtime.CompilerServices;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Spegel.Containerd.Api.ContentEvents;
using Spegel.Containerd.Api.Events;
using Spegel.Containerd.Api.Images;
using Spegel.Oci;
using Spegel.Store;

namespace Spegel.Containerd;

/// <summary>
/// containerd's event stream, decoded into <see cref="StoreEvent"/>s for our namespace. containerd 1.6 sends image
/// events and <c>/content/delete</c>; <c>/content/create</c> exists from 2.1 (tested with a fake stream).
/// </summary>
internal static class ContainerdEvents
{
    /// <summary>containerd ORs subscribe filters.</summary>
    public static readonly string[] Filters = ["topic~=\"/images/\"", "topic==\"/content/create\"", "topic==\"/content/delete\""];

    public static async IAsyncEnumerable<StoreEvent> SubscribeAsync(ContainerdClient client, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = new SubscribeRequest();
        request.Filters.Add(Filters);
        using var call = client.Events.Subscribe(request, client.Call(cancellationToken));
        await foreach (var envelope in call.ResponseStream.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            if (envelope.Namespace != client.Namespace)
            {
                continue;
            }

            if (Decode(envelope.Event) is { } storeEvent)
            {
                yield return storeEvent;
            }
        }
    }

    /// <summary>
    /// Decodes one event payload; unknown types and malformed payloads give null. containerd's type URLs are bare
    /// type names (<c>containerd.services.images.v1.ImageCreate</c>), without the <c>type.googleapis.com/</c> prefix
    /// that <c>Any.Is</c> expects, so the name is matched here.
    /// </summary>
    public static StoreEvent? Decode(Any? payload)
    {
        if (payload is null)
        {
            return null;
        }

        string typeUrl = payload.TypeUrl;
        string typeName = typeUrl[(typeUrl.LastIndexOf('/') + 1)..];
        try
        {
            return typeName switch
            {
                "containerd.services.images.v1.ImageCreate" => new StoreEvent(StoreEventKind.ImageCreated, ImageCreate.Parser.ParseFrom(payload.Value).Name, null),
                "containerd.services.images.v1.ImageUpdate" => new StoreEvent(StoreEventKind.ImageUpdated, ImageUpdate.Parser.ParseFrom(payload.Value).Name, null),
                "containerd.services.images.v1.ImageDelete" => new StoreEvent(StoreEventKind.ImageDeleted, ImageDelete.Parser.ParseFrom(payload.Value).Name, null),
                "containerd.events.ContentCreate" => DigestEvent(StoreEventKind.ContentCreated, ContentCreate.Parser.ParseFrom(payload.Value).Digest),
                "containerd.events.ContentDelete" => DigestEvent(StoreEventKind.ContentDeleted, ContentDelete.Parser.ParseFrom(payload.Value).Digest),
                _ => null,
            };
        }
        catch (Google.Protobuf.InvalidProtocolBufferException)
        {
            return null;
        }
    }

    private static StoreEvent? DigestEvent(StoreEventKind kind, string digest) =>
        Digest.TryParse(digest, out var parsed, out _) ? new StoreEvent(kind, null, parsed) : null;
}
