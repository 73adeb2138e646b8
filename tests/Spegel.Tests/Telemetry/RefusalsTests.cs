using Microsoft.Extensions.Logging;
using Spegel.Telemetry;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Telemetry;

/// <summary>Refusals are all counted, under a fixed label set, and logged at a bounded rate.</summary>
public sealed class RefusalsTests
{
    [Fact]
    public void EveryRefusalIsCountedButOnlyOnePerIntervalIsLogged()
    {
        var time = new ManualTime();
        var logger = new ListLogger<Refusals>();
        var instruments = new SpegelInstruments();
        var refusals = new Refusals(instruments, logger, time);

        for (int i = 0; i < 1000; i++)
        {
            refusals.Refuse(RefusalReason.ProofInvalid, $"attempt {i}");
        }

        refusals.Refuse(RefusalReason.TagUnconfirmed, "a tag");
        Assert.Equal(1000, refusals.Count(RefusalReason.ProofInvalid));
        Assert.Equal(["attempt 0", "a tag"], logger.Entries.Select(e => e.Message.Split(';')[0].Split(": ")[1]));

        time.Advance(Refusals.LogInterval);
        refusals.Refuse(RefusalReason.ProofInvalid, "later");
        Assert.Equal(3, logger.Entries.Count);
        Assert.Contains("later; 999 more since the previous such line", logger.Entries[2].Message, StringComparison.Ordinal);
        Assert.All(logger.Entries, e => Assert.Equal(LogLevel.Warning, e.Level));
        Assert.All(logger.Entries, e => Assert.Equal(2301, e.EventId));
    }

    [Fact]
    public async Task EveryReasonIsExportedFromTheStartWithAFixedLabel()
    {
        var instruments = new SpegelInstruments();
        _ = new Refusals(instruments);
        // The bounds' reasons too (connection cap, registry, metrics endpoint): they used to appear only once hit.
        string[] labels = [.. Enum.GetValues<RefusalReason>().Select(Refusals.Label), .. Refusals.BoundLabels];
        Assert.Contains("connection_limit", labels);
        Assert.Equal(labels.Length, labels.Distinct().Count());
        Assert.All(labels, label => Assert.Matches("^[a-z_]+$", label));

        using var stream = new MemoryStream();
        await instruments.Registry.CollectAndExportAsTextAsync(stream);
        string exposition = System.Text.Encoding.UTF8.GetString(stream.ToArray());
        Assert.All(labels, label => Assert.Contains($"spegel_refused_total{{reason=\"{label}\"}} 0", exposition, StringComparison.Ordinal));
    }

    [Fact]
    public void ClaimsForOtherClientsAreRoutineAndLoggedAtDebug()
    {
        var logger = new ListLogger<Refusals>();
        new Refusals(new SpegelInstruments(), logger, new ManualTime()).Refuse(RefusalReason.ClaimNotLocal, "x");
        Assert.Equal(LogLevel.Debug, Assert.Single(logger.Entries).Level);
    }
}
