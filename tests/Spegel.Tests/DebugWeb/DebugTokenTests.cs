using Spegel.Hosting;

namespace Spegel.Tests.DebugWeb;

public sealed class DebugTokenTests
{
    [Fact]
    public void EachTokenIsRandomAndMatchesOnlyItself()
    {
        var a = DebugToken.Generate();
        var b = DebugToken.Generate();
        Assert.NotEqual(a.Value, b.Value);
        Assert.Equal(43, a.Value.Length);
        Assert.True(a.Matches(a.Value));
        Assert.False(a.Matches(b.Value));
        Assert.False(a.Matches(a.Value[..42]));
        Assert.False(a.Matches(a.Value + "x"));
        Assert.False(a.Matches(a.Value.ToUpperInvariant() == a.Value ? a.Value.ToLowerInvariant() : a.Value.ToUpperInvariant()));
        Assert.False(a.Matches(null));
        Assert.False(a.Matches(string.Empty));
        Assert.DoesNotContain(a.Value, a.ToString(), StringComparison.Ordinal); // a log line or an exception message never carries it
    }
}
