using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Spegel.Cli;
using Spegel.Hosting;
using Spegel.Registry;
using Spegel.Routing;

namespace Spegel.Tests.Registry;

/// <summary>The real registry web host on a loopback port, over a test store.</summary>
internal sealed class RegistryServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RegistryServer(WebApplication app, int port, Spegel.Telemetry.SpegelInstruments instruments)
    {
        _app = app;
        Port = port;
        Instruments = instruments;
    }

    /// <summary>This server's metrics (its own registry: tests running side by side count apart).</summary>
    public Spegel.Telemetry.SpegelInstruments Instruments { get; }

    public int Port { get; }

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}");

    public static async Task<RegistryServer> StartAsync(
        MemoryContentStore store, BasicAuth? auth = null, IRouter? router = null, Spegel.Coalescing.PullCoalescer? coalescer = null, Spegel.Oci.ContentPolicy? policy = null,
        PeerAuthenticator? peers = null, Func<RegistrySettings, RegistrySettings>? tune = null)
    {
        var settings = Settings("--registry-addr", "127.0.0.1:0", "--bootstrap-kind", "static", "--log-level", "ERROR");
        settings = tune?.Invoke(settings) ?? settings;
        var stats = new Spegel.Mirroring.MirrorStats();
        var services = new RegistryServices(
            store, new NodeReadiness(router ?? new LocalOnlyRouter(), null), auth ?? BasicAuth.None, policy ?? Spegel.Oci.ContentPolicy.AllowAll, null, stats, coalescer, peers);
        var app = RegistryApp.Build(settings, services);
        await app.StartAsync();
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        int port = new Uri(addresses.First()).Port;
        return new RegistryServer(app, port, stats.Instruments);
    }

    /// <summary>
    /// Settings exactly as the command line would produce them, with no environment variables: one set on the machine
    /// (a <c>MIRROR_*</c> or <c>COALESCE_PULLS</c> on a CI runner) must not change what a test runs with.
    /// </summary>
    public static RegistrySettings Settings(params string[] args) => Settings(new Dictionary<string, string>(), args);

    /// <summary>Settings from <paramref name="args"/> and exactly the variables in <paramref name="environment"/>.</summary>
    public static RegistrySettings Settings(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var command = new RegistryCommand(environment: environment);
        var root = new RootCommand();
        var registry = command.Build();
        root.Subcommands.Add(registry);
        var parseResult = root.Parse(["registry", .. args]);
        var errors = new List<string>();
        var settings = command.Bind(parseResult, errors);
        Assert.Empty(errors);
        return settings!;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
