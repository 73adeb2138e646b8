using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Spegel.Testbed;

namespace Spegel.IntegrationTests;

/// <summary>
/// <c>spegel registry</c> on real containerd, stopped with real signals: an idle registry exits 0 within 5 s; a
/// transfer in flight when SIGTERM arrives finishes whole while new connections are refused; a second SIGINT ends the
/// process at once. Before this, the process ignored both signals and every rollout waited for the kubelet's SIGKILL.
/// </summary>
public sealed class ShutdownTests : IAsyncLifetime
{
    private const int LayerBytes = 48 * 1024 * 1024;
    private static readonly TimeSpan IdleStopLimit = TimeSpan.FromSeconds(5);
    private readonly string _root = Directory.CreateTempSubdirectory("sp-stop-").FullName;
    private ContainerdNode _node = null!;
    private string _layer = string.Empty;
    private long _layerSize;

    public async Task InitializeAsync()
    {
        Tools.Require(Tools.Containerd, Tools.Ctr, Tools.Registry, Tools.Skopeo);
        var layout = new OciLayout(Path.Combine(_root, "layout"));
        var image = TestImages.BuildImage(layout, "spegeltest/big", "1", [LayerBytes], seed: 77);
        var blob = new FileInfo(Directory.EnumerateFiles(Path.Combine(layout.Folder, "blobs", "sha256")).MaxBy(f => new FileInfo(f).Length)!);
        (_layer, _layerSize) = ("sha256:" + blob.Name, blob.Length);
        await using var upstream = await RegistryNode.StartAsync(Path.Combine(_root, "upstream"));
        await TestImages.PushAsync(layout, image, upstream.Address);
        _node = await ContainerdNode.StartAsync(Path.Combine(_root, "node"));
        _node.WriteDirectHosts(upstream.Address);
        (await _node.PullAsync(image.Reference(upstream.Address), unpack: false)).EnsureSuccess("pulling the big image");
    }

    public async Task DisposeAsync()
    {
        await _node.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    [Theory]
    [InlineData(Native.SigTerm)]
    [InlineData(Native.SigInt)]
    public async Task AnIdleRegistryExitsZeroWithinFiveSeconds(int signal)
    {
        var spegel = await StartAsync($"idle-{signal}");
        spegel.Daemon.Signal(signal);
        Assert.True(await spegel.Daemon.WaitForExitAsync(IdleStopLimit), $"spegel registry outlived signal {signal} by {IdleStopLimit.TotalSeconds} s");
        Assert.Equal(0, spegel.Daemon.ExitCode);
        Assert.True(JsonLog.Contains(spegel.Daemon.ReadLog(), "Stopped"));
        await spegel.DisposeAsync();
    }

    [Fact]
    public async Task ATransferInFlightFinishesWholeAfterSigtermAndNewConnectionsAreRefused()
    {
        var (spegel, transfer) = await SignalMidTransferAsync("drain", Native.SigTerm);
        using var reader = transfer;
        Assert.Equal(SocketError.ConnectionRefused, await ConnectAsync(spegel.RegistryAddress));

        // The rest arrives whole: every byte, and the digest matches.
        await transfer.ReadAsync(long.MaxValue);
        Assert.Equal(_layerSize, transfer.Received);
        Assert.Equal(_layer, transfer.Digest());
        Assert.True(await spegel.Daemon.WaitForExitAsync(IdleStopLimit), "spegel did not exit once the transfer finished");
        Assert.Equal(0, spegel.Daemon.ExitCode);
        await spegel.DisposeAsync();
    }

    [Fact]
    public async Task ASecondSigintAbortsAtOnce()
    {
        var (spegel, transfer) = await SignalMidTransferAsync("abort", Native.SigInt);
        using var reader = transfer;
        spegel.Daemon.Signal(Native.SigInt);
        Assert.True(await spegel.Daemon.WaitForExitAsync(IdleStopLimit), "a second SIGINT did not end spegel");
        Assert.Equal(130, spegel.Daemon.ExitCode);
        await Assert.ThrowsAnyAsync<Exception>(() => transfer.ReadAsync(long.MaxValue));
        Assert.True(transfer.Received < _layerSize);
        spegel.Daemon.Close();
    }

    /// <summary>Starts spegel, reads the first MiB of the big layer, sends <paramref name="signal"/>, waits for the stop to begin.</summary>
    private async Task<(SpegelProcess Spegel, SlowReader Transfer)> SignalMidTransferAsync(string name, int signal)
    {
        var spegel = await StartAsync(name);
        var transfer = await SlowReader.StartAsync(spegel.RegistryAddress, _layer);
        await transfer.ReadAsync(1024 * 1024);
        spegel.Daemon.Signal(signal);
        await WaitForLogAsync(spegel, "Stopping: the registry no longer accepts connections");
        Assert.False(spegel.Daemon.HasExited, "spegel exited while a transfer was in flight");
        return (spegel, transfer);
    }

    private Task<SpegelProcess> StartAsync(string name) => SpegelProcess.StartAsync(
        Path.Combine(_root, $"spegel-{name}.log"), $"127.0.0.1:{Network.FreePort()}",
        ["--containerd-sock", _node.Socket, "--containerd-content-path", string.Empty, "--bootstrap-kind", "static"]);

    private static async Task WaitForLogAsync(SpegelProcess spegel, string fragment) =>
        await Network.WaitUntilAsync(() => Task.FromResult(JsonLog.Contains(spegel.Daemon.ReadLog(), fragment)), TimeSpan.FromSeconds(30), $"the log line '{fragment}'", spegel.Daemon.ReadLog);

    private static async Task<SocketError> ConnectAsync(string address)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(IPEndPoint.Parse(address));
            return SocketError.Success;
        }
        catch (SocketException ex)
        {
            return ex.SocketErrorCode;
        }
    }

    /// <summary>
    /// A blob GET over a socket with a small receive buffer, read only as far as the test says: the server cannot push
    /// the 48 MiB ahead into buffers, so the transfer really is in flight when the signal comes.
    /// </summary>
    private sealed class SlowReader : IDisposable
    {
        private readonly Socket _socket;
        private readonly NetworkStream _stream;
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly byte[] _buffer = new byte[64 * 1024];
        private long _contentLength = -1;
        private List<byte> _head = [];

        private SlowReader(Socket socket)
        {
            _socket = socket;
            _stream = new NetworkStream(socket, ownsSocket: true);
        }

        public long Received { get; private set; }

        public static async Task<SlowReader> StartAsync(string address, string digest)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 32 * 1024 };
            await socket.ConnectAsync(IPEndPoint.Parse(address));
            var reader = new SlowReader(socket);
            byte[] request = System.Text.Encoding.ASCII.GetBytes($"GET /v2/spegeltest/big/blobs/{digest}?ns=docker.io HTTP/1.1\r\nHost: {address}\r\n\r\n");
            await reader._stream.WriteAsync(request);
            return reader;
        }

        /// <summary>Reads until <paramref name="bytes"/> more body bytes arrived or the body ended; throws on a cut.</summary>
        public async Task ReadAsync(long bytes)
        {
            long target = bytes == long.MaxValue ? long.MaxValue : Received + bytes;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (Received < target && (_contentLength < 0 || Received < _contentLength))
            {
                int n = await _stream.ReadAsync(_buffer, timeout.Token);
                if (n == 0)
                {
                    throw new IOException($"the connection closed after {Received} body bytes");
                }

                Consume(_buffer.AsSpan(0, n));
            }
        }

        public string Digest() => "sha256:" + Convert.ToHexStringLower(_hash.GetCurrentHash());

        public void Dispose()
        {
            _stream.Dispose();
            _hash.Dispose();
        }

        private void Consume(ReadOnlySpan<byte> data)
        {
            if (_contentLength < 0)
            {
                _head.AddRange(data.ToArray());
                string text = System.Text.Encoding.ASCII.GetString(_head.ToArray());
                int end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                if (end < 0)
                {
                    return;
                }

                Assert.StartsWith("HTTP/1.1 200", text, StringComparison.Ordinal);
                string length = text[..end].Split("\r\n").Single(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))["Content-Length:".Length..].Trim();
                _contentLength = long.Parse(length, System.Globalization.CultureInfo.InvariantCulture);
                data = _head.ToArray().AsSpan(end + 4);
                _head = [];
            }

            _hash.AppendData(data);
            Received += data.Length;
        }
    }
}
