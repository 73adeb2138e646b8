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
}

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

    public List<string?> RangesAsked { get; } = [];

    /// <summary>The request targets exactly as they arrived (path and query, undecoded).</summary>
    public List<string> TargetsAsked { get; } = [];

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
            lock (peer.RangesAsked)
            {
                peer.RangesAsked.Add(context.Request.Headers.Range.ToString());
                peer.TargetsAsked.Add(context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget ?? string.Empty);
            }

            string reference = context.Request.Path.Value![(context.Request.Path.Value!.LastIndexOf('/') + 1)..];
            if (behaviour == PeerBehaviour.NotFound || !content.TryGetValue(reference, out var item) || !Spegel.Oci.PeerProtocol.IsMirrored(context.Request.Headers[Spegel.Oci.PeerProtocol.MirroredHeader]))
            {
                context.Response.StatusCode = 404;
                return;
            }

            if (behaviour == PeerBehaviour.SlowHeaders)
            {
                await Task.Delay(2000, context.RequestAborted);
            }

            long start = 0, end = item.Body.Length - 1;
            string range = context.Request.Headers.Range.ToString();
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
            context.Response.Headers["Docker-Content-Digest"] = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(item.Body));
            if (HttpMethods.IsHead(context.Request.Method))
            {
                return;
            }

            byte[] body = item.Body[(int)start..(int)(end + 1)];
            if (behaviour == PeerBehaviour.Corrupt)
            {
                body = (byte[])body.Clone();
                body[body.Length / 2] ^= 0xff;
            }

            long limit = behaviour is PeerBehaviour.ResetAfter or PeerBehaviour.StallAfter or PeerBehaviour.TrickleAfter ? Math.Min(after, body.Length) : body.Length;
            await context.Response.Body.WriteAsync(body.AsMemory(0, (int)limit), context.RequestAborted);
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
