namespace Spegel.Tests.Testing;

/// <summary>
/// Classes that measure the process's allocations (<see cref="GC.GetTotalAllocatedBytes"/> counts every thread's):
/// they run alone, after the parallel classes, so no other test's allocations are counted with theirs.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryCollection
{
    public const string Name = "memory";
}
