using System.IO.Pipelines;
using Grpc.Core;
using Spegel.Containerd.Api.Content;
using Spegel.Oci;
using Spegel.Store;

namespace Spegel.Containerd;

/// <summary>Reads a blob through containerd's <c>Content/Read</c> stream, for when the content folder is not readable.</summary>
internal sealed class GrpcBlobReader(ContainerdClient client, Digest digest, long size) : BlobReader(digest, size)
{
    public override async Task CopyToAsync(PipeWriter destination, long offset, long count, CancellationToken cancellationToken)
    {
        if (count == 0)
        {
            return;
        }

        var request = new ReadContentRequest { Digest = Digest.ToString(), Offset = offset, Size = count };
        using var call = client.Content.Read(request, client.Call(cancellationToken));

        // containerd numbers response chunks from the requested offset: the first chunk is at 0.
        long expected = 0;
        await foreach (var chunk in call.ResponseStream.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            if (chunk.Offset != expected || expected + chunk.Data.Length > count)
            {
                throw new IOException($"containerd returned bytes at {offset}+{chunk.Offset} (+{chunk.Data.Length}) of {Digest} while {offset}+{expected} was expected");
            }

            FlushResult flush = await destination.WriteAsync(chunk.Data.Memory, cancellationToken).ConfigureAwait(false);
            expected += chunk.Data.Length;
            if (flush.IsCanceled || flush.IsCompleted)
            {
                throw new OperationCanceledException("the reader went away");
            }
        }

        if (expected != count)
        {
            throw new IOException($"containerd ended {Digest} after {expected} of {count} bytes from {offset}");
        }
    }
}
