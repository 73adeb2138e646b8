using System.Net.Sockets;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;
using Spegel.Libp2p.Pnet;
using Spegel.Libp2p.Protocols;
using Spegel.Libp2p.Security;
using Spegel.Libp2p.Tests.Primitives;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Tests.Fuzz;

/// <summary>
/// A private-network node under garbage: partial nonces, random bytes after a nonce (what a stranger's traffic looks
/// like once decrypted), and random bytes correctly encrypted with the key after a valid multistream proposal. Each
/// connection is dropped; the node keeps serving a member connected before and admits a new one after.
/// </summary>
public sealed class PnetFuzzTests : IAsyncLifetime
{
    private readonly SwarmKey _key = new(Enumerable.Range(100, 32).Select(i => (byte)i).ToArray()); // fixed: the run is the same every time
    private Libp2pHost _target = null!;
    private Libp2pHost _witness = null!;

    public async Task InitializeAsync()
    {
        _target = await TestHosts.StartAsync(TestHosts.Options() with { PrivateNetwork = _key });
        _witness = await TestHosts.StartAsync(TestHosts.Options() with { PrivateNetwork = _key });
        await _witness.ConnectAsync(TestHosts.AddressOf(_target), CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _witness.DisposeAsync();
        await _target.DisposeAsync();
    }

    [Fact]
    public async Task RandomBytesAfterTheNonceAreDroppedAndTheNodeKeepsServing()
    {
        var random = new Random(41);
        byte[] proposal = [.. Multistream.Encode(Multistream.ProtocolId), .. Multistream.Encode(NoiseHandshake.ProtocolId)];
        int expectedHangUps = 0;
        for (int i = 0; i < 120; i++)
        {
            byte[] nonce = RandomNonce(random);
            byte[] garbage = MalformedInputTests.RandomBytes(random, 512);
            byte[] payload = (i % 4) switch
            {
                // A nonce cut short, then a hang-up.
                0 => nonce[..random.Next(PnetStream.NonceLength)],

                // A nonce, then random bytes: decrypted, they are noise to multistream.
                1 => [.. nonce, .. garbage],

                // A nonce, then a valid proposal under the key, then random bytes under the key (Noise garbage).
                2 => [.. nonce, .. Encrypt(nonce, [.. proposal, .. garbage])],

                // A nonce, then the proposal under the key, mutated (multistream garbage under the key).
                _ => [.. nonce, .. Encrypt(nonce, MalformedInputTests.Mutate(proposal, random))],
            };

            // Random bytes after a nonce decrypt to a first byte that is not multistream's (0x13) nearly always: the
            // node must hang up on those at once. The key is fixed, so which ones is the same on every run.
            bool mustHangUp = i % 4 == 1 && garbage.Length > 0 && Encrypt(nonce, garbage)[0] != 0x13;
            expectedHangUps += mustHangUp ? 1 : 0;
            await SendRawAsync(payload, mustHangUp);
        }

        Assert.True(expectedHangUps >= 25, $"only {expectedHangUps} connections the node had to hang up on");
        Assert.Equal([_witness.Id], _target.ConnectedPeers);
        await PingService.PingAsync(_witness, _target.Id, CancellationToken.None);
        await using var newcomer = await TestHosts.StartAsync(TestHosts.Options() with { PrivateNetwork = _key });
        await newcomer.ConnectAsync(TestHosts.AddressOf(_target), CancellationToken.None);
        await PingService.PingAsync(newcomer, _target.Id, CancellationToken.None);
    }

    private byte[] Encrypt(byte[] nonce, byte[] plaintext)
    {
        var engine = new XSalsa20Engine();
        engine.Init(true, new ParametersWithIV(new KeyParameter(_key.Bytes), nonce));
        byte[] output = new byte[plaintext.Length];
        engine.ProcessBytes(plaintext, output);
        return output;
    }

    private static byte[] RandomNonce(Random random)
    {
        byte[] nonce = new byte[PnetStream.NonceLength];
        random.NextBytes(nonce);
        return nonce;
    }

    /// <summary>
    /// Sends <paramref name="payload"/>; when <paramref name="mustHangUp"/>, waits for the node to close the connection
    /// (only the hang guard limits the wait), else reads briefly and hangs up itself.
    /// </summary>
    private async Task SendRawAsync(byte[] payload, bool mustHangUp)
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(_target.BoundEndPoints[0]);
        var stream = socket.GetStream();
        using var timeout = new CancellationTokenSource(mustHangUp ? TestHosts.HangGuard : TimeSpan.FromMilliseconds(100));
        byte[] buffer = new byte[4096];
        try
        {
            await stream.WriteAsync(payload);
            while (await stream.ReadAsync(buffer, timeout.Token) > 0)
            {
            }
        }
        catch (OperationCanceledException) when (!mustHangUp)
        {
        }
        catch (IOException)
        {
            // A reset: the node hung up too.
        }
    }
}
