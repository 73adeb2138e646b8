using System.Net;
using Microsoft.Extensions.Logging;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Transport;
using Spegel.Routing;
using Spegel.Routing.Bootstrap;

namespace Spegel.Hosting;

/// <summary>Builds the DHT router from the settings: identity, host, DHT, bootstrapper.</summary>
internal static partial class RoutingSetup
{
    public static P2PRouter Create(RegistrySettings settings, ILoggerFactory loggers)
    {
        var identity = string.IsNullOrEmpty(settings.DataDir) ? PrivateKey.Generate() : PrivateKeyFile.LoadOrCreate(settings.DataDir);
        var endPoint = settings.RouterAddr.TryGetEndPoint() ?? new IPEndPoint(IPAddress.Loopback, settings.RouterAddr.Port); // localhost
        var host = new Libp2pHost(
            new Libp2p.Transport.HostOptions
            {
                Identity = identity,
                Listen = [endPoint],
                AnnounceLoopback = settings.RouterAnnounceLoopback,
                PrivateNetwork = settings.SwarmKey is { } key ? new Libp2p.Pnet.SwarmKey(key) : null,
                AgentVersion = $"spegel-dotnet/{BuildInfo.Version}",
            },
            loggers.CreateLogger<Libp2pHost>());
        if (host.Options.PrivateNetwork is { } network)
        {
            LogPrivateNetwork(loggers.CreateLogger(typeof(RoutingSetup).FullName!), network.Fingerprint);
        }

        var dht = new Dht(host, new DhtOptions(), loggers.CreateLogger<Dht>());
        IBootstrapper bootstrapper = settings.BootstrapKind switch
        {
            BootstrapKind.Dns => new DnsBootstrapper(settings.DnsBootstrapDomain),
            BootstrapKind.Http => new HttpBootstrapper(settings.HttpBootstrapUrl!, settings.HttpBootstrapCertDir),
            _ => new StaticBootstrapper(settings.StaticBootstrapPeers),
        };
        return new P2PRouter(host, dht, bootstrapper, loggers.CreateLogger<P2PRouter>());
    }

    [LoggerMessage(EventId = 1410, Level = LogLevel.Information, Message = "Router in a private network (swarm key fingerprint {Fingerprint}): only peers with the same key can connect")]
    private static partial void LogPrivateNetwork(ILogger logger, string fingerprint);
}
