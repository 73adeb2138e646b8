using Microsoft.Extensions.Time.Testing;
using Spegel.Mirroring;

namespace Spegel.Tests.Mirroring;

/// <summary>The chunk grid learnt from a multipart client's ranges, the stripe order, and the range parser it uses.</summary>
public sealed class ChunkGridTests
{
    private const long MiB = 1024 * 1024;

    [Fact]
    public void TwoChunkStartsGiveTheChunkSizeWhateverTheirOrder()
    {
        var grid = new ChunkGrid(new FakeTimeProvider());
        Assert.Null(grid.Observe("a", 0)); // chunk 0 says nothing
        Assert.Null(grid.Observe("a", 3 * 32 * MiB)); // one start: could be a resume
        Assert.Equal(32 * MiB, grid.Observe("a", 2 * 32 * MiB));
        Assert.Equal(32 * MiB, grid.Observe("a", 5 * 32 * MiB));
        Assert.Null(grid.Grid("b"));
    }

    [Fact]
    public void AGridBelowTheMinimumIsNotBelieved()
    {
        var grid = new ChunkGrid(new FakeTimeProvider());
        grid.Observe("a", 32 * MiB);
        Assert.Null(grid.Observe("a", 12345)); // a resume at an odd offset: gcd 1
        Assert.Null(grid.Grid("a"));
    }

    [Fact]
    public void AnotherClientsRangesDoNotHideTheNextMultipartFetch()
    {
        var grid = new ChunkGrid(new FakeTimeProvider());
        grid.Observe("a", 12_500_000);
        Assert.Equal(12_500_000, grid.Observe("a", 25_000_000)); // someone cut the blob in 16 parts
        Assert.Null(grid.Observe("a", 16 * MiB)); // containerd starts: gcd 32 would be no grid; start again from here
        Assert.Equal(16 * MiB, grid.Observe("a", 32 * MiB));
    }

    [Fact]
    public void AGridIsForgottenAfterItsLifetime()
    {
        var time = new FakeTimeProvider();
        var grid = new ChunkGrid(time);
        grid.Observe("a", 4 * MiB);
        Assert.Equal(4 * MiB, grid.Observe("a", 8 * MiB));
        time.Advance(ChunkGrid.Lifetime + TimeSpan.FromSeconds(1));
        Assert.Null(grid.Grid("a"));
        Assert.Null(grid.Observe("a", 6 * MiB)); // a fresh start, not gcd(4, 6)
    }

    [Fact]
    public void MemoryIsBounded()
    {
        var grid = new ChunkGrid(new FakeTimeProvider());
        for (int i = 0; i < ChunkGrid.MaxEntries * 3; i++)
        {
            grid.Observe($"blob-{i}", MiB);
        }

        Assert.True(grid.Count <= ChunkGrid.MaxEntries, $"{grid.Count} entries");
    }

    [Fact]
    public void ConsecutiveChunksStartAtConsecutivePeersInAnyInputOrder()
    {
        string[] peers = ["peer-b", "peer-c", "peer-a"];
        var firsts = Enumerable.Range(0, 6).Select(i => ChunkGrid.StripeOrder(peers, p => p, "sha256:x", ChunkGrid.StripeIndex(i * 32 * MiB, 32 * MiB))[0]).ToList();
        Assert.Equal(3, firsts.Take(3).Distinct().Count());
        Assert.Equal(firsts.Take(3), firsts.Skip(3));
        Assert.Equal(
            ChunkGrid.StripeOrder(peers, p => p, "sha256:x", 7),
            ChunkGrid.StripeOrder(peers.Reverse(), p => p, "sha256:x", 7));
        Assert.Equal(3, ChunkGrid.StripeOrder(peers, p => p, "sha256:x", 1).Distinct().Count()); // every peer, once
    }

    [Theory]
    [InlineData("bytes=0-", 0L, true)]
    [InlineData("bytes=33554432-", 33554432L, true)]
    [InlineData("bytes=5-9", 5L, false)]
    [InlineData("bytes=5-5", 5L, false)]
    public void RangeStartsAreParsed(string range, long start, bool openEnded)
    {
        Assert.Equal(start, ChunkGrid.RangeStart(range, out bool open));
        Assert.Equal(openEnded, open);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("bytes=")]
    [InlineData("bytes=-")]
    [InlineData("bytes=-5")]
    [InlineData("bytes=a-")]
    [InlineData("bytes=5-3")]
    [InlineData("bytes=+5-")]
    [InlineData("bytes= 5-")]
    [InlineData("bytes=5- ")]
    [InlineData("bytes=0-1,5-")]
    [InlineData("bytes=99999999999999999999-")]
    [InlineData("items=0-")]
    [InlineData("Bytes=0-")]
    public void MalformedRangesAreNotStriped(string? range)
    {
        Assert.Null(ChunkGrid.RangeStart(range, out bool open));
        Assert.False(open);
    }
}
