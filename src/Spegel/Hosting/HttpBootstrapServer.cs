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
internal sealed class IdEndpoint(Libp2pHost host, IdShape shape)
{
    public Task HandleAsync(HttpContext context)
    {
        IdShape? answer = context.Request.Path.Value switch
        {
            "/id" => shape,
            "/v0.7/id" => IdShape.Object,
            "/main/id" => IdShape.List,
            _ => null,
        };
        if (answer is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return Task.CompletedTask;
        }

        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(Render(host, answer.Value), context.RequestAborted);
    }

    /// <summary>The document in the given shape (addresses read at each request: they may change).</summary>
    public static string Render(Libp2pHost host, IdShape shape)
    {
        var self = new BootstrapPeerInfo(host.Id.ToString(), host.Addresses.Select(a => a.ToString()).ToList());
        return shape == IdShape.Object
            ? JsonSerializer.Serialize(self, BootstrapJsonContext.Default.BootstrapPeerInfo)
            : JsonSerializer.Serialize([self], BootstrapJsonContext.Default.BootstrapPeerInfoArray);
    }
}

/// <summary>An <see cref="IdEndpoint"/> on its own address (the node serves it on its one Kestrel, see <see cref="NodeHost"/>).</summary>
internal static class HttpBootstrapServer
{
    public static async Task<WebApplication> StartAsync(ListenAddress address, Libp2pHost host, IdShape shape, LogLevel level, CancellationToken cancellationToken)
    {
        var builder = SpegelWebHost.CreateBuilder(level);
        builder.WebHost.ConfigureKestrel(k => NodeHost.Listen(k, address));
        var app = builder.Build();
        app.Run(new IdEndpoint(host, shape).HandleAsync);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        return app;
    }
}
