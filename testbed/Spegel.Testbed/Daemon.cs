using System.Diagnostics;

namespace Spegel.Testbed;

/// <summary>How a stop ended.</summary>
public enum StopOutcome
{
    /// <summary>It had exited before (or was stopped already).</summary>
    AlreadyStopped,

    /// <summary>It exited on SIGTERM within the grace period.</summary>
    ExitedOnSigterm,

    /// <summary>It outlived SIGTERM and was killed: a bug for a process of ours (<see cref="SpegelProcess"/> fails on it).</summary>
    Killed,
}

/// <summary>
/// A long-running process of the test bed (containerd, registry, spegel, nginx) with its output in a log file.
/// Disposing stops it (SIGTERM, then SIGKILL after a grace period).
/// </summary>
public sealed class Daemon : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private int _stopped;

    private Daemon(Process process, string logPath, StreamWriter log)
    {
        _process = process;
        LogPath = logPath;
        _log = log;
    }

    public string LogPath { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The exit code, once exited.</summary>
    public int ExitCode => _process.ExitCode;

    public static Daemon Start(string file, IEnumerable<string> arguments, string logPath, IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                info.Environment[key] = value;
            }
        }

        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        log.WriteLine($"$ {file} {string.Join(' ', info.ArgumentList)}");
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new Daemon(process, logPath, log);
    }

    public string ReadLog()
    {
        using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Sends SIGTERM and waits; SIGKILL when it does not exit within <paramref name="grace"/>, and says which.</summary>
    public async Task<StopOutcome> StopAsync(TimeSpan grace)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return StopOutcome.AlreadyStopped;
        }

        try
        {
            if (_process.HasExited)
            {
                return StopOutcome.AlreadyStopped;
            }

            _ = Native.Kill(_process.Id, Native.SigTerm);
            using var timeout = new CancellationTokenSource(grace);
            try
            {
                await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
                return StopOutcome.ExitedOnSigterm;
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().ConfigureAwait(false);
                return StopOutcome.Killed;
            }
        }
        catch (InvalidOperationException)
        {
            return StopOutcome.AlreadyStopped;
        }
    }

    /// <summary>Sends a signal (SIGTERM, SIGINT, …) without waiting.</summary>
    public void Signal(int signal) => _ = Native.Kill(_process.Id, signal);

    /// <summary>Waits for the process to exit by itself; false when it has not within <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var source = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(source.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Kills at once (SIGKILL): a crash, for failure tests.</summary>
    public async Task KillAsync()
    {
        Interlocked.Exchange(ref _stopped, 1);
        try
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
        }
    }

    /// <summary>How long any daemon of the test bed may take to exit on SIGTERM (containerd 1.6 takes 1–1.7 s).</summary>
    public static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(10);

    /// <summary>Stops it; a daemon that outlived SIGTERM is killed and the test fails saying so (never silently).</summary>
    public async ValueTask DisposeAsync()
    {
        var outcome = await StopAsync(StopGrace).ConfigureAwait(false);
        Close();
        ThrowIfKilled(outcome);
    }

    /// <summary>Fails loudly when a stop had to kill.</summary>
    public void ThrowIfKilled(StopOutcome outcome)
    {
        if (outcome == StopOutcome.Killed)
        {
            throw new InvalidOperationException($"{Path.GetFileName(LogPath)}: the process outlived SIGTERM by {StopGrace.TotalSeconds} s and had to be killed (log: {LogPath})");
        }
    }

    /// <summary>Releases the process handle and the log (after a stop).</summary>
    public void Close()
    {
        _process.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            try
            {
                log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }
}
