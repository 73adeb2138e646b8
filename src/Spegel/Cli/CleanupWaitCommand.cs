using System.CommandLine;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using Spegel.Hosting;

namespace Spegel.Cli;

/// <summary>
/// <c>spegel cleanup-wait</c>: waits until every cleanup pod behind a name answers <c>/readyz</c> (as Spegel v0.7+;
/// our <c>cleanup</c> answers any GET, so older <c>/healthz</c> probes work too), for <c>threshold</c> consecutive rounds
/// (SPEC §2.3). A signal ends the wait with exit code 1.
/// </summary>
internal sealed partial class CleanupWaitCommand
{
    private readonly Flag<LogLevel> _logLevel;
    private readonly Flag<string> _probeEndpoint = new("--probe-endpoint", "PROBE_ENDPOINT", "host:port of the cleanup pods (a headless Service name resolves to all of them) (required).", string.Empty, string.Empty, FlagShape.Single, FlagParsers.String);
    private readonly Flag<int> _threshold = new("--threshold", "THRESHOLD", "Consecutive rounds in which every pod must answer 200.", 3, "3", FlagShape.Single, FlagParsers.Int(1, 1000));
    private readonly Flag<TimeSpan> _period = new("--period", "PERIOD", "Time between rounds.", TimeSpan.FromSeconds(2), "2s", FlagShape.Single, FlagParsers.Duration);

    /// <param name="logLevel">The global <c>--log-level</c> (the root command's); tests may leave it to the command.</param>
    public CleanupWaitCommand(Flag<LogLevel>? logLevel = null)
    {
        _logLevel = logLevel ?? CommonFlags.LogLevel();
    }

    public IEnumerable<Flag> Flags => [_logLevel, _probeEndpoint, _threshold, _period];

    public Command Build()
    {
        var command = Flag.Command("cleanup-wait", "Wait until the cleanup pods on every node report done (uninstall hook).", Flags);

        command.SetAction(RunAsync);
        return command;
    }

    private async Task<int> RunAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        var level = _logLevel.Resolve(parseResult, errors);
        string endpoint = _probeEndpoint.Resolve(parseResult, errors);
        int threshold = _threshold.Resolve(parseResult, errors);
        var period = _period.Resolve(parseResult, errors);
        int colon = endpoint.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(endpoint.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535)
        {
            errors.Add($"--probe-endpoint (PROBE_ENDPOINT): got '{endpoint}', expected host:port such as spegel-cleanup.spegel.svc.cluster.local:8080");
            port = 0;
        }

        if (errors.Count > 0)
        {
            return CliErrors.Report(errors, "cleanup-wait");
        }

        string host = endpoint[..colon].Trim('[', ']');
        using var loggerFactory = SpegelLogging.CreateFactory(level);
        var log = loggerFactory.CreateLogger("Spegel.CleanupWait");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        int consecutive = 0;
        try
        {
            while (true)
            {
                bool allHealthy = await ProbeRoundAsync(http, host, port, log, cancellationToken).ConfigureAwait(false);
                consecutive = allHealthy ? consecutive + 1 : 0;
                LogRound(log, allHealthy, consecutive, threshold);
                if (consecutive >= threshold)
                {
                    return 0;
                }

                await Task.Delay(period, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped by a signal before every node reported done: not a success (Spegel returns the context's error).
            LogInterrupted(log, consecutive, threshold);
            return 1;
        }
    }

    private static async Task<bool> ProbeRoundAsync(HttpClient http, string host, int port, ILogger log, CancellationToken cancellationToken)
    {
        IPAddress[] addresses;
        try
        {
            addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            LogResolveFailed(log, host, ex.Message);
            return false;
        }

        if (addresses.Length == 0)
        {
            return false;
        }

        bool all = true;
        await Parallel.ForEachAsync(addresses, new ParallelOptions { MaxDegreeOfParallelism = 10, CancellationToken = cancellationToken }, async (ip, ct) =>
        {
            var uri = new UriBuilder("http", ip.ToString(), port, "/readyz").Uri;
            try
            {
                using var response = await http.GetAsync(uri, ct).ConfigureAwait(false);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    all = false;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                all = false;
            }
        }).ConfigureAwait(false);
        return all;
    }

    [LoggerMessage(EventId = 1601, Level = LogLevel.Information, Message = "Cleanup probe round: all healthy {AllHealthy}, {Consecutive} of {Threshold} consecutive")]
    private static partial void LogRound(ILogger logger, bool allHealthy, int consecutive, int threshold);

    [LoggerMessage(EventId = 1603, Level = LogLevel.Warning, Message = "Stopped by a signal after {Consecutive} of {Threshold} consecutive healthy rounds: cleanup not confirmed")]
    private static partial void LogInterrupted(ILogger logger, int consecutive, int threshold);

    [LoggerMessage(EventId = 1602, Level = LogLevel.Warning, Message = "Resolving {Host} failed: {Reason}")]
    private static partial void LogResolveFailed(ILogger logger, string host, string reason);
}
