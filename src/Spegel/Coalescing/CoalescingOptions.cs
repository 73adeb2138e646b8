namespace Spegel.Coalescing;

/// <summary>Timings of pull coalescing (see <see cref="PullCoalescer"/>).</summary>
internal sealed record CoalescingOptions
{
    /// <summary>After claiming a blob, how long to wait for rival claims to become visible before deciding.</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The longest a claim lookup may take; a slower DHT means no coalescing, not a slower miss.</summary>
    public TimeSpan LookupLimit { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// The longest a miss waits for its claim to be announced: to the connected peers nearest the claim key, no lookup
    /// first (milliseconds in a healthy cluster; the router's thorough publish goes on in the background). A slow DHT
    /// costs a miss at most this, where a publish used to cost its whole length (9.6 s with one member answering
    /// FIND_NODE after 9.5 s).
    /// </summary>
    public TimeSpan PublishWait { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest a claim's publish runs in the background: a third of the claim's lifetime, after which a late record helps nobody.</summary>
    public TimeSpan PublishLimit { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a claim stays valid: long enough for our containerd to start the download it claimed.</summary>
    public TimeSpan ClaimLifetime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a peer's request waits for our claimed download to start before it is told 404.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>A download that has not grown for this long is given up by the peers following it.</summary>
    public TimeSpan StallLimit { get; init; } = TimeSpan.FromSeconds(30);

    public TimeProvider Time { get; init; } = TimeProvider.System;
}
