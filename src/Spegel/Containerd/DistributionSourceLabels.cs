using Spegel.Oci;

namespace Spegel.Containerd;

/// <summary>
/// containerd's distribution-source labels on content: <c>containerd.io/distribution.source.&lt;registry&gt;</c> =
/// <c>repository[,repository…]</c>, written by the pull that fetched the blob. The registry is its host without a port
/// (<c>containerd.io/distribution.source.10.0.0.5</c> for <c>10.0.0.5:5000</c>).
/// </summary>
internal static class DistributionSourceLabels
{
    public const string Prefix = "containerd.io/distribution.source.";

    /// <summary>The sources the labels name, in label order; labels of other kinds are ignored.</summary>
    public static IReadOnlyList<DistributionSource> Parse(IEnumerable<KeyValuePair<string, string>> labels)
    {
        List<DistributionSource>? sources = null;
        foreach (var (key, value) in labels)
        {
            if (key.StartsWith(Prefix, StringComparison.Ordinal))
            {
                (sources ??= []).Add(new DistributionSource(key[Prefix.Length..], value.Split(',')));
            }
        }

        return sources ?? [];
    }
}
