using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Spegel.Libp2p.Transport;
using Spegel.Routing.Bootstrap;

namespace Spegel.Hosting;

/// <summary>
/// Serves this node's peer ID and addresses for peers that bootstrap over HTTP. Both Spegel generations fetch
/// <c>/id</c> with the same Go client (nothing in the request tells them apart) but decode different shapes, so
/// <c>/id</c> answers the shape of the generation this node is configured like: one object with
/// <c>--http-bootstrap-peer</c> (v0.7.x's flag), else a list (main). Two fixed paths serve a mixed cluster whatever
/// the configuration: <c>/v0.7/id</c> always the object (for v0.7 nodes, <c>--http-bootstrap-peer=http://host:port/v0.7</c>)
/// and <c>/main/id</c> always the list (for main nodes, <c>--http-bootstrap-url=http://host:port/main/id</c>).
/// </summary>
internal static class HttpBootstrapServer
{
    public static async Task<WebApplication> StartAsync(ListenAddress address, Libp2pHost host, IdShape shape, LogLevel level, CancellationToken cancellationToken)
    {
        var builder = SpegelWebHost.CreateBuilder(level);
        builder.WebHost.ConfigureKestrel(k =>
        {
            if (address.TryGetEndPoint() is { } endPoint)
            {
                k.Listen(endPoint);
            }
            else
            {
                k.ListenLocalhost(address.Port);
            }
        });
        var app = builder.Build();
        app.MapGet("/id", () => Answer(host, shape));
        app.MapGet("/v0.7/id", () => Answer(host, IdShape.Object));
        app.MapGet("/main/id", () => Answer(host, IdShape.List));
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        return app;
    }

    /// <summary>The document in the given shape (addresses read at each request: they may change).</summary>
    public static string Render(Libp2pHost host, IdShape shape)
    {
        var self = new BootstrapPeerInfo(host.Id.ToString(), host.Addresses.Select(a => a.ToString()).ToList());
        return shape == IdShape.Object
            ? JsonSerializer.Serialize(self, BootstrapJsonContext.Default.BootstrapPeerInfo)
            : JsonSerializer.Serialize([self], BootstrapJsonContext.Default.BootstrapPeerInfoArray);
    }

    private static IResult Answer(Libp2pHost host, IdShape shape) => Results.Text(Render(host, shape), "application/json");
}
