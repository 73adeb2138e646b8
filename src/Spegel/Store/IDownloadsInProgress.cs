using Spegel.Oci;

namespace Spegel.Store;

/// <summary>
/// Blobs the store is downloading right now, readable before they are committed (pull coalescing: a leader serves its
/// download in progress to the peers following it). containerd's ingests are the implementation.
/// </summary>
internal interface IDownloadsInProgress
{
    /// <summary>
    /// Opens the download of <paramref name="digest"/>, waiting up to <paramref name="startTimeout"/> for it to start;
    /// null when none starts. The reader follows the download as it grows, and fails when it is abandoned, restarts,
    /// or does not grow for <paramref name="stallLimit"/>. Nothing read is verified: the reader's consumer hashes it.
    /// </summary>
    Task<BlobReader?> OpenAsync(Digest digest, TimeSpan startTimeout, TimeSpan stallLimit, CancellationToken cancellationToken);
}
