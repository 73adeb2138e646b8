namespace Spegel.Tests.Testing;

/// <summary>
/// Classes that hold the product to a promise measured in wall-clock time (an idle process exits within 5 s of
/// SIGTERM). They run alone, after the parallel classes, so the only load they share the machine with is the load
/// the machine has anyway.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingCollection
{
    public const string Name = "timing";
}
