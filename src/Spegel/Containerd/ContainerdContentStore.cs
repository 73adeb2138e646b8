using System.Runtime.CompilerServices;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Spegel.Containerd.Api.Content;
using Spegel.Containerd.Api.Images;
using Spegel.Oci;
using Spegel.Store;

namespace Spegel.Containerd;

/// <summary>
/// The content store backed by containerd: metadata and ownership through gRPC (content is shared by all
/// namespaces on disk, so <c>Info</c> in our namespace decides whether a blob is ours), bytes from the content folder
/// when it is readable, else over gRPC.
/// </summary>
internal sealed partial class ContainerdContentStore(ContainerdClient client, ContentLocation location, ILogger<ContainerdContentStore> logger) : IContentStore
{
    public async ValueTask<ContentInfo?> StatAsync(Digest digest, CancellationToken cancellationToken)
    {
        try
        {
            var response = await client.Content.InfoAsync(new InfoRequest { Digest = digest.ToString() }, client.Call(cancellationToken)).ConfigureAwait(false);
            return ToContentInfo(response.Info);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
        {
            return null;
        }
    }

    public async ValueTask<ImageRecord?> ResolveImageAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            var response = await client.Images.GetAsync(new GetImageRequest { Name = name }, client.Call(cancellationToken)).ConfigureAwait(false);
            return ToImageRecord(response.Image);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
        {
            return null;
        }
    }

    public async ValueTask<BlobReader?> OpenAsync(Digest digest, CancellationToken cancellationToken)
    {
        var info = await StatAsync(digest, cancellationToken).ConfigureAwait(false);
        if (info is null)
        {
            return null;
        }

        if (location.BlobPath(digest) is { } path)
        {
            if (FileBlobReader.TryOpen(path, digest, info.Size) is { } file)
            {
                return file;
            }

            LogFileUnreadable(logger, digest.ToString(), path);
        }

        return new GrpcBlobReader(client, digest, info.Size);
    }

    public async IAsyncEnumerable<ImageRecord> ListImagesAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var response = await client.Images.ListAsync(new ListImagesRequest(), client.Call(cancellationToken)).ConfigureAwait(false);
        foreach (var image in response.Images)
        {
            if (ToImageRecord(image) is { } record)
            {
                yield return record;
            }
        }
    }

    public async IAsyncEnumerable<ContentInfo> ListContentAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var call = client.Content.List(new ListContentRequest(), client.Call(cancellationToken));
        await foreach (var page in call.ResponseStream.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            foreach (var info in page.Info)
            {
                if (ToContentInfo(info) is { } contentInfo)
                {
                    yield return contentInfo;
                }
            }
        }
    }

    private static ContentInfo? ToContentInfo(Info info) =>
        Digest.TryParse(info.Digest, out var digest, out _) ? new ContentInfo(digest, info.Size, DistributionSourceLabels.Parse(info.Labels)) : null;

    private static ImageRecord? ToImageRecord(Image image) =>
        image.Target is { } target && Digest.TryParse(target.Digest, out var digest, out _)
            ? new ImageRecord(image.Name, digest, target.MediaType, target.Size)
            : null;

    [LoggerMessage(EventId = 1101, Level = LogLevel.Debug, Message = "Blob {Digest} is not readable at {Path}; reading it through containerd's gRPC API")]
    private static partial void LogFileUnreadable(ILogger logger, string digest, string path);
}
