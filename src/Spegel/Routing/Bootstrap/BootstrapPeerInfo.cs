using System.Text.Json.Serialization;

namespace Spegel.Routing.Bootstrap;

/// <summary>One entry of a <c>GET /id</c> answer: <c>{"ID":"12D3KooW…","Addrs":["/ip4/10.0.0.5/tcp/5001"]}</c>.</summary>
internal sealed record BootstrapPeerInfo([property: JsonPropertyName("ID")] string? Id, [property: JsonPropertyName("Addrs")] IReadOnlyList<string>? Addrs);

/// <summary>The JSON shape of a <c>GET /id</c> answer.</summary>
internal enum IdShape
{
    /// <summary><c>[{"ID":…,"Addrs":[…]}]</c>: what Spegel main serves and reads.</summary>
    List,

    /// <summary><c>{"ID":…,"Addrs":[…]}</c>: what Spegel v0.7.x serves and reads.</summary>
    Object,
}
