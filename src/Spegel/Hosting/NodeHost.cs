using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Spegel.Advertising;
using Spegel.Registry;
using Spegel.Routing;

namespace Spegel.Hosting;

/// <summary>The parts of a running node besides the registry API: its router, advertiser, and the debug page's sources.</summary>
internal sealed record NodeParts(P2PRouter Router, Advertiser Advertiser, DebugSources Debug, PullMeasurer Measurer);

/// <summary>
/// The node as one generic host with one Kestrel: the registry API on <c>--registry-addr</c>, metrics and the debug page
/// on <c>--metrics-addr</c>, the <c>/id</c> document on <c>--http-bootstrap-addr</c> (each listener tags its connections,
/// and requests go to that listener's endpoint). The router and the advertiser are hosted services: the host starts
/// them in order before Kestrel accepts, and on stop lets Kestrel drain requests in flight first
/// (<see cref="SpegelWebHost.DrainTimeout"/>), then ends the advertiser's loop and closes the router.
/// </summary>
internal static class NodeHost
{
    private const string EndpointKey = "spegel.endpoint";

    /// <summary>Prometheus and a few people on the debug page.</summary>
    public const int MetricsConnectionLimit = 64;

    /// <summary>Nodes bootstrapping from this one fetch <c>/id</c> once each.</summary>
    public const int IdConnectionLimit = 256;

    private enum NodeEndpoint
    {
        Registry,
        Metrics,
        Id,
    }

    /// <summary>The host; without <paramref name="parts"/> only the registry API (tests pass their own parts).</summary>
    public static WebApplication Build(RegistrySettings settings, RegistryServices services, NodeParts? parts = null)
    {
        var builder = SpegelWebHost.CreateBuilder(settings.LogLevel);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            var logger = kestrel.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ConnectionCap));
            ConnectionCap Cap(string listener, int limit) => new(listener, limit, services.Stats.Instruments, logger);
            kestrel.Limits.MaxRequestLineSize = 16 * 1024;
            kestrel.Limits.MaxRequestHeadersTotalSize = 64 * 1024;
            kestrel.Limits.MaxRequestBodySize = 0;
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromMinutes(2);
            // Read by HTTP/2 and the drain timeout only: what an HTTP/1.1 response may have flushed and not yet sent is
            // the socket transport's write buffer (MaxWriteBufferSize, 64 KiB), kept on purpose: at 1 MiB a relay's
            // reads and the connection's sends overlap, which cost more CPU per GiB in thread hops than it saved
            // (docs/benchmarks/serve.md).
            kestrel.Limits.MaxResponseBufferSize = 1024 * 1024;
            Listen(kestrel, settings.RegistryAddr, NodeEndpoint.Registry, Cap("registry", settings.RegistryConnectionLimit));
            if (parts is not null)
            {
                Listen(kestrel, settings.MetricsAddr, NodeEndpoint.Metrics, Cap("metrics", MetricsConnectionLimit));
                if (settings.HttpBootstrapAddr is { } id)
                {
                    Listen(kestrel, id, NodeEndpoint.Id, Cap("id", IdConnectionLimit));
                }
            }
        });
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(services.Stats.Instruments);
        if (parts is not null)
        {
            // Registration order is start order (and the reverse is stop order); the server starts after them.
            builder.Services.AddSingleton(parts.Router);
            builder.Services.AddHostedService<RouterService>();
            builder.Services.AddSingleton(parts.Advertiser);
            builder.Services.AddHostedService<AdvertiserService>();
        }

        var app = builder.Build();
        if (parts is not null)
        {
            var metrics = new MetricsEndpoint(settings.DebugWebEnabled, parts.Debug, parts.Measurer, services.Stats.Instruments);
            app.MapWhen(context => EndpointOf(context) == NodeEndpoint.Metrics, branch => branch.Run(metrics.HandleAsync));
            var id = new IdEndpoint(parts.Router.Host, settings.HttpBootstrapIdShape);
            app.MapWhen(context => EndpointOf(context) == NodeEndpoint.Id, branch => branch.Run(id.HandleAsync));
        }

        app.UseMiddleware<RequestLogging>();
        var handler = new RegistryHandler(
            services.Store, services.Readiness, services.Auth, services.Policy, new MissChain(services.Mirror, services.Coalescer, services.Policy), services.Stats,
            app.Services.GetRequiredService<ILogger<RegistryHandler>>(), services.PeerAuth, services.NodeAddresses, services.Refusals);
        app.Run(handler.HandleAsync);
        return app;
    }

    /// <summary>Listens on <paramref name="address"/> (any host: every interface; no IP: localhost).</summary>
    public static void Listen(KestrelServerOptions kestrel, ListenAddress address) => Listen(kestrel, address, null, null);

    private static void Listen(KestrelServerOptions kestrel, ListenAddress address, NodeEndpoint? endpoint, ConnectionCap? cap)
    {
        void Configure(ListenOptions listen)
        {
            listen.Protocols = HttpProtocols.Http1;
            if (cap is not null)
            {
                // First, so a refused connection costs nothing more.
                listen.Use(cap.Wrap);
            }

            if (endpoint is { } tag)
            {
                listen.Use(next => connection =>
                {
                    connection.Items[EndpointKey] = tag;
                    return next(connection);
                });
            }
        }

        if (address.TryGetEndPoint() is { } endPoint)
        {
            kestrel.Listen(endPoint, Configure);
        }
        else
        {
            kestrel.ListenLocalhost(address.Port, Configure);
        }
    }

    private static NodeEndpoint EndpointOf(HttpContext context) =>
        context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(EndpointKey, out object? tag) == true && tag is NodeEndpoint endpoint
            ? endpoint
            : NodeEndpoint.Registry;
}
