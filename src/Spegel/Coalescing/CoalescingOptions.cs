namespace Spegel.Coalescing;

/// <summary>Timings of pull coalescing (see <see cref="PullCoalescer"/>).</summary>
internal sealed record CoalescingOptions
{
    /// <summary>After claiming a blob, how long to wait for rival claims to become visible before deciding.</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The longest a claim lookup may take; a slower DHT means no coalescing, not a slower miss.</summary>
    public TimeSpan LookupLimit { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How long a claim stays valid: long enough for our containerd to start the download it claimed.</summary>
    public TimeSpan ClaimLifetime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a peer's request waits for our claimed download to start before it is told 404.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>A download that has not grown for this long is given up by the peers following it.</summary>
    public TimeSpan StallLimit { get; init; } = TimeSpan.FromSeconds(30);

    public TimeProvider Time { get; init; } = TimeProvider.System;
}
