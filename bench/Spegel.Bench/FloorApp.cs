using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Spegel.Bench;

/// <summary>
/// The memory benchmark's baseline: the smallest Kestrel app (one route, console logging off) on the same runtime,
/// so the report shows what spegel adds above the floor. Answers <c>GET /</c> with its managed heap in bytes
/// (GC.GetTotalMemory, as spegel's <c>dotnet_total_memory_bytes</c>). Runs until SIGTERM.
/// </summary>
internal static class FloorApp
{
    public static async Task<int> RunAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.ListenLocalhost(port));
        var app = builder.Build();
        app.MapGet("/", () => GC.GetTotalMemory(false).ToString(CultureInfo.InvariantCulture));
        // The GC's effective settings (to check which knobs a runtimeconfig property or a variable reaches).
        app.MapGet("/gc", () => string.Join('\n', GC.GetConfigurationVariables().Select(kv => $"{kv.Key}={kv.Value}")));
        await app.RunAsync();
        return 0;
    }
}
