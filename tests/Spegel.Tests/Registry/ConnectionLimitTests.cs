using System.Net.Sockets;
using System.Text;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Registry;

/// <summary>The registry listener holds a bounded number of connections; one beyond it is closed at once and counted.</summary>
public sealed class ConnectionLimitTests
{
    [Fact]
    public async Task AConnectionBeyondTheLimitIsClosedAndAFreedSlotIsUsedAgain()
    {
        await using var server = await RegistryServer.StartAsync(new MemoryContentStore(), tune: s => s with { RegistryConnectionLimit = 3 });
        var held = new List<TcpClient>();
        for (int i = 0; i < 3; i++)
        {
            var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", server.Port);
            Assert.StartsWith("HTTP/1.1 200", await RequestAsync(client), StringComparison.Ordinal); // kept alive
            held.Add(client);
        }

        // The kernel accepts; the server closes it (a reset can beat the connect's own completion on a loaded machine).
        Assert.Equal(string.Empty, await ConnectAndRequestAsync(server.Port));

        Assert.Equal(1, server.Instruments.Refused.WithLabels("connection_limit").Value);

        held[0].Dispose();
        await Eventually.WaitAsync(
            async () => (await ConnectAndRequestAsync(server.Port)).StartsWith("HTTP/1.1 200", StringComparison.Ordinal),
            "a connection taking the freed slot");

        foreach (var client in held.Skip(1))
        {
            Assert.StartsWith("HTTP/1.1 200", await RequestAsync(client), StringComparison.Ordinal); // still served
            client.Dispose();
        }
    }

    /// <summary>Opens a new connection and sends <c>GET /v2/</c>; "" when it was reset or closed, even while connecting.</summary>
    private static async Task<string> ConnectAndRequestAsync(int port)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync("127.0.0.1", port);
        }
        catch (SocketException)
        {
            return string.Empty;
        }

        return await RequestAsync(client);
    }

    /// <summary>Sends <c>GET /v2/</c> and returns the response head, or "" when the server closed the connection.</summary>
    private static async Task<string> RequestAsync(TcpClient client)
    {
        var stream = client.GetStream();
        using var guard = new CancellationTokenSource(Eventually.HangGuard);
        try
        {
            await stream.WriteAsync("GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(), guard.Token);
            byte[] buffer = new byte[4096];
            var head = new StringBuilder();
            while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                int n = await stream.ReadAsync(buffer, guard.Token);
                if (n == 0)
                {
                    return string.Empty;
                }

                head.Append(Encoding.Latin1.GetString(buffer, 0, n));
            }

            return head.ToString();
        }
        catch (IOException)
        {
            return string.Empty; // reset
        }
    }
}
