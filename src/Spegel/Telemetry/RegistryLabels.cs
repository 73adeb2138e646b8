using System.Collections.Concurrent;

namespace Spegel.Telemetry;

/// <summary>
/// The <c>registry</c> label of <c>spegel_mirror_requests_total</c> when every registry is mirrored: a client's
/// <c>ns</c> is request text (20,000 unique values made 20,000 series), so only registries this node holds content of
/// (the ones its <c>spegel_advertised_*</c> gauges are labelled with, learned from the advertiser) keep their name; any
/// other is <see cref="Other"/>. With <c>--mirrored-registries</c> the label is the registry itself: a request for any
/// other registry is answered 404 before it is counted, so the set is the configured one.
/// </summary>
internal sealed class RegistryLabels
{
    public const string Other = "other";

    /// <summary>Registries learned at most: a node holds content of a handful; this only stops a runaway.</summary>
    public const int MaxKnown = 256;

    private readonly ConcurrentDictionary<string, byte> _known = new(StringComparer.Ordinal);

    /// <summary>This node holds content of <paramref name="registry"/> (the advertiser says so).</summary>
    public void Know(string registry)
    {
        if (_known.Count < MaxKnown)
        {
            _known.TryAdd(registry, 0);
        }
    }

    /// <summary>The label of a request for <paramref name="registry"/> when every registry is mirrored.</summary>
    public string Of(string registry) => _known.ContainsKey(registry) ? registry : Other;
}
