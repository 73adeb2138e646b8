namespace Spegel.Libp2p.Tests;

/// <summary>Tests that measure the whole process (allocations) and must not share it with other tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "serial";
}
