using System.Diagnostics;

namespace Spegel.Tests.Cli;

/// <summary>
/// A real <c>spegel cleanup</c> process on a port of its own choosing (port 0, read back from its log), stopped with a
/// real signal. Disposing fails the test when it outlived SIGTERM: a harness that kills silently hides the bug.
/// </summary>
internal sealed class CleanupProcess : IAsyncDisposable
{
    public const int SigInt = Spegel.Testbed.Native.SigInt;
    public const int SigTerm = Spegel.Testbed.Native.SigTerm;

    /// <summary>The promise: an idle process exits within 5 s of SIGTERM or SIGINT.</summary>
    public static readonly TimeSpan StopLimit = TimeSpan.FromSeconds(5);

    private readonly Process _process;
    private readonly LineCollector _lines;
    private bool _stopped;

    private CleanupProcess(Process process, LineCollector lines, string endpoint)
    {
        _process = process;
        _lines = lines;
        Endpoint = endpoint;
    }

    /// <summary><c>127.0.0.1:port</c>.</summary>
    public string Endpoint { get; }

    public string Error => _lines.Text;

    public static async Task<CleanupProcess> StartAsync(string binary, string configPath)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string arg in new[] { binary, "cleanup", "--addr", "127.0.0.1:0", "--containerd-registry-config-path", configPath })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        var lines = new LineCollector(process);
        string line = await lines.WaitForAsync(l => l.Contains("answering probes on http://", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        string endpoint = line[(line.IndexOf("http://", StringComparison.Ordinal) + "http://".Length)..].Split('"', ',', ' ')[0];
        return new CleanupProcess(process, lines, endpoint);
    }

    /// <summary>Sends <paramref name="signal"/> and returns the exit code; fails if the process outlives <see cref="StopLimit"/>.</summary>
    public async Task<int> StopAsync(int signal)
    {
        _stopped = true;
        Assert.Equal(0, Kill(_process.Id, signal));
        if (!await WaitForExitAsync(_process, StopLimit))
        {
            _process.Kill(entireProcessTree: true);
            Assert.Fail($"spegel cleanup outlived signal {signal} by {StopLimit.TotalSeconds} s:\n{Error}");
        }

        await _lines.DrainedAsync();
        return _process.ExitCode;
    }

    public static async Task<bool> WaitForExitAsync(Process process, TimeSpan limit)
    {
        using var timeout = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stopped)
        {
            Assert.Equal(0, await StopAsync(SigTerm));
        }

        _process.Dispose();
    }

    public static int Kill(int pid, int signal) => Spegel.Testbed.Native.Kill(pid, signal);
}

/// <summary>Collects a process's stderr lines and lets a test wait for one.</summary>
internal sealed class LineCollector
{
    private readonly List<string> _lines = [];
    private readonly TaskCompletionSource _eof = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private event Action? Changed;

    public LineCollector(Process process)
    {
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _eof.TrySetResult();
                return;
            }

            lock (_lines)
            {
                _lines.Add(e.Data);
            }

            Changed?.Invoke();
        };
        process.BeginErrorReadLine();
    }

    public string Text
    {
        get
        {
            lock (_lines)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    public Task DrainedAsync() => _eof.Task.WaitAsync(Spegel.Tests.Testing.Eventually.HangGuard);

    public async Task<string> WaitForAsync(Func<string, bool> match, TimeSpan limit) =>
        (await WaitForCountAsync(match, 1, limit))[0];

    /// <summary>The first <paramref name="count"/> matching lines, once there are that many.</summary>
    public async Task<IReadOnlyList<string>> WaitForCountAsync(Func<string, bool> match, int count, TimeSpan limit)
    {
        var found = new TaskCompletionSource<IReadOnlyList<string>>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check()
        {
            lock (_lines)
            {
                var matching = _lines.Where(match).Take(count).ToList();
                if (matching.Count == count)
                {
                    found.TrySetResult(matching);
                }
            }
        }

        Changed += Check;
        try
        {
            Check();
            var ended = _eof.Task.ContinueWith(_ => (IReadOnlyList<string>)[], TaskScheduler.Default);
            var done = await Task.WhenAny(found.Task, ended, Task.Delay(limit));
            if (done == found.Task)
            {
                return await found.Task;
            }

            Check();
            return found.Task.IsCompleted ? await found.Task : throw new Xunit.Sdk.XunitException($"not {count} matching lines within {limit.TotalSeconds} s; stderr so far:\n{Text}");
        }
        finally
        {
            Changed -= Check;
        }
    }
}
