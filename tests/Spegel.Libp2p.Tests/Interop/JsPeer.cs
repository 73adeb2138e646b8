using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Tests.Interop;

/// <summary>
/// A js-libp2p peer (tests/interop-js/peer.mjs, the npm versions of P2P-WIRE.md C.1) driven over stdin/stdout with
/// one JSON command per line.
/// </summary>
internal sealed class JsPeer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly System.Text.StringBuilder _stderr = new();
    private int _nextId;

    private JsPeer(Process process, PeerId id, Multiaddr address)
    {
        _process = process;
        Id = id;
        Address = address;
    }

    public PeerId Id { get; }

    /// <summary>Its listen address with <c>/p2p/</c>.</summary>
    public Multiaddr Address { get; }

    public static string Folder
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "tests", "interop-js", "peer.mjs")))
            {
                dir = dir.Parent;
            }

            return dir is null ? throw new InvalidOperationException("tests/interop-js not found") : Path.Combine(dir.FullName, "tests", "interop-js");
        }
    }

    /// <param name="port">The TCP port to listen on; 0 picks one.</param>
    /// <param name="swarmKeyFile">A swarm key file: the peer joins that private network (@libp2p/pnet).</param>
    public static async Task<JsPeer> StartAsync(int port = 0, string? swarmKeyFile = null)
    {
        if (!Directory.Exists(Path.Combine(Folder, "node_modules")))
        {
            throw new InvalidOperationException("js-libp2p is not installed: run ./test.sh (it runs npm ci in tests/interop-js)");
        }

        var info = new ProcessStartInfo("node") { WorkingDirectory = Folder, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("peer.mjs");
        info.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (swarmKeyFile is not null)
        {
            info.ArgumentList.Add(swarmKeyFile);
        }

        var process = Process.Start(info)!;
        var stderr = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) => { lock (stderr) { stderr.AppendLine(e.Data); } };
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        string? line = await process.StandardOutput.ReadLineAsync(timeout.Token);
        if (line is null)
        {
            throw new InvalidOperationException($"js peer did not start: {stderr}");
        }

        var ready = JsonNode.Parse(line)!;
        var address = Multiaddr.Parse(ready["addrs"]![0]!.GetValue<string>());
        return new JsPeer(process, PeerId.Parse(ready["peerId"]!.GetValue<string>()), address) { };
    }

    public async Task<JsonNode> CallAsync(string command, object? arguments = null, int timeoutSeconds = 30)
    {
        await _lock.WaitAsync();
        try
        {
            var request = arguments is null ? new JsonObject() : JsonSerializer.SerializeToNode(arguments)!.AsObject();
            request["id"] = ++_nextId;
            request["cmd"] = command;
            await _process.StandardInput.WriteLineAsync(request.ToJsonString());
            await _process.StandardInput.FlushAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
            string? line = await _process.StandardOutput.ReadLineAsync(timeout.Token);
            var response = JsonNode.Parse(line ?? throw new IOException("js peer exited"))!;
            if (!response["ok"]!.GetValue<bool>())
            {
                throw new InvalidOperationException($"js {command} failed: {response["error"]}");
            }

            return response;
        }
        finally
        {
            _lock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }
}
