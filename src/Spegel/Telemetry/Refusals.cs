using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Spegel.Telemetry;

/// <summary>Why something from the network was refused. The metric's label set is exactly these values.</summary>
internal enum RefusalReason
{
    /// <summary>A request marked as a peer's (<c>X-Spegel-Mirrored</c>) without a proof, where the swarm key requires one.</summary>
    ProofMissing,

    /// <summary>A proof that is malformed, signed with another key, or addressed to another host.</summary>
    ProofInvalid,

    /// <summary>A proof whose time is further from ours than the allowed clock skew.</summary>
    ProofExpired,

    /// <summary>A proof seen before (a replay).</summary>
    ProofReplayed,

    /// <summary>Too many recent proofs to remember: refused rather than risk accepting a replay.</summary>
    ProofWindowFull,

    /// <summary>A miss that would have claimed a download (pull coalescing) from a client that is not this node's containerd.</summary>
    ClaimNotLocal,

    /// <summary>A tag no set of independent peers agreed on (fewer than required answered the same digest).</summary>
    TagUnconfirmed,

    /// <summary>A tag peers answered with different digests, none confirmed often enough.</summary>
    TagDisagreement,

    /// <summary>A request for a whole blob answered 206 or 416 by a peer.</summary>
    PartialForWhole,

    /// <summary>A peer's <c>Docker-Content-Digest</c> that names other content than it sent or than was asked for.</summary>
    DigestHeaderMismatch,
}

/// <summary>
/// Counts refusals (<c>spegel_refused_total{reason}</c>, every reason present from the start) and logs them at most
/// once per reason per <see cref="LogInterval"/>, saying how many were not logged in between: an attacker can make the
/// node refuse as often as it likes, but not flood its log.
/// </summary>
internal sealed partial class Refusals
{
    public static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(10);

    // Refusals by a bound, counted where the bound is (connections, the registry, the metrics endpoint), with their
    // own log lines; listed here so that every reason of the metric is present from the start.
    public const string ConnectionLimit = "connection_limit";
    public const string ManifestReadBudget = "manifest_read_budget";
    public const string LookupClientRate = "lookup_client_rate";
    public const string LookupCapacity = "lookup_capacity";
    public const string MeasureBusy = "measure_busy";

    /// <summary>The labels of refusals by a bound.</summary>
    public static readonly IReadOnlyList<string> BoundLabels = [ConnectionLimit, ManifestReadBudget, LookupClientRate, LookupCapacity, MeasureBusy];
    private readonly SpegelInstruments _instruments;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly (long LastLogged, long Suppressed, bool Logged)[] _state = new (long, long, bool)[Enum.GetValues<RefusalReason>().Length];

    /// <summary>The registry the refusals are counted in.</summary>
    public SpegelInstruments Instruments => _instruments;

    public Refusals(SpegelInstruments instruments, ILogger<Refusals>? logger = null, TimeProvider? time = null)
    {
        _instruments = instruments;
        _logger = logger ?? NullLogger<Refusals>.Instance;
        _time = time ?? TimeProvider.System;
        foreach (string label in Enum.GetValues<RefusalReason>().Select(Label).Concat(BoundLabels))
        {
            _instruments.Refused.WithLabels(label).IncTo(0);
        }
    }

    /// <summary>The metric label of <paramref name="reason"/>: snake case of its name.</summary>
    public static string Label(RefusalReason reason) => reason switch
    {
        RefusalReason.ProofMissing => "proof_missing",
        RefusalReason.ProofInvalid => "proof_invalid",
        RefusalReason.ProofExpired => "proof_expired",
        RefusalReason.ProofReplayed => "proof_replayed",
        RefusalReason.ProofWindowFull => "proof_window_full",
        RefusalReason.ClaimNotLocal => "claim_not_local",
        RefusalReason.TagUnconfirmed => "tag_unconfirmed",
        RefusalReason.TagDisagreement => "tag_disagreement",
        RefusalReason.PartialForWhole => "partial_for_whole",
        RefusalReason.DigestHeaderMismatch => "digest_header_mismatch",
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, null),
    };

    /// <summary>How many refusals of <paramref name="reason"/> were counted.</summary>
    public long Count(RefusalReason reason) => (long)_instruments.Refused.WithLabels(Label(reason)).Value;

    /// <summary>Counts a refusal and logs it unless one of the same reason was logged within the interval.</summary>
    public void Refuse(RefusalReason reason, string detail)
    {
        _instruments.Refused.WithLabels(Label(reason)).Inc();
        long now = _time.GetTimestamp();
        long suppressed;
        lock (_state)
        {
            ref var state = ref _state[(int)reason];
            if (state.Logged && _time.GetElapsedTime(state.LastLogged, now) < LogInterval)
            {
                state.Suppressed++;
                return;
            }

            suppressed = state.Suppressed;
            state = (now, 0, true);
        }

        string label = Label(reason);
        string seconds = LogInterval.TotalSeconds.ToString(CultureInfo.InvariantCulture);
        // Claims for other clients are routine (another node's containerd through a NodePort); the rest are not.
        if (reason == RefusalReason.ClaimNotLocal)
        {
            LogRefusedDebug(_logger, label, detail, suppressed, seconds);
        }
        else
        {
            LogRefused(_logger, label, detail, suppressed, seconds);
        }
    }

    [LoggerMessage(EventId = 2301, Level = LogLevel.Warning, Message = "Refused ({Reason}): {Detail}; {Suppressed} more since the previous such line (logged at most every {Seconds} s)")]
    private static partial void LogRefused(ILogger logger, string reason, string detail, long suppressed, string seconds);

    [LoggerMessage(EventId = 2302, Level = LogLevel.Debug, Message = "Refused ({Reason}): {Detail}; {Suppressed} more since the previous such line (logged at most every {Seconds} s)")]
    private static partial void LogRefusedDebug(ILogger logger, string reason, string detail, long suppressed, string seconds);
}
