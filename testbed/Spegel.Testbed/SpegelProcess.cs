namespace Spegel.Testbed;

/// <summary>A <c>spegel registry</c> process (the built <c>spegel.dll</c>, run with <c>dotnet</c>).</summary>
public sealed class SpegelProcess : IAsyncDisposable
{
    private SpegelProcess(Daemon daemon, string registryAddress)
    {
        Daemon = daemon;
        RegistryAddress = registryAddress;
    }

    public Daemon Daemon { get; }

    /// <summary><c>host:port</c> of its registry API.</summary>
    public string RegistryAddress { get; }

    public Uri BaseAddress => new($"http://{RegistryAddress}");

    public string? Netns { get; private init; }

    /// <summary><c>host:port</c> of its metrics and debug web UI server.</summary>
    public string MetricsAddress { get; private init; } = string.Empty;

    /// <summary>GETs <c>/metrics</c> (from inside its namespace when it has one).</summary>
    public async Task<string> ScrapeAsync()
    {
        string url = $"http://{MetricsAddress}/metrics";
        if (Netns is null)
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            return await http.GetStringAsync(url).ConfigureAwait(false);
        }

        return (await TestNetwork.ExecAsync(Netns, ["curl", "-sS", "-f", url]).ConfigureAwait(false)).EnsureSuccess("scraping metrics").StandardOutput;
    }

    /// <summary>The value of one sample (<c>name{labels}</c>) in a Prometheus text exposition, or null.</summary>
    public static double? Sample(string exposition, string name, params (string Label, string Value)[] labels)
    {
        foreach (string line in exposition.Split('\n'))
        {
            if (!line.StartsWith(name, StringComparison.Ordinal) || (line.Length > name.Length && line[name.Length] is not ('{' or ' ')))
            {
                continue;
            }

            if (labels.All(l => line.Contains($"{l.Label}=\"{l.Value}\"", StringComparison.Ordinal)))
            {
                return double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return null;
    }

    /// <summary>The <c>spegel.dll</c> next to the running assembly (test, demo and bench projects reference the product).</summary>
    public static string DefaultBinary => Path.Combine(AppContext.BaseDirectory, "spegel.dll");

    /// <summary>
    /// Starts <c>spegel registry</c> with <paramref name="arguments"/> and waits until /livez answers. <paramref name="launch"/>
    /// turns the spegel command line into the one to start (default: as it is, with <c>dotnet spegel.dll</c>).
    /// <paramref name="registryAddress"/> is where it is reached (<c>10.77.0.1:5000</c>, <c>[fd77:77::1]:5000</c>);
    /// <paramref name="registryListen"/>, when given, is its <c>--registry-addr</c> instead (<c>:5000</c>, <c>[::]:5000</c>).
    /// <paramref name="cgroup"/>, when given, is the memory group the process runs in (namespace or not).
    /// </summary>
    public static async Task<SpegelProcess> StartAsync(
        string logPath,
        string registryAddress,
        IEnumerable<string> arguments,
        IDictionary<string, string>? environment = null,
        string? netns = null,
        bool waitReady = false,
        Func<IEnumerable<string>, IEnumerable<string>>? launch = null,
        string? registryListen = null,
        MemoryCgroup? cgroup = null)
    {
        var args = arguments.ToList();
        if (!args.Contains("--router-addr"))
        {
            // Several nodes share one machine in tests: let each router pick a free port.
            args.AddRange(["--router-addr", "127.0.0.1:0"]);
        }

        string? metricsAddress = null;
        if (!args.Contains("--metrics-addr") && netns is null)
        {
            metricsAddress = $"127.0.0.1:{Network.FreePort()}";
            args.AddRange(["--metrics-addr", metricsAddress]);
        }

        IEnumerable<string> spegelArguments = ["registry", "--registry-addr", registryListen ?? registryAddress, .. args];
        var command = (launch ?? (a => ["dotnet", DefaultBinary, .. a]))(spegelArguments).ToList();
        IEnumerable<string> full = netns is null ? command : [Tools.Ip, "netns", "exec", netns, .. command];
        // The group is joined before entering the namespace: `ip netns exec` mounts the namespace's own /sys, where
        // the cgroup hierarchy is not. Every step execs, so the PID is spegel's.
        var line = (cgroup is null ? full : cgroup.Wrap(full)).ToList();
        var daemon = Daemon.Start(line[0], line.Skip(1), logPath, environment);
        var process = new SpegelProcess(daemon, registryAddress) { Netns = netns, MetricsAddress = metricsAddress ?? $"{registryAddress[..registryAddress.LastIndexOf(':')]}:9090" };
        string probe = waitReady ? "healthz" : "livez";
        await Network.WaitUntilAsync(
            async () =>
            {
                if (daemon.HasExited)
                {
                    throw new InvalidOperationException($"spegel exited during start:\n{daemon.ReadLog()}");
                }

                return await Network.StatusAsync($"http://{registryAddress}/{probe}", netns).ConfigureAwait(false) == 200;
            },
            TimeSpan.FromSeconds(60),
            "spegel registry",
            daemon.ReadLog).ConfigureAwait(false);
        return process;
    }

    /// <summary>Runs a one-shot spegel subcommand (configuration, version, …).</summary>
    public static Task<CommandResult> RunAsync(IEnumerable<string> arguments, TimeSpan? timeout = null, IDictionary<string, string>? environment = null) =>
        ProcessRunner.RunAsync("dotnet", [DefaultBinary, .. arguments], timeout ?? TimeSpan.FromSeconds(60), environment);

    /// <summary>How long spegel may take to exit after SIGTERM before the harness kills it and fails the test.</summary>
    public static readonly TimeSpan StopGrace = Daemon.StopGrace;

    /// <summary>
    /// Stops spegel with SIGTERM and fails loudly when it misbehaved: it outlived SIGTERM (killed after
    /// <see cref="StopGrace"/>), exited with a code other than 0 on SIGTERM, or logged an unhandled exception. A harness
    /// that kills silently hides the bug users meet first (a pod that never stops on a rollout).
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        var outcome = await Daemon.StopAsync(StopGrace).ConfigureAwait(false);
        string log = Daemon.ReadLog();
        int exitCode = Daemon.HasExited ? Daemon.ExitCode : -1;
        Daemon.Close();
        string? problem = outcome switch
        {
            StopOutcome.Killed => $"spegel outlived SIGTERM by {StopGrace.TotalSeconds} s and had to be killed",
            StopOutcome.ExitedOnSigterm when exitCode != 0 => $"spegel exited with code {exitCode} on SIGTERM (expected 0)",
            _ => null,
        };
        if (problem is null && log.Contains("Unhandled exception", StringComparison.Ordinal))
        {
            problem = "spegel logged an unhandled exception";
        }

        if (problem is not null)
        {
            throw new InvalidOperationException($"{problem}; its log ({Daemon.LogPath}) ends with:\n{Tail(log, 40)}");
        }
    }

    private static string Tail(string log, int lines) => string.Join('\n', log.Split('\n').TakeLast(lines));
}
