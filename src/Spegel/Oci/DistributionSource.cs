namespace Spegel.Oci;

/// <summary>
/// A registry a blob was pulled from and its repositories there that hold the blob (containerd records these as
/// distribution-source labels; its adapter translates them).
/// </summary>
internal sealed record DistributionSource(string Registry, IReadOnlyList<string> Repositories);
