using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Spegel.Oci;

namespace Spegel.Tests.DebugWeb;

/// <summary>
/// Stands in for the node's own registry address as the pull measurer sees it (fault injection: the manifests a
/// malicious peer could hand it), answering from a table of paths and recording every request it was sent, so a test
/// can prove that refused input caused no request at all. <see cref="Hold"/> stops blob answers until released.
/// </summary>
internal sealed class LocalRegistryStub : HttpMessageHandler
{
    private readonly ConcurrentDictionary<string, (string ContentType, byte[] Body)> _content = new(StringComparer.Ordinal);

    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>While not null, a blob request waits for this task (and <see cref="BlobAsked"/> is completed).</summary>
    public TaskCompletionSource? Hold { get; set; }

    public TaskCompletionSource BlobAsked { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public const string Repository = "library/app";

    public static Uri Address { get; } = new("http://127.0.0.1:5000");

    /// <summary>Serves <paramref name="body"/> as the manifest <paramref name="reference"/> (and under its digest).</summary>
    public string Manifest(string reference, string contentType, byte[] body)
    {
        string digest = Digest.Sha256(SHA256.HashData(body)).ToString();
        _content[$"/v2/{Repository}/manifests/{reference}"] = (contentType, body);
        _content[$"/v2/{Repository}/manifests/{digest}"] = (contentType, body);
        return digest;
    }

    public string Blob(byte[] body)
    {
        string digest = Digest.Sha256(SHA256.HashData(body)).ToString();
        _content[$"/v2/{Repository}/blobs/{digest}"] = (MediaTypes.OctetStream, body);
        return digest;
    }

    /// <summary>An image manifest whose config and layers are served, tagged <c>1</c>; returns the manifest's digest.</summary>
    public string Image(int layers)
    {
        string config = Blob(Encoding.UTF8.GetBytes("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{}}"));
        var layerDigests = Enumerable.Range(0, layers).Select(i => Blob(Encoding.UTF8.GetBytes($"layer {i} secret-bytes"))).ToList();
        return Manifest("1", MediaTypes.OciManifest, ManifestJson(config, layerDigests));
    }

    public static byte[] ManifestJson(string config, IEnumerable<string> layers) => Encoding.UTF8.GetBytes(
        $"{{\"schemaVersion\":2,\"mediaType\":\"{MediaTypes.OciManifest}\",\"config\":{{\"mediaType\":\"{MediaTypes.OciConfig}\",\"digest\":\"{config}\",\"size\":1}},"
        + $"\"layers\":[{string.Join(',', layers.Select(l => $"{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"{l}\",\"size\":1}}"))}]}}");

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Requests.Enqueue(request.RequestUri!.PathAndQuery);
        string path = request.RequestUri.AbsolutePath;
        if (path.Contains("/blobs/", StringComparison.Ordinal) && Hold is { } hold)
        {
            BlobAsked.TrySetResult();
            await hold.Task.WaitAsync(cancellationToken);
        }

        if (!_content.TryGetValue(path, out var found))
        {
            return new HttpResponseMessage(HttpStatusCode.NotFound) { Content = new StringContent("{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\"}]}") };
        }

        var content = new ByteArrayContent(found.Body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(found.ContentType);
        return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
    }
}
