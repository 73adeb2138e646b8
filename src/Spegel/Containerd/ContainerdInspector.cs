using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Spegel.Containerd.Api.Cri;
using Spegel.Containerd.Api.Introspection;

namespace Spegel.Containerd;

/// <summary>The parts of containerd's CRI configuration that decide whether Spegel can work.</summary>
internal sealed record CriRegistrySettings(string? ConfigPath, bool? DiscardUnpackedLayers, bool? UseLocalImagePull);

/// <summary>Asks containerd about itself: version, content root, CRI configuration.</summary>
internal static class ContainerdInspector
{
    public static async Task<string> GetVersionAsync(ContainerdClient client, CancellationToken cancellationToken)
    {
        var response = await client.Version.VersionAsync(new Empty(), client.Call(cancellationToken, TimeSpan.FromSeconds(10))).ConfigureAwait(false);
        return response.Version;
    }

    /// <summary>The content plugin's root folder, as exported through introspection (<c>exports["root"]</c>).</summary>
    public static async Task<string?> DiscoverContentRootAsync(ContainerdClient client, CancellationToken cancellationToken)
    {
        var request = new PluginsRequest();
        request.Filters.Add("type==io.containerd.content.v1");
        var response = await client.Introspection.PluginsAsync(request, client.Call(cancellationToken, TimeSpan.FromSeconds(10))).ConfigureAwait(false);
        foreach (var plugin in response.Plugins)
        {
            if (plugin.Exports.TryGetValue("root", out string? root) && !string.IsNullOrEmpty(root))
            {
                return root;
            }
        }

        return null;
    }

    /// <summary>The CRI plugin's config (verbose <c>Status</c>), or null when the CRI plugin is not running.</summary>
    public static async Task<CriRegistrySettings?> GetCriSettingsAsync(ContainerdClient client, CancellationToken cancellationToken)
    {
        StatusResponse response;
        try
        {
            response = await client.CriRuntime.StatusAsync(new StatusRequest { Verbose = true }, client.Call(cancellationToken, TimeSpan.FromSeconds(10))).ConfigureAwait(false);
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.Unimplemented or StatusCode.Unavailable)
        {
            return null;
        }

        return response.Info.TryGetValue("config", out string? json) ? ParseCriConfig(json) : new CriRegistrySettings(null, null, null);
    }

    /// <summary>
    /// Reads <c>registry.configPath</c>, <c>containerd.discardUnpackedLayers</c> and (2.1+)
    /// <c>useLocalImagePull</c> out of the CRI config JSON. Unknown shapes give nulls, not errors.
    /// </summary>
    public static CriRegistrySettings ParseCriConfig(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            string? configPath = null;
            bool? discard = null;
            bool? useLocal = null;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (root.TryGetProperty("registry", out var registry) && registry.ValueKind == JsonValueKind.Object &&
                    registry.TryGetProperty("configPath", out var path) && path.ValueKind == JsonValueKind.String)
                {
                    configPath = path.GetString();
                }

                if (root.TryGetProperty("containerd", out var containerd) && containerd.ValueKind == JsonValueKind.Object)
                {
                    discard = Bool(containerd, "discardUnpackedLayers");
                    useLocal = Bool(containerd, "useLocalImagePull");
                }

                discard ??= Bool(root, "discardUnpackedLayers");
                useLocal ??= Bool(root, "useLocalImagePull");
            }

            return new CriRegistrySettings(configPath, discard, useLocal);
        }
        catch (JsonException)
        {
            return new CriRegistrySettings(null, null, null);
        }
    }

    private static bool? Bool(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean() : null;
}
