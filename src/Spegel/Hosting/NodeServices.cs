using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Spegel.Advertising;
using Spegel.Routing;

namespace Spegel.Hosting;

/// <summary>
/// The router as a hosted service: started before Kestrel accepts (the <c>/id</c> document and every lookup need it),
/// closed after Kestrel has drained (transfers in flight may still look up peers to resume from).
/// </summary>
internal sealed partial class RouterService(P2PRouter router, RegistrySettings settings, ILogger<RouterService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await router.StartAsync(cancellationToken).ConfigureAwait(false);
        LogRouter(logger, router.Host.Id.ToString(), string.Join(", ", router.Host.BoundEndPoints), settings.BootstrapKind.ToString().ToLowerInvariant());
    }

    public async Task StopAsync(CancellationToken cancellationToken) => await router.DisposeAsync().ConfigureAwait(false);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Information, Message = "Router {PeerId} listening on {EndPoints}, {Kind} bootstrap")]
    private static partial void LogRouter(ILogger logger, string peerId, string endPoints, string kind);
}

/// <summary>The advertiser's loop (events, blob-folder watch, reconcile) as a background service of the host.</summary>
internal sealed class AdvertiserService(Advertiser advertiser) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => advertiser.RunAsync(stoppingToken);
}
