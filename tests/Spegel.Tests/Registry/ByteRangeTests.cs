using Spegel.Registry;

namespace Spegel.Tests.Registry;

public sealed class ByteRangeTests
{
    [Theory]
    [InlineData(null, "Whole", 0, 99)]
    [InlineData("", "Whole", 0, 99)]
    [InlineData("bytes=0-0", "Partial", 0, 0)]
    [InlineData("bytes=99-99", "Partial", 99, 99)]
    [InlineData("bytes=10-19", "Partial", 10, 19)]
    [InlineData("bytes=10-", "Partial", 10, 99)]
    [InlineData("bytes=-1", "Partial", 99, 99)]
    [InlineData("bytes=-30", "Partial", 70, 99)]
    [InlineData("bytes=-500", "Partial", 0, 99)]
    [InlineData("bytes=50-5000", "Partial", 50, 99)]
    [InlineData("BYTES = 1-2", "Partial", 1, 2)]
    [InlineData("bytes=100-", "Unsatisfiable", 0, 0)]
    [InlineData("bytes=100-200", "Unsatisfiable", 0, 0)]
    [InlineData("bytes=-0", "Unsatisfiable", 0, 0)]
    [InlineData("bytes=0-1,5-6", "Whole", 0, 99)]
    [InlineData("items=0-5", "Whole", 0, 99)]
    [InlineData("bytes=5-1", "Malformed", 0, 0)]
    [InlineData("bytes=a-b", "Malformed", 0, 0)]
    [InlineData("bytes=-", "Malformed", 0, 0)]
    [InlineData("bytes=", "Malformed", 0, 0)]
    [InlineData("bytes=1", "Malformed", 0, 0)]
    [InlineData("bytes=0-1,x", "Malformed", 0, 0)]
    [InlineData("bytes=99999999999999999999-", "Malformed", 0, 0)]
    [InlineData("garbage", "Malformed", 0, 0)]
    public void ParsesAgainstAHundredByteBlob(string? header, string expected, long start, long end)
    {
        var outcome = Enum.Parse<RangeOutcome>(expected);
        var range = RangeRequest.Parse(header, 100);
        Assert.Equal(outcome, range.Outcome);
        if (outcome is RangeOutcome.Partial or RangeOutcome.Whole)
        {
            Assert.Equal(start, range.Start);
            Assert.Equal(end, range.End);
        }
    }

    [Fact]
    public void AnEmptyBlobHasNoSatisfiableRange()
    {
        Assert.Equal(RangeOutcome.Unsatisfiable, RangeRequest.Parse("bytes=0-", 0).Outcome);
        Assert.Equal(RangeOutcome.Unsatisfiable, RangeRequest.Parse("bytes=-5", 0).Outcome);
        Assert.Equal(0, RangeRequest.Parse(null, 0).Length);
    }

    [Fact]
    public void RandomHeadersNeverThrowAndStayInBounds()
    {
        var random = new Random(7);
        const string alphabet = "bytes=-,0123456789 x";
        for (int i = 0; i < 20_000; i++)
        {
            char[] chars = new char[random.Next(0, 24)];
            for (int j = 0; j < chars.Length; j++)
            {
                chars[j] = alphabet[random.Next(alphabet.Length)];
            }

            long size = random.Next(0, 1000);
            var range = RangeRequest.Parse(new string(chars), size);
            if (range.Outcome == RangeOutcome.Partial)
            {
                Assert.InRange(range.Start, 0, size - 1);
                Assert.InRange(range.End, range.Start, size - 1);
            }
        }
    }
}
