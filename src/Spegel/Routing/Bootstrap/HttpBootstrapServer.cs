using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Spegel.Cli;
using Spegel.Hosting;
using Spegel.Libp2p.Transport;

namespace Spegel.Routing.Bootstrap;

/// <summary>Serves <c>GET /id</c> → <c>[{"ID":…,"Addrs":[…]}]</c> for peers that bootstrap over HTTP.</summary>
internal static class HttpBootstrapServer
{
    public static async Task<WebApplication> StartAsync(ListenAddress address, Libp2pHost host, LogLevel level, CancellationToken cancellationToken)
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
        app.MapGet("/id", () => Results.Text(
            JsonSerializer.Serialize(new[] { new BootstrapPeerInfo(host.Id.ToString(), host.Addresses.Select(a => a.ToString()).ToList()) }, SpegelJsonContext.Default.BootstrapPeerInfoArray),
            "application/json"));
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        return app;
    }
}
