using System.Text.Json.Serialization;
using Spegel.Routing.Bootstrap;

namespace Spegel.Hosting;

/// <summary>
/// Source-generated JSON metadata for every type the product serializes with <see cref="System.Text.Json.JsonSerializer"/>,
/// so the published binary can be trimmed (no reflection-based serialization).
/// </summary>
[JsonSerializable(typeof(BootstrapPeerInfo))]
[JsonSerializable(typeof(BootstrapPeerInfo[]))]
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class SpegelJsonContext : JsonSerializerContext;
