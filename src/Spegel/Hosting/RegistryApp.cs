using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Spegel.Advertising;
using Spegel.Coalescing;
using Spegel.Containerd;
using Spegel.Mirroring;
using Spegel.Oci;
using Spegel.Registry;
using Spegel.Routing;
using Spegel.Routing.Bootstrap;
using Spegel.Store;
using Spegel.Telemetry;
using Spegel.Timing;

namespace Spegel.Hosting;

/// <summary>
/// The <c>spegel registry</c> daemon: connect to containerd, run the preflight checks, find the content folder, then
/// run the node (<see cref="NodeHost"/>: one host, one Kestrel) until stopped.
/// </summary>
internal static partial class RegistryApp
{
    private static readonly TimeSpan ContainerdWait = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Runs until <paramref name="stopping"/> fires (the first SIGTERM/SIGINT), then stops in order: Kestrel stops
    /// accepting and lets transfers in flight finish (at most <see cref="SpegelWebHost.DrainTimeout"/>), the advertiser's
    /// loop ends, the router closes. Exit code 0; a signal during start also ends in 0.
    /// </summary>
    public static async Task<int> RunAsync(RegistrySettings settings, CancellationToken stopping)
    {
        using var loggerFactory = SpegelLogging.CreateFactory(settings.LogLevel);
        var log = loggerFactory.CreateLogger("Spegel.Startup");
        try
        {
            return await RunCoreAsync(settings, loggerFactory, log, stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            LogStoppedDuringStart(log);
            return 0;
        }
        catch (IOException ex) when (ex.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException or System.Net.Sockets.SocketException)
        {
            // Kestrel could not listen (the port is taken, or needs privileges): say which address, without a stack trace.
            LogCannotListen(log, ex.Message);
            return 1;
        }
    }

    private static async Task<int> RunCoreAsync(RegistrySettings settings, ILoggerFactory loggerFactory, ILogger log, CancellationToken cancellationToken)
    {
        using var client = new ContainerdClient(settings.ContainerdSock, settings.ContainerdNamespace);

        string? version = await WaitForContainerdAsync(client, TimeProvider.System, log, cancellationToken).ConfigureAwait(false);
        if (version is null)
        {
            LogContainerdUnavailable(log, settings.ContainerdSock, ContainerdWait.TotalSeconds);
            return 1;
        }

        LogContainerd(log, version, settings.ContainerdSock, settings.ContainerdNamespace);
        // The node's metrics: on prometheus-net's default registry, which adds the process and .NET runtime metrics.
        var instruments = new SpegelInstruments(Prometheus.Metrics.DefaultRegistry);
        var preflight = settings.Preflight ? await PreflightAsync(client, version, settings, instruments, log, cancellationToken).ConfigureAwait(false) : [];

        var location = await ResolveContentLocationAsync(client, settings, log, cancellationToken).ConfigureAwait(false);
        BasicAuth auth;
        try
        {
            auth = BasicAuth.Load(settings.BasicAuthDir);
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            LogBadAuth(log, ex.Message);
            return 1;
        }

        var router = RoutingSetup.Create(settings, loggerFactory);
        using var peerHttp = PeerHttp.Create(settings.MirrorConnectTimeout);
        using var measureHttp = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
        var store = new ContainerdContentStore(client, location, loggerFactory.CreateLogger<ContainerdContentStore>());
        var policy = new ContentPolicy(settings.MirroredRegistries, settings.RegistryFilters, settings.ResolveLatestTag);
        var advertiser = new Advertiser(
            store, new ContainerdEventSource(client), router, policy,
            new AdvertiserOptions(location.Root, TimeSpan.FromMinutes(1), TimeProvider.System),
            loggerFactory.CreateLogger<Advertiser>(),
            instruments);
        var peerKey = MirrorSettings.PeerKey(settings, auth);
        var mirrorOptions = MirrorSettings.From(settings, peerKey);
        var stats = new MirrorStats(TimeProvider.System, instruments, policy);
        var refusals = new Refusals(instruments, loggerFactory.CreateLogger<Refusals>(), TimeProvider.System);
        var coalescer = settings.CoalescePulls && location.Root is { } contentRoot
            ? new PullCoalescer(
                router, new ContainerdIngests(contentRoot, settings.ContainerdNamespace, TimeProvider.System), new CoalescingOptions(), loggerFactory.CreateLogger<PullCoalescer>(), instruments, refusals)
            : null;
        var mirror = PeerMirror.Create(router, peerHttp, mirrorOptions, stats, loggerFactory, refusals);
        var nodeAddresses = new NodeAddresses(settings.NodeIp, TimeProvider.System);
        var services = new RegistryServices(
            store, new NodeReadiness(router, advertiser), auth, policy, mirror, stats, coalescer,
            new PeerAuthenticator(peerKey, nodeAddresses, TimeProvider.System), nodeAddresses, refusals);
        string localHost = settings.RegistryAddr.IsAnyHost ? "127.0.0.1" : settings.RegistryAddr.Host.Contains(':', StringComparison.Ordinal) ? $"[{settings.RegistryAddr.Host}]" : settings.RegistryAddr.Host;
        var measurer = new PullMeasurer(measureHttp, new Uri($"http://{localHost}:{settings.RegistryAddr.Port}"), router, auth.HeaderValue);
        var parts = new NodeParts(router, advertiser, new DebugSources(router, advertiser, stats, services.Readiness, preflight), measurer);

        // One host: the router and the advertiser start (in that order), then Kestrel accepts on every address.
        var app = NodeHost.Build(settings, services, parts);
        await using (app.ConfigureAwait(false))
        {
            try
            {
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
                LogServing(log, settings.RegistryAddr.ToString(), location.Root ?? "(containerd gRPC)", auth.Enabled);
                await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
            finally
            {
                // The host stops in order, bounded by the drain: Kestrel stops accepting and lets requests in flight
                // finish, then the advertiser's loop ends and the router closes.
                LogStopping(log, SpegelWebHost.DrainTimeout.TotalSeconds);
                using var drain = new CancellationTokenSource(SpegelWebHost.DrainTimeout);
                await app.StopAsync(drain.Token).ConfigureAwait(false);
            }
        }

        LogStopped(log);
        return 0;
    }

    /// <summary>The registry web host over the given parts (tests pass their own store, readiness or mirror).</summary>
    public static WebApplication Build(RegistrySettings settings, RegistryServices services) => NodeHost.Build(settings, services);

    private static async Task<string?> WaitForContainerdAsync(ContainerdClient client, TimeProvider time, ILogger log, CancellationToken cancellationToken)
    {
        long started = time.GetTimestamp();
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(2));
        while (true)
        {
            try
            {
                return await ContainerdInspector.GetVersionAsync(client, cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded && time.GetElapsedTime(started) < ContainerdWait)
            {
                string reason = File.Exists(client.SocketPath)
                    ? ex.Status.Detail
                    : "the socket does not exist (is containerd running, and does --containerd-sock name its socket?)";
                LogWaitingForContainerd(log, client.SocketPath, reason);
                await Task.Delay(backoff.Next(), time, cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException)
            {
                return null;
            }
        }
    }

    /// <summary>Checks containerd's configuration and reports what is wrong (log, metric, debug page); never fatal.</summary>
    private static async Task<IReadOnlyList<PreflightFinding>> PreflightAsync(ContainerdClient client, string version, RegistrySettings settings, SpegelInstruments instruments, ILogger log, CancellationToken cancellationToken)
    {
        var cri = await ContainerdInspector.GetCriSettingsAsync(client, cancellationToken).ConfigureAwait(false);
        var findings = Preflight.Evaluate(version, cri, settings.ContainerdRegistryConfigPath);
        foreach (var finding in findings)
        {
            string severity = finding.Severity == PreflightSeverity.Error ? "error" : "warning";
            instruments.PreflightFindings.WithLabels(finding.Check, severity).Set(1);
            if (finding.Severity == PreflightSeverity.Error)
            {
                LogPreflightError(log, finding.Message);
            }
            else
            {
                LogPreflightWarning(log, finding.Message);
            }
        }

        return findings;
    }

    private static async Task<ContentLocation> ResolveContentLocationAsync(ContainerdClient client, RegistrySettings settings, ILogger log, CancellationToken cancellationToken)
    {
        string? root = settings.ContainerdContentPath;
        if (string.IsNullOrEmpty(root))
        {
            root = await ContainerdInspector.DiscoverContentRootAsync(client, cancellationToken).ConfigureAwait(false);
        }

        if (root is not null && ContentLocation.IsReadable(root))
        {
            return new ContentLocation(root);
        }

        LogContentOverGrpc(log, root ?? "(not discovered)");
        return new ContentLocation(null);
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Connected to containerd {Version} at {Socket}, namespace {Namespace}")]
    private static partial void LogContainerd(ILogger logger, string version, string socket, string @namespace);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Waiting for containerd at {Socket}: {Reason}")]
    private static partial void LogWaitingForContainerd(ILogger logger, string socket, string reason);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Error, Message = "containerd did not answer at {Socket} within {Seconds} s: check --containerd-sock and that containerd is running")]
    private static partial void LogContainerdUnavailable(ILogger logger, string socket, double seconds);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Information, Message = "Stopping: the registry no longer accepts connections; requests in flight get up to {Seconds} s to finish")]
    private static partial void LogStopping(ILogger logger, double seconds);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Information, Message = "Stopped")]
    private static partial void LogStopped(ILogger logger);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Information, Message = "Stopped during start")]
    private static partial void LogStoppedDuringStart(ILogger logger);

    [LoggerMessage(EventId = 1013, Level = LogLevel.Error, Message = "Cannot listen: {Reason} (check --registry-addr, --metrics-addr and --http-bootstrap-addr)")]
    private static partial void LogCannotListen(ILogger logger, string reason);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Error, Message = "Preflight (spegel keeps running and serves what it can): {Message}")]
    private static partial void LogPreflightError(ILogger logger, string message);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Warning, Message = "Preflight (spegel keeps running): {Message}")]
    private static partial void LogPreflightWarning(ILogger logger, string message);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Warning, Message = "Content folder {Path} is not readable: blobs are read through containerd's gRPC API (slower); mount the folder read-only or set --containerd-content-path")]
    private static partial void LogContentOverGrpc(ILogger logger, string path);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Information, Message = "Serving the registry on {Address}; blobs from {ContentRoot}; basic auth {AuthEnabled}")]
    private static partial void LogServing(ILogger logger, string address, string contentRoot, bool authEnabled);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Error, Message = "Basic auth: {Reason}")]
    private static partial void LogBadAuth(ILogger logger, string reason);

}
