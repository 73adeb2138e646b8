using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Spegel.Hosting;

/// <summary>
/// How every Kestrel host of ours starts: our logging, no <c>Server</c> header, and <see cref="SignalFreeLifetime"/> so
/// signals reach <see cref="ShutdownSignals"/> and the host stops when we stop it, within the drain we give it.
/// </summary>
internal static class SpegelWebHost
{
    /// <summary>How long a stopping server lets requests in flight finish before it aborts them.</summary>
    public static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(20);

    public static WebApplicationBuilder CreateBuilder(LogLevel level)
    {
        var builder = WebApplication.CreateSlimBuilder();
        SpegelLogging.Configure(builder.Logging, level);
        builder.Services.AddSingleton<IHostLifetime, SignalFreeLifetime>();
        builder.Services.Configure<HostOptions>(options => options.ShutdownTimeout = DrainTimeout);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);
        return builder;
    }

    /// <summary>Stops accepting, lets requests in flight finish within <paramref name="drain"/>, then disposes.</summary>
    public static async Task StopAsync(WebApplication? app, CancellationToken drain)
    {
        if (app is null)
        {
            return;
        }

        try
        {
            await app.StopAsync(drain).ConfigureAwait(false);
        }
        finally
        {
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>A host lifetime that registers no signal handlers (see <see cref="ShutdownSignals"/>).</summary>
internal sealed class SignalFreeLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
