using Spegel.Testbed;

namespace Spegel.Tests.Testing;

/// <summary>The /proc/PID/status reader the memory benchmarks use (VmRSS, VmHWM, Threads), on real and malformed text.</summary>
public sealed class ProcessStatusTests
{
    private const string Status = "Name:\tspegel\nUmask:\t0022\nVmPeak:\t 3315164 kB\nVmHWM:\t   97340 kB\nVmRSS:\t   81234 kB\nThreads:\t23\nSigQ:\t0/95716\n";

    [Theory]
    [InlineData("VmRSS", 81234L * 1024)]
    [InlineData("VmHWM", 97340L * 1024)]
    [InlineData("Threads", 23L)]
    public void ReadsAFieldInBytesOrAsACount(string field, long expected) => Assert.Equal(expected, Measure.StatusField(Status, field));

    [Theory]
    [InlineData("VmRS")] // a prefix of a field is not the field
    [InlineData("VmSwap")] // absent
    [InlineData("SigQ")] // not a number
    [InlineData("Name")]
    public void AnAbsentOrNonNumericFieldIsNull(string field) => Assert.Null(Measure.StatusField(Status, field));

    [Theory]
    [InlineData("VmRSS:\n")]
    [InlineData("VmRSS:\t-5 kB\n")]
    [InlineData("VmRSS:\t12 MB\n")]
    [InlineData("VmRSS:\t12 kB extra\n")]
    [InlineData("VmRSS:\t99999999999999999999 kB\n")]
    [InlineData("VmRSS:\t9223372036854775807 kB\n")]
    [InlineData("VmRSS\t81234 kB\n")]
    [InlineData("")]
    public void MalformedTextIsNull(string status) => Assert.Null(Measure.StatusField(status, "VmRSS"));

    [Fact]
    public void ThisProcessHasAPeakAtLeastItsResidentMemory()
    {
        int pid = Environment.ProcessId;
        long rss = Measure.ResidentBytes(pid);
        Assert.True(rss > 0);
        Assert.True(Measure.PeakResidentBytes(pid) >= rss);
        Assert.True(Measure.ThreadCount(pid) >= 1);
    }

    [Fact]
    public void AProcessThatIsGoneReadsAsMissing() => Assert.Equal(-1, Measure.ResidentBytes(int.MaxValue));
}
