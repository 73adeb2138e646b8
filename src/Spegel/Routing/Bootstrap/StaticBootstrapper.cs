using Spegel.Libp2p.Primitives;

namespace Spegel.Routing.Bootstrap;

/// <summary><c>--static-bootstrap-peers</c>: full <c>/ip4/…/tcp/…/p2p/&lt;id&gt;</c> multiaddrs.</summary>
internal sealed class StaticBootstrapper(IReadOnlyList<Multiaddr> peers) : IBootstrapper
{
    /// <summary>Parses the flag's values; every bad entry is reported.</summary>
    public static IReadOnlyList<Multiaddr> Parse(IEnumerable<string> values, ICollection<string> errors)
    {
        var result = new List<Multiaddr>();
        foreach (string value in values)
        {
            if (!Multiaddr.TryParse(value, out var address, out string? error))
            {
                errors.Add($"--static-bootstrap-peers: '{value}': {error}");
            }
            else if (address!.PeerId is null)
            {
                errors.Add($"--static-bootstrap-peers: '{value}' has no /p2p/<peer id>");
            }
            else
            {
                result.Add(address);
            }
        }

        return result;
    }

    public Task<IReadOnlyList<Multiaddr>> GetAsync(CancellationToken cancellationToken) => Task.FromResult(peers);
}
