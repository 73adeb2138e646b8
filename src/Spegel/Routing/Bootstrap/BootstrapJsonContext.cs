using System.Text.Json.Serialization;

namespace Spegel.Routing.Bootstrap;

/// <summary>
/// Source-generated JSON metadata for the <c>/id</c> document, so the published binary can be trimmed (no
/// reflection-based serialization). Routing's own: the DTO and its context live together, below the hosts that serve it.
/// </summary>
[JsonSerializable(typeof(BootstrapPeerInfo))]
[JsonSerializable(typeof(BootstrapPeerInfo[]))]
internal sealed partial class BootstrapJsonContext : JsonSerializerContext;
