using System.IO.Pipelines;
using System.Security.Cryptography;
using Spegel.Containerd;
using Spegel.Oci;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Containerd;

/// <summary>
/// Finding containerd's downloads in progress, and reading them as they grow (the layout containerd 1.6 writes).
/// Timeouts and stalls are driven with <see cref="ManualTime"/>; tests about bytes read with no stall limit at all.
/// </summary>
public sealed class ContainerdIngestsTests : IDisposable
{
    private static readonly Digest Layer = Digest.Parse("sha256:" + new string('a', 64));
    private static readonly TimeSpan IngestPoll = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan ReaderPoll = TimeSpan.FromMilliseconds(10);
    private readonly TempFolder _root = new();
    private readonly ManualTime _time = new();

    [Theory]
    [InlineData("k8s.io/1/layer-sha256:{0}")]
    [InlineData("k8s.io/7/config-sha256:{0}")]
    [InlineData("k8s.io/1/unknown-sha256:{0}\n")]
    public void FindsADownloadByTheDigestItsRefNames(string reference)
    {
        string folder = AddIngest("x1", string.Format(System.Globalization.CultureInfo.InvariantCulture, reference, Layer.Hex), "1234", 10);
        var ingest = Ingests().Find(Layer);
        Assert.NotNull(ingest);
        Assert.Equal(folder, ingest.Folder);
        Assert.Equal(1234, ingest.Total);
    }

    [Theory]
    [InlineData("k8s.io/1/layer-sha256:{0}", "")]
    [InlineData("k8s.io/1/layer-sha256:{0}", "0")]
    [InlineData("k8s.io/1/layer-sha256:{0}", "-5")]
    [InlineData("k8s.io/1/layer-sha256:{0}", "12ab")]
    [InlineData("k8s.io/1/layer-sha256:{0}", "99999999999999999999999")]
    [InlineData("k8s.io/1/layersha256:{0}", "100")]
    [InlineData("k8s.io/1/layer-sha256:{0}0", "100")]
    [InlineData("", "100")]
    [InlineData("\u0000\u0001\u0002", "100")]
    [InlineData("default/7/config-sha256:{0}", "100")] // another containerd namespace's download (B8 of the audit)
    [InlineData("other/1/layer-sha256:{0}", "100")]
    [InlineData("k8s.io.evil/1/layer-sha256:{0}", "100")]
    [InlineData("sha256:{0}", "100")] // no namespace: not a download containerd's metadata store names
    public void IgnoresIngestsThatDoNotNameTheDigestWithAKnownSize(string reference, string total)
    {
        AddIngest("x1", string.Format(System.Globalization.CultureInfo.InvariantCulture, reference, Layer.Hex), total, 10);
        Assert.Null(Ingests().Find(Layer));
    }

    [Fact]
    public void AnotherNamespacesDownloadIsNeverPickedEvenWithMoreBytes()
    {
        // B8 of the audit: with the namespace ignored, namespace other's 1 MiB of a download was served to any client.
        AddIngest("theirs", $"other/1/layer-{Layer}", "100", 90);
        Assert.Null(Ingests().Find(Layer));
        string ours = AddIngest("ours", $"k8s.io/1/layer-{Layer}", "100", 10);
        Assert.Equal(ours, Ingests().Find(Layer)?.Folder);
        Assert.Equal(_root.Combine("ingest", "theirs"), new ContainerdIngests(_root.Path, "other", _time).Find(Layer)?.Folder);
    }

    [Fact]
    public void IgnoresOversizedRefFilesMissingFilesAndAMissingIngestFolder()
    {
        Assert.Null(Ingests().Find(Layer));
        AddIngest("big", new string('x', 10_000) + Layer, "100", 10);
        Directory.CreateDirectory(_root.Combine("ingest", "empty"));
        _root.Write("ingest/noref/total", "100");
        Assert.Null(Ingests().Find(Layer));
    }

    [Fact]
    public void PicksTheDownloadWithTheMostBytes()
    {
        AddIngest("a", $"k8s.io/1/layer-{Layer}", "100", 10);
        string furthest = AddIngest("b", $"k8s.io/2/layer-{Layer}", "100", 60);
        AddIngest("c", $"k8s.io/3/layer-{Layer}", "100", 30);
        Assert.Equal(furthest, Ingests().Find(Layer)!.Folder);
    }

    [Fact]
    public async Task WaitsForADownloadToStartAndGivesUpAfterTheTimeout()
    {
        var ingests = Ingests();
        var none = ingests.WaitAsync(Layer, TimeSpan.FromMilliseconds(100), CancellationToken.None);
        for (int poll = 0; poll < 4; poll++)
        {
            await _time.AdvanceWhenWaitingAsync(IngestPoll);
            Assert.False(none.IsCompleted); // still looking before the timeout
        }

        await _time.AdvanceWhenWaitingAsync(IngestPoll);
        Assert.Null(await none.Within("giving up"));
        Assert.Equal(TimeSpan.FromMilliseconds(100), _time.Elapsed);

        var waiting = ingests.WaitAsync(Layer, TimeSpan.FromSeconds(10), CancellationToken.None);
        await _time.NextTimerAsync(IngestPoll);
        Assert.False(waiting.IsCompleted);
        AddIngest("late", $"k8s.io/1/layer-{Layer}", "100", 0);
        _time.Advance(IngestPoll);
        Assert.NotNull(await waiting.Within("finding the download"));
    }

    [Fact]
    public async Task AReaderFollowsTheFileAsItGrowsAndThroughTheCommitRename()
    {
        byte[] blob = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);
        var digest = Digest.Sha256(SHA256.HashData(blob));
        string folder = AddIngest("grow", $"k8s.io/1/layer-{digest}", blob.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), 0);
        var ingests = Ingests();
        await using var reader = Open(ingests, digest);

        var writer = Task.Run(async () =>
        {
            await using (var data = new FileStream(Path.Combine(folder, "data"), FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
            {
                for (int offset = 0; offset < blob.Length; offset += 100_000)
                {
                    await data.WriteAsync(blob.AsMemory(offset, Math.Min(100_000, blob.Length - offset)));
                    await data.FlushAsync();
                    await Task.Delay(5);
                }
            }

            // containerd's commit: the data file moves into blobs/, the ingest folder goes.
            Directory.CreateDirectory(_root.Combine("blobs", "sha256"));
            File.Move(Path.Combine(folder, "data"), ingests.CommittedPath(digest));
            Directory.Delete(folder, recursive: true);
        });

        byte[] read = await ReadAllAsync(reader, 0, blob.Length);
        await writer;
        Assert.Equal(blob, read);
    }

    [Fact]
    public async Task AReaderServesARangeThatArrivesLater()
    {
        string folder = AddIngest("range", $"k8s.io/1/layer-{Layer}", "1000", 100);
        await using var reader = OpenOnManualTime(Ingests(), Layer, TimeSpan.FromSeconds(30));
        var reading = ReadAllAsync(reader, 500, 100);
        await _time.NextTimerAsync(ReaderPoll); // waiting for byte 500
        Assert.False(reading.IsCompleted);
        await File.AppendAllTextAsync(Path.Combine(folder, "data"), new string('z', 900));
        _time.Advance(ReaderPoll);
        Assert.Equal(Enumerable.Repeat((byte)'z', 100), await reading.Within("the range"));
    }

    [Fact]
    public async Task AnAbandonedDownloadFailsTheReaderAtOnce()
    {
        string folder = AddIngest("gone", $"k8s.io/1/layer-{Layer}", "1000", 100);
        await using var reader = OpenOnManualTime(Ingests(), Layer, TimeSpan.FromSeconds(30));
        var reading = ReadAllAsync(reader, 0, 1000);
        await _time.NextTimerAsync(ReaderPoll);
        Directory.Delete(folder, recursive: true);
        _time.Advance(ReaderPoll); // one poll, far below the stall limit
        var error = await Assert.ThrowsAsync<IOException>(() => reading.Within("the reader failing"));
        Assert.Contains("abandoned at 100 of 1000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARestartedDownloadFailsTheReader()
    {
        string folder = AddIngest("restart", $"k8s.io/1/layer-{Layer}", "1000", 300);
        await using var reader = OpenOnManualTime(Ingests(), Layer, TimeSpan.FromSeconds(30));
        var reading = ReadAllAsync(reader, 0, 1000);
        await _time.NextTimerAsync(ReaderPoll);
        await File.WriteAllBytesAsync(Path.Combine(folder, "data"), new byte[10]);
        _time.Advance(ReaderPoll);
        var error = await Assert.ThrowsAsync<IOException>(() => reading.Within("the reader failing"));
        Assert.Contains("restarted", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AStalledDownloadFailsTheReaderAfterTheStallLimit()
    {
        AddIngest("stall", $"k8s.io/1/layer-{Layer}", "1000", 100);
        var stallLimit = TimeSpan.FromSeconds(30);
        await using var reader = OpenOnManualTime(Ingests(), Layer, stallLimit);
        var reading = ReadAllAsync(reader, 0, 1000);

        // Up to the limit the reader keeps waiting; just past it, it gives up.
        await _time.NextTimerAsync(ReaderPoll);
        _time.Advance(stallLimit - ReaderPoll);
        await _time.NextTimerAsync(ReaderPoll);
        Assert.False(reading.IsCompleted);
        _time.Advance(ReaderPoll + TimeSpan.FromMilliseconds(1));
        var error = await Assert.ThrowsAsync<IOException>(() => reading.Within("the reader failing"));
        Assert.Contains("no progress for 30 s", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _root.Dispose();

    private ContainerdIngests Ingests() => new(_root.Path, "k8s.io", _time);

    /// <summary>A reader that polls on real time with no stall limit: nothing it does depends on how busy the machine is.</summary>
    private static IngestBlobReader Open(ContainerdIngests ingests, Digest digest) =>
        IngestBlobReader.TryOpen(digest, ingests.Find(digest)!, ingests.CommittedPath(digest), TimeSpan.MaxValue, TimeProvider.System)!;

    private IngestBlobReader OpenOnManualTime(ContainerdIngests ingests, Digest digest, TimeSpan stallLimit) =>
        IngestBlobReader.TryOpen(digest, ingests.Find(digest)!, ingests.CommittedPath(digest), stallLimit, _time)!;

    private static async Task<byte[]> ReadAllAsync(IngestBlobReader reader, long offset, long count)
    {
        var buffer = new MemoryStream();
        var pipe = PipeWriter.Create(buffer, new StreamPipeWriterOptions(leaveOpen: true));
        await reader.CopyToAsync(pipe, offset, count, CancellationToken.None);
        await pipe.CompleteAsync();
        return buffer.ToArray();
    }

    private string AddIngest(string name, string reference, string total, int dataBytes)
    {
        string folder = _root.Combine("ingest", name);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "ref"), reference);
        File.WriteAllText(Path.Combine(folder, "total"), total);
        File.WriteAllBytes(Path.Combine(folder, "data"), new byte[dataBytes]);
        return folder;
    }
}
