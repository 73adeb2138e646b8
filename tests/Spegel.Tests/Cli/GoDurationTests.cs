using Spegel.Cli;

namespace Spegel.Tests.Cli;

public sealed class GoDurationTests
{
    [Theory]
    [InlineData("20ms", 20 * TimeSpan.TicksPerMillisecond)]
    [InlineData("1s", TimeSpan.TicksPerSecond)]
    [InlineData("2m", 2 * TimeSpan.TicksPerMinute)]
    [InlineData("1h30m", 90 * TimeSpan.TicksPerMinute)]
    [InlineData("1.5s", 15 * TimeSpan.TicksPerSecond / 10)]
    [InlineData("300us", 3000)]
    [InlineData("300µs", 3000)]
    [InlineData("500ns", 5)]
    [InlineData("0", 0)]
    [InlineData("-1s", -TimeSpan.TicksPerSecond)]
    public void ParsesGoSyntax(string text, long ticks)
    {
        Assert.True(GoDuration.TryParse(text, out var value));
        Assert.Equal(ticks, value.Ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("20")]
    [InlineData("ms")]
    [InlineData("1d")]
    [InlineData("1 s")]
    [InlineData("1.2.3s")]
    [InlineData("99999999999999999999999h")]
    [InlineData("--1s")]
    public void RejectsWhatGoRejects(string text) => Assert.False(GoDuration.TryParse(text, out _));

    [Theory]
    [InlineData(20, "20ms")]
    [InlineData(2000, "2s")]
    [InlineData(90_000, "1m30s")]
    public void FormatsLikeGo(int milliseconds, string expected) =>
        Assert.Equal(expected, GoDuration.Format(TimeSpan.FromMilliseconds(milliseconds)));
}
