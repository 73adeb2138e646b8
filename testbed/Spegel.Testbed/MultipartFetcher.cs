using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;

namespace Spegel.Testbed;

/// <summary>What a <see cref="MultipartFetcher"/> fetch did.</summary>
/// <param name="Bytes">Bytes delivered (reassembled and hashed).</param>
/// <param name="Digest">The sha256 digest of the reassembled bytes.</param>
/// <param name="Requests">The <c>Range</c> header of every request, in the order sent.</param>
/// <param name="Parallel">Whether the fetch was split (false: the first answer was read whole, as containerd does for a small blob or a 200).</param>
public sealed record MultipartResult(long Bytes, string Digest, TimeSpan Elapsed, IReadOnlyList<string> Requests, bool Parallel);

/// <summary>
/// Fetches a blob as containerd 2.1's registry fetcher does with <c>max_concurrent_downloads</c> = P and
/// <c>concurrent_layer_fetch_buffer</c> = C (core/remotes/docker/fetcher.go, <c>open</c>):
/// <list type="number">
/// <item>the first request is <c>GET</c> with <c>Range: bytes=0-</c>; its <c>Content-Length</c> is what remains;</item>
/// <item>when that is more than C and the answer is a 206, the blob is cut into ⌈remaining / C⌉ chunks, queued in
/// order to min(P, chunks) workers; chunk 0 is the first answer's body; chunk i is a new <c>GET</c> with the
/// open-ended <c>Range: bytes=i·C-</c>;</item>
/// <item>each worker reads at most C bytes of its answer (the last chunk reads to the end) and closes the body
/// without reading further: the connection is closed, not drained (Go's transport closes a body closed early);</item>
/// <item>the chunks are read in order by the consumer (here hashed and counted, and checked against the digest).</item>
/// </list>
/// Our own code from those facts; connections may be made inside a test network namespace (<see cref="NetnsSockets"/>).
/// </summary>
public sealed class MultipartFetcher(int workers, long chunkSize, string? netns = null)
{
    /// <summary>Fetches <paramref name="blobUrl"/> and checks the bytes hash to <paramref name="digest"/>.</summary>
    public async Task<MultipartResult> FetchAsync(Uri blobUrl, string digest, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 512L); // containerd's minimum for a parallel fetch
        using var http = new HttpClient(NetnsSockets.Handler(netns)) { Timeout = Timeout.InfiniteTimeSpan };
        var requests = new List<string>();
        var clock = Stopwatch.StartNew();
        using var first = await SendAsync(http, blobUrl, 0, requests, cancellationToken).ConfigureAwait(false);
        long remaining = first.Content.Headers.ContentLength ?? throw new InvalidDataException($"{blobUrl}: no Content-Length");
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        if (first.StatusCode != HttpStatusCode.PartialContent || remaining <= chunkSize)
        {
            await using var body = await first.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            long read = await CopyAsync(body, sha, cancellationToken).ConfigureAwait(false);
            return Finish(read, sha, digest, clock, requests, parallel: false);
        }

        long count = (remaining + chunkSize - 1) / chunkSize;
        var chunks = new TaskCompletionSource<byte[]>[count];
        for (long i = 0; i < count; i++)
        {
            chunks[i] = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        long next = -1;
        async Task WorkAsync()
        {
            long i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                try
                {
                    long length = Math.Min(chunkSize, remaining - (i * chunkSize));
                    chunks[i].SetResult(i == 0
                        ? await ReadChunkAsync(first, length, failed.Token).ConfigureAwait(false)
                        : await FetchChunkAsync(http, blobUrl, i * chunkSize, length, requests, failed.Token).ConfigureAwait(false));
                }
                catch (Exception ex)
                {
                    chunks[i].TrySetException(ex);
                    await failed.CancelAsync().ConfigureAwait(false);
                    throw;
                }
            }
        }

        var pool = Enumerable.Range(0, (int)Math.Min(workers, count)).Select(_ => Task.Run(WorkAsync, CancellationToken.None)).ToList();
        long total = 0;
        try
        {
            for (long i = 0; i < count; i++)
            {
                byte[] chunk = await chunks[i].Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                sha.AppendData(chunk);
                total += chunk.Length;
                chunks[i] = null!; // consumed: let it go
            }
        }
        finally
        {
            await failed.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(pool.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default))).ConfigureAwait(false);
        }

        return Finish(total, sha, digest, clock, requests, parallel: true);
    }

    private static MultipartResult Finish(long bytes, IncrementalHash sha, string digest, Stopwatch clock, List<string> requests, bool parallel)
    {
        string actual = "sha256:" + Convert.ToHexStringLower(sha.GetHashAndReset());
        if (!string.Equals(actual, digest, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"reassembled {bytes} bytes hash to {actual}, not {digest}");
        }

        lock (requests)
        {
            return new MultipartResult(bytes, actual, clock.Elapsed, [.. requests], parallel);
        }
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, Uri url, long offset, List<string> requests, CancellationToken cancellationToken)
    {
        string range = string.Create(CultureInfo.InvariantCulture, $"bytes={offset}-");
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.TryAddWithoutValidation("Range", range);
        lock (requests)
        {
            requests.Add(range);
        }

        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is not (HttpStatusCode.OK or HttpStatusCode.PartialContent))
        {
            response.Dispose();
            throw new HttpRequestException($"GET {url} ({range}) answered {(int)response.StatusCode}", null, response.StatusCode);
        }

        return response;
    }

    private static async Task<byte[]> FetchChunkAsync(HttpClient http, Uri url, long offset, long length, List<string> requests, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(http, url, offset, requests, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.PartialContent || response.Content.Headers.ContentRange?.From != offset)
        {
            // containerd's offset check: a range answered from elsewhere is an error.
            throw new InvalidDataException($"GET {url} bytes={offset}- answered {(int)response.StatusCode} {response.Content.Headers.ContentRange}");
        }

        return await ReadChunkAsync(response, length, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads exactly one chunk, then closes the body (the handler never drains: the connection closes).</summary>
    private static async Task<byte[]> ReadChunkAsync(HttpResponseMessage response, long length, CancellationToken cancellationToken)
    {
        byte[] chunk = new byte[length];
        await using (var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false))
        {
            await body.ReadExactlyAsync(chunk, cancellationToken).ConfigureAwait(false);
        }

        response.Dispose();
        return chunk;
    }

    private static async Task<long> CopyAsync(Stream body, IncrementalHash sha, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[256 * 1024];
        long total = 0;
        int n;
        while ((n = await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            sha.AppendData(buffer, 0, n);
            total += n;
        }

        return total;
    }
}
