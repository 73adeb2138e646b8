using System.CommandLine;
using System.Text.RegularExpressions;
using Spegel.Hosting;
using Spegel.Mirroring;
using Spegel.Oci;

namespace Spegel.Cli;

/// <summary><c>spegel registry</c>: the daemon (SPEC §2.2).</summary>
internal sealed class RegistryCommand
{
    private readonly Flag<Microsoft.Extensions.Logging.LogLevel> _logLevel;
    private readonly Flag<ListenAddress> _registryAddr = new("--registry-addr", "REGISTRY_ADDR", "Address of the registry API; its port is also used to reach peers.", new ListenAddress(string.Empty, 5000), ":5000", FlagShape.Single, FlagParsers.Address);
    private readonly Flag<ListenAddress> _routerAddr = new("--router-addr", "ROUTER_ADDR", "Address of the peer-to-peer router (libp2p over TCP).", new ListenAddress(string.Empty, 5001), ":5001", FlagShape.Single, FlagParsers.Address);
    private readonly Flag<ListenAddress> _metricsAddr = new("--metrics-addr", "METRICS_ADDR", "Address of the metrics and debug web UI server.", new ListenAddress(string.Empty, 9090), ":9090", FlagShape.Single, FlagParsers.Address);
    private readonly Flag<string> _containerdSock = new("--containerd-sock", "CONTAINERD_SOCK", "containerd's gRPC socket.", "/run/containerd/containerd.sock", "/run/containerd/containerd.sock", FlagShape.Single, FlagParsers.String);
    private readonly Flag<string> _containerdNamespace = new("--containerd-namespace", "CONTAINERD_NAMESPACE", "containerd namespace whose images are served.", "k8s.io", "k8s.io", FlagShape.Single, FlagParsers.String);
    private readonly Flag<string> _contentPath = new("--containerd-content-path", "CONTAINERD_CONTENT_PATH", "containerd's content store folder; empty: discover it through containerd, and read blobs over gRPC when it is not readable.", "/var/lib/containerd/io.containerd.content.v1.content", "/var/lib/containerd/io.containerd.content.v1.content", FlagShape.Single, AllowEmpty);
    private readonly Flag<string> _registryConfigPath = CommonFlags.RegistryConfigPath("Folder containerd reads hosts.toml from (checked by preflight).");
    private readonly Flag<string> _dataDir = new("--data-dir", "DATA_DIR", "Folder where the node identity (private.key) persists; empty: a new identity per start.", string.Empty, string.Empty, FlagShape.Single, AllowEmpty);
    private readonly Flag<IReadOnlyList<string>> _mirroredRegistries = CommonFlags.MirroredRegistries("Registries whose content is advertised and mirrored; empty: all.");
    private readonly Flag<IReadOnlyList<Regex>> _registryFilters = new("--registry-filters", "REGISTRY_FILTERS", "Regular expressions over registry/repository[:tag]; matching content is neither advertised nor mirrored (e.g. :latest$).", [], string.Empty, FlagShape.List, FlagParsers.Regexes);
    private readonly Flag<TimeSpan> _resolveTimeout = Duration("--mirror-resolve-timeout", "MIRROR_RESOLVE_TIMEOUT", "Longest wait for the next peer from a lookup.", MirrorOptions.DefaultResolveTimeout);
    private readonly Flag<int> _resolveRetries = new("--mirror-resolve-retries", "MIRROR_RESOLVE_RETRIES", "Most peers tried for one request.", MirrorOptions.DefaultResolveRetries, Text(MirrorOptions.DefaultResolveRetries), FlagShape.Single, FlagParsers.Int(1, 100));
    private readonly Flag<TimeSpan> _connectTimeout = Duration("--mirror-connect-timeout", "MIRROR_CONNECT_TIMEOUT", "Longest wait to connect to a peer (peers are on the local network).", MirrorOptions.DefaultConnectTimeout);
    private readonly Flag<int> _minDataRate = new("--mirror-min-data-rate", "MIRROR_MIN_DATA_RATE", "Bytes per second a peer must deliver over each grace period, or the transfer resumes from the next peer.", MirrorOptions.DefaultMinDataRate, Text(MirrorOptions.DefaultMinDataRate), FlagShape.Single, FlagParsers.Int(1, int.MaxValue));
    private readonly Flag<TimeSpan> _rateGrace = Duration("--mirror-rate-grace-period", "MIRROR_RATE_GRACE_PERIOD", "Grace period of the minimum data rate (and the wait for a blob's response headers).", MirrorOptions.DefaultRateGracePeriod);
    private readonly Flag<TimeSpan> _hedgeDelay = Duration("--mirror-hedge-delay", "MIRROR_HEDGE_DELAY", "A second peer is asked when the first has not answered within this.", MirrorOptions.DefaultHedgeDelay);
    private readonly Flag<bool> _resolveLatestTag = new("--resolve-latest-tag", "RESOLVE_LATEST_TAG", "Resolve the latest tag through peers (deprecated: use --registry-filters).", true, "true", FlagShape.Switch, FlagParsers.Bool);
    private readonly Flag<bool> _debugWeb = new("--debug-web-enabled", "DEBUG_WEB_ENABLED", "Serve the debug web UI on the metrics address.", true, "true", FlagShape.Switch, FlagParsers.Bool);
    private readonly Flag<BootstrapKind?> _bootstrapKind = new("--bootstrap-kind", "BOOTSTRAP_KIND", "How to find the first peers: dns, http or static (required).", null, string.Empty, FlagShape.Single, FlagParsers.Enum<BootstrapKind?>(("dns", BootstrapKind.Dns), ("http", BootstrapKind.Http), ("static", BootstrapKind.Static)));
    private readonly Flag<string> _dnsDomain = new("--dns-bootstrap-domain", "DNS_BOOTSTRAP_DOMAIN", "Domain resolved to the peers' IPs (dns bootstrap).", string.Empty, string.Empty, FlagShape.Single, FlagParsers.String);
    private readonly Flag<ListenAddress?> _httpAddr = new("--http-bootstrap-addr", "HTTP_BOOTSTRAP_ADDR", "Address to serve GET /id on (http bootstrap; also /v0.7/id, always one object, and /main/id, always a list); empty: do not serve.", null, string.Empty, FlagShape.Single, FlagParsers.OptionalAddress);
    private readonly Flag<Uri?> _httpUrl = new("--http-bootstrap-url", "HTTP_BOOTSTRAP_URL", "Full URL of a peer's bootstrap document, fetched as-is, e.g. http://10.0.0.5:5002/id (Spegel main's flag; this node's /id then answers a JSON list).", null, string.Empty, FlagShape.Single, FlagParsers.Url);
    private readonly Flag<string> _httpPeer = new("--http-bootstrap-peer", "HTTP_BOOTSTRAP_PEER", "Base URL of a peer's bootstrap server; /id is appended, e.g. http://10.0.0.5:5002 (Spegel v0.7.x's flag; this node's /id then answers one JSON object).", string.Empty, string.Empty, FlagShape.Single, FlagParsers.String);
    private readonly Flag<string> _httpCertDir = new("--http-bootstrap-cert-dir", "HTTP_BOOTSTRAP_CERT_DIR", "Folder with ca.crt and optionally tls.crt/tls.key for the http bootstrap.", string.Empty, string.Empty, FlagShape.Single, AllowEmpty);
    private readonly Flag<IReadOnlyList<string>> _staticPeers = new("--static-bootstrap-peers", "STATIC_BOOTSTRAP_PEERS", "Peers as full multiaddrs /ip4/…/tcp/5001/p2p/<id> (static bootstrap).", [], string.Empty, FlagShape.List, FlagParsers.Strings);
    private readonly Flag<string> _basicAuthDir = CommonFlags.BasicAuthDir();
    private readonly Flag<string> _swarmKeyPath = new("--router-swarm-key-path", "ROUTER_SWARM_KEY_PATH", "A libp2p swarm key file (/key/swarm/psk/1.0.0/, /base16/, 64 hex characters): the router joins that private network and admits only peers with the same key; empty: the open network stock Spegel uses.", string.Empty, string.Empty, FlagShape.Single, AllowEmpty);
    private readonly Flag<bool> _announceLoopback = new("--router-announce-loopback", "ROUTER_ANNOUNCE_LOOPBACK", "Announce loopback addresses to peers (tests on one machine only; Spegel never does).", false, "false", FlagShape.Switch, FlagParsers.Bool);
    private readonly Flag<bool> _coalescePulls = new("--coalesce-pulls", "COALESCE_PULLS", "When several nodes pull a blob nobody holds yet, one downloads it from the upstream and the others follow that download (needs a readable --containerd-content-path).", true, "true", FlagShape.Switch, FlagParsers.Bool);
    private readonly Flag<System.Net.IPAddress?> _nodeIp = new("--node-ip", "NODE_IP", "This node's IP, as containerd reaches the registry from it (the chart sets NODE_IP). Requests from it, from loopback or from this host's own addresses are this node's containerd: the only client whose misses may claim a download for pull coalescing.", null, string.Empty, FlagShape.Single, FlagParsers.OptionalIp);
    private readonly Flag<bool> _preflight = new("--preflight", "PREFLIGHT", "Check containerd's configuration at start and report what would stop mirroring (log, metric, debug page); never fatal.", true, "true", FlagShape.Switch, FlagParsers.Bool);

    /// <param name="logLevel">The global <c>--log-level</c> (the root command's); tests may leave it to the command.</param>
    /// <param name="environment">The environment variables to bind from; null: the process's.</param>
    public RegistryCommand(Flag<Microsoft.Extensions.Logging.LogLevel>? logLevel = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        _logLevel = logLevel ?? CommonFlags.LogLevel();
        if (environment is not null)
        {
            foreach (var flag in Flags)
            {
                flag.ReadEnvironment = name => environment.GetValueOrDefault(name);
            }
        }
    }

    public IEnumerable<Flag> Flags =>
    [
        _logLevel, _registryAddr, _routerAddr, _metricsAddr, _containerdSock, _containerdNamespace, _contentPath, _registryConfigPath,
        _dataDir, _mirroredRegistries, _registryFilters, _resolveTimeout, _resolveRetries, _connectTimeout, _minDataRate, _rateGrace, _hedgeDelay, _resolveLatestTag, _debugWeb,
        _bootstrapKind, _dnsDomain, _httpAddr, _httpUrl, _httpPeer, _httpCertDir, _staticPeers, _swarmKeyPath, _announceLoopback, _basicAuthDir, _coalescePulls, _nodeIp, _preflight,
    ];

    public Command Build()
    {
        var command = Flag.Command("registry", "Run the registry mirror daemon (the DaemonSet container).", Flags);

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var errors = new List<string>();
            var settings = Bind(parseResult, errors);
            if (errors.Count > 0)
            {
                return CliErrors.Report(errors, "registry");
            }

            return await RegistryApp.RunAsync(settings!, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>Resolves every flag and reports every problem at once.</summary>
    public RegistrySettings? Bind(ParseResult parseResult, List<string> errors)
    {
        var kind = _bootstrapKind.Resolve(parseResult, errors);
        string dnsDomain = _dnsDomain.Resolve(parseResult, errors);
        var httpUrl = _httpUrl.Resolve(parseResult, errors);
        string httpPeer = _httpPeer.Resolve(parseResult, errors);
        if (httpPeer.Length > 0)
        {
            if (httpUrl is not null)
            {
                errors.Add("--http-bootstrap-url (HTTP_BOOTSTRAP_URL) and --http-bootstrap-peer (HTTP_BOOTSTRAP_PEER) are the same setting in two Spegel generations: set one (the full URL of /id, or the base URL /id is appended to)");
            }
            else
            {
                httpUrl = Routing.Bootstrap.HttpBootstrapper.PeerUrl(httpPeer);
                if (httpUrl is null)
                {
                    errors.Add($"--http-bootstrap-peer (HTTP_BOOTSTRAP_PEER): '{httpPeer}' + \"/id\" is not an absolute http:// or https:// URL, e.g. http://10.0.0.5:5002");
                }
            }
        }

        var staticPeers = _staticPeers.Resolve(parseResult, errors);
        switch (kind)
        {
            case null when !_bootstrapKind.IsSet(parseResult):
                errors.Add("--bootstrap-kind (BOOTSTRAP_KIND) is required: dns, http or static");
                break;
            case BootstrapKind.Dns when dnsDomain.Length == 0:
                errors.Add("--bootstrap-kind=dns needs --dns-bootstrap-domain (DNS_BOOTSTRAP_DOMAIN), e.g. spegel-bootstrap.spegel.svc.cluster.local.");
                break;
            case BootstrapKind.Http when httpUrl is null && httpPeer.Length == 0:
                errors.Add("--bootstrap-kind=http needs --http-bootstrap-url (HTTP_BOOTSTRAP_URL), e.g. http://10.0.0.5:5002/id, or Spegel v0.7's --http-bootstrap-peer (HTTP_BOOTSTRAP_PEER), e.g. http://10.0.0.5:5002");
                break;
        }

        var staticAddresses = Routing.Bootstrap.StaticBootstrapper.Parse(staticPeers, errors);

        var mirrored = CliErrors.ParseRegistries(_mirroredRegistries, parseResult, allowWildcard: true, errors);
        var settings = new RegistrySettings
        {
            LogLevel = _logLevel.Resolve(parseResult, errors),
            RegistryAddr = _registryAddr.Resolve(parseResult, errors),
            RouterAddr = _routerAddr.Resolve(parseResult, errors),
            MetricsAddr = _metricsAddr.Resolve(parseResult, errors),
            ContainerdSock = _containerdSock.Resolve(parseResult, errors),
            ContainerdNamespace = _containerdNamespace.Resolve(parseResult, errors),
            ContainerdContentPath = _contentPath.Resolve(parseResult, errors),
            ContainerdRegistryConfigPath = _registryConfigPath.Resolve(parseResult, errors),
            DataDir = _dataDir.Resolve(parseResult, errors),
            MirroredRegistries = mirrored,
            RegistryFilters = _registryFilters.Resolve(parseResult, errors),
            MirrorResolveTimeout = _resolveTimeout.Resolve(parseResult, errors),
            MirrorResolveRetries = _resolveRetries.Resolve(parseResult, errors),
            ResolveLatestTag = _resolveLatestTag.Resolve(parseResult, errors),
            MirrorConnectTimeout = _connectTimeout.Resolve(parseResult, errors),
            MirrorMinDataRate = _minDataRate.Resolve(parseResult, errors),
            MirrorRateGracePeriod = _rateGrace.Resolve(parseResult, errors),
            MirrorHedgeDelay = _hedgeDelay.Resolve(parseResult, errors),
            DebugWebEnabled = _debugWeb.Resolve(parseResult, errors),
            BootstrapKind = kind ?? BootstrapKind.Static,
            DnsBootstrapDomain = dnsDomain,
            HttpBootstrapAddr = _httpAddr.Resolve(parseResult, errors),
            HttpBootstrapUrl = httpUrl,
            HttpBootstrapIdShape = httpPeer.Length > 0 ? Routing.Bootstrap.IdShape.Object : Routing.Bootstrap.IdShape.List,
            HttpBootstrapCertDir = _httpCertDir.Resolve(parseResult, errors),
            StaticBootstrapPeers = staticAddresses,
            BasicAuthDir = _basicAuthDir.Resolve(parseResult, errors),
            SwarmKey = LoadSwarmKey(_swarmKeyPath.Resolve(parseResult, errors), errors),
            RouterAnnounceLoopback = _announceLoopback.Resolve(parseResult, errors),
            CoalescePulls = _coalescePulls.Resolve(parseResult, errors),
            NodeIp = _nodeIp.Resolve(parseResult, errors),
            Preflight = _preflight.Resolve(parseResult, errors),
        };
        return errors.Count == 0 ? settings : null;
    }

    /// <summary>The swarm key's 32 bytes, or null when no file is configured; a file that is not a key is an error.</summary>
    private static byte[]? LoadSwarmKey(string path, List<string> errors)
    {
        if (path.Length == 0)
        {
            return null;
        }

        const string flag = "--router-swarm-key-path (ROUTER_SWARM_KEY_PATH)";
        try
        {
            return Libp2p.Pnet.SwarmKey.Load(path).Bytes.ToArray();
        }
        catch (InvalidDataException ex)
        {
            errors.Add($"{flag}: {path} is not a libp2p swarm key file: {ex.Message}");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            errors.Add($"{flag}: cannot read {path}: {ex.Message}");
        }

        return null;
    }

    /// <summary>A duration flag whose default (value and help text) comes from where the option is declared.</summary>
    private static Flag<TimeSpan> Duration(string name, string env, string description, TimeSpan defaultValue) =>
        new(name, env, description, defaultValue, GoDuration.Format(defaultValue), FlagShape.Single, FlagParsers.Duration);

    private static string Text(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static bool AllowEmpty(IReadOnlyList<string> values, out string value, out string expected)
    {
        expected = "one value (may be empty)";
        value = values.Count == 1 ? values[0] : string.Empty;
        return values.Count <= 1;
    }
}
