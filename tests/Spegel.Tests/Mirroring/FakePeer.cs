using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Spegel.Tests.Mirroring;

/// <summary>How a fake peer misbehaves (fault injection; real peers are tested end to end with containerd).</summary>
public enum PeerBehaviour
{
    Good,
    NotFound,
    ResetAfter,
    StallAfter,
    TrickleAfter,
    Corrupt,
    LieAboutRange,
    SlowHeaders,

    /// <summary>Not a registry: dials to the address hang (see <see cref="BlackHole"/>).</summary>
    BlackHole,

    /// <summary>Answers the tag with its own manifest (<see cref="FakePeer.EvilManifest"/>), named correctly: a hijack.</summary>
    Evil,

    /// <summary>Sends the right bytes, but a <c>Docker-Content-Digest</c> naming other content.</summary>
    WrongDigestHeader,

    /// <summary>Sends no <c>Docker-Content-Digest</c>.</summary>
    NoDigestHeader,

    /// <summary>Answers a whole-blob request with 206 and every byte, one of them flipped (a bypass of the digest check).</summary>
    PartialForWhole,

    /// <summary>Answers a whole-blob request with 416.</summary>
    UnsatisfiableForWhole,

    /// <summary>Any GET answered 416 whose body breaks off after 10 of its 100 announced bytes (a reset mid-body).</summary>
    UnsatisfiableThenReset,
}

/// <summary>One request a fake peer received: what a peer can learn from us.</summary>
internal sealed record SeenRequest(string Method, string Target, string? Authorization, string? Proof, string? Host);

/// <summary>A peer's registry on <c>ip:port</c> serving one blob (with ranges) and manifests, misbehaving on demand.</summary>
internal sealed class FakePeer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private FakePeer(WebApplication app, IPAddress address)
    {
        _app = app;
        Address = address;
    }

    public IPAddress Address { get; }

    public int Requests => _requests;

    /// <summary>Body bytes the peer's writes have handed to its connection (what a peer's bytes-served counter counts).</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    private long _bytesSent;

    public List<string?> RangesAsked { get; } = [];

    /// <summary>The request targets exactly as they arrived (path and query, undecoded).</summary>
    public List<string> TargetsAsked { get; } = [];

    /// <summary>Every request with the headers that matter for trust.</summary>
    public List<SeenRequest> Seen { get; } = [];

    /// <summary>What an <see cref="PeerBehaviour.Evil"/> peer answers for a tag: a valid manifest of another image.</summary>
    public static byte[] EvilManifest { get; } = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"digest\":\"evil\"},\"layers\":[]}"u8.ToArray();

    public static async Task<FakePeer> StartAsync(IPAddress address, int port, IReadOnlyDictionary<string, (byte[] Body, string Type)> content, PeerBehaviour behaviour, long after = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(address, port));
        var app = builder.Build();
        FakePeer? peer = null;
        app.Run(async context =>
        {
            Interlocked.Increment(ref peer!._requests);
            var headers = context.Request.Headers;
            string target = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget ?? string.Empty;
            lock (peer.RangesAsked)
            {
                peer.RangesAsked.Add(headers.Range.ToString());
                peer.TargetsAsked.Add(target);
                peer.Seen.Add(new SeenRequest(
                    context.Request.Method, target, headers.Authorization.Count > 0 ? headers.Authorization.ToString() : null,
                    headers.TryGetValue(Spegel.Oci.PeerProtocol.ProofHeader, out var proof) ? proof.ToString() : null, headers.Host.ToString()));
            }

            string reference = context.Request.Path.Value![(context.Request.Path.Value!.LastIndexOf('/') + 1)..];
            if (behaviour == PeerBehaviour.NotFound || !content.TryGetValue(reference, out var item) || !Spegel.Oci.PeerProtocol.IsMirrored(headers[Spegel.Oci.PeerProtocol.MirroredHeader]))
            {
                context.Response.StatusCode = 404;
                return;
            }

            bool isTag = !reference.Contains(':', StringComparison.Ordinal);
            if (behaviour == PeerBehaviour.Evil && isTag)
            {
                item = (EvilManifest, item.Type);
            }

            if (behaviour == PeerBehaviour.UnsatisfiableThenReset)
            {
                context.Response.StatusCode = 416;
                context.Response.ContentLength = 100;
                await context.Response.Body.WriteAsync(new byte[10], context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                await Task.Delay(200, context.RequestAborted); // the headers and the first bytes reach the client first
                context.Abort();
                return;
            }

            if (behaviour == PeerBehaviour.UnsatisfiableForWhole)
            {
                context.Response.StatusCode = 416;
                context.Response.Headers.ContentRange = $"bytes */{item.Body.Length}";
                return;
            }

            if (behaviour == PeerBehaviour.SlowHeaders)
            {
                await Task.Delay(2000, context.RequestAborted);
            }

            long start = 0, end = item.Body.Length - 1;
            string range = behaviour == PeerBehaviour.PartialForWhole && headers.Range.Count == 0 ? "bytes=0-" : headers.Range.ToString();
            if (range.StartsWith("bytes=", StringComparison.Ordinal))
            {
                string[] parts = range[6..].Split('-');
                start = long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
                if (parts[1].Length > 0)
                {
                    end = Math.Min(end, long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
                }

                context.Response.StatusCode = 206;
                long claimed = behaviour == PeerBehaviour.LieAboutRange ? Math.Max(0, start - 1000) : start;
                context.Response.Headers.ContentRange = $"bytes {claimed}-{end}/{item.Body.Length}";
            }

            context.Response.ContentType = item.Type;
            context.Response.ContentLength = end - start + 1;
            // The digest of the content the peer holds (for a tag too), as a registry names it.
            string named = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(behaviour == PeerBehaviour.WrongDigestHeader ? EvilManifest : item.Body));
            if (behaviour != PeerBehaviour.NoDigestHeader)
            {
                context.Response.Headers["Docker-Content-Digest"] = named;
            }

            if (HttpMethods.IsHead(context.Request.Method))
            {
                return;
            }

            byte[] body = item.Body[(int)start..(int)(end + 1)];
            if (behaviour is PeerBehaviour.Corrupt or PeerBehaviour.PartialForWhole)
            {
                body = (byte[])body.Clone();
                body[body.Length / 2] ^= 0xff;
            }

            long limit = behaviour is PeerBehaviour.ResetAfter or PeerBehaviour.StallAfter or PeerBehaviour.TrickleAfter ? Math.Min(after, body.Length) : body.Length;
            // In pieces, counted as written: a client that leaves stops the peer within a piece (plus what the sockets hold).
            for (int offset = 0; offset < limit; offset += 64 * 1024)
            {
                int piece = (int)Math.Min(64 * 1024, limit - offset);
                await context.Response.Body.WriteAsync(body.AsMemory(offset, piece), context.RequestAborted);
                Interlocked.Add(ref peer._bytesSent, piece);
            }

            await context.Response.Body.FlushAsync(context.RequestAborted);
            switch (behaviour)
            {
                case PeerBehaviour.ResetAfter:
                    context.Abort();
                    return;
                case PeerBehaviour.StallAfter:
                    await Task.Delay(Timeout.Infinite, context.RequestAborted);
                    return;
                case PeerBehaviour.TrickleAfter:
                    for (long i = limit; i < body.Length; i++)
                    {
                        await context.Response.Body.WriteAsync(body.AsMemory((int)i, 1), context.RequestAborted);
                        await context.Response.Body.FlushAsync(context.RequestAborted);
                        await Task.Delay(100, context.RequestAborted);
                    }

                    return;
            }
        });
        peer = new FakePeer(app, address);
        await app.StartAsync();
        return peer;
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await _app.StopAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
        }

        await _app.DisposeAsync();
    }
}
