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

    /// <summary>Decodes one event payload; unknown types and malformed payloads give null.</summary>
    public static StoreEvent? Decode(Any? payload)
    {
        if (payload is null)
        {
            return null;
        }

        try
        {
            if (payload.Is(ImageCreate.Descriptor))
            {
                return new StoreEvent(StoreEventKind.ImageCreated, payload.Unpack<ImageCreate>().Name, null);
            }

            if (payload.Is(ImageUpdate.Descriptor))
            {
                return new StoreEvent(StoreEventKind.ImageUpdated, payload.Unpack<ImageUpdate>().Name, null);
            }

            if (payload.Is(ImageDelete.Descriptor))
            {
                return new StoreEvent(StoreEventKind.ImageDeleted, payload.Unpack<ImageDelete>().Name, null);
            }

            if (payload.Is(ContentCreate.Descriptor))
            {
                return DigestEvent(StoreEventKind.ContentCreated, payload.Unpack<ContentCreate>().Digest);
            }

            if (payload.Is(ContentDelete.Descriptor))
            {
                return DigestEvent(StoreEventKind.ContentDeleted, payload.Unpack<ContentDelete>().Digest);
            }
        }
        catch (Google.Protobuf.InvalidProtocolBufferException)
        {
            return null;
        }

        return null;
    }

    private static StoreEvent? DigestEvent(StoreEventKind kind, string digest) =>
        Digest.TryParse(digest, out var parsed, out _) ? new StoreEvent(kind, null, parsed) : null;
}
