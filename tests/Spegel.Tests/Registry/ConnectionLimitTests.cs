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

        using (var refused = new TcpClient())
        {
            await refused.ConnectAsync("127.0.0.1", server.Port); // the kernel accepts; the server closes it
            Assert.Equal(string.Empty, await RequestAsync(refused));
        }

        Assert.Equal(1, server.Instruments.Refused.WithLabels("connection_limit").Value);

        held[0].Dispose();
        await Eventually.WaitAsync(
            async () =>
            {
                using var next = new TcpClient();
                await next.ConnectAsync("127.0.0.1", server.Port);
                return (await RequestAsync(next)).StartsWith("HTTP/1.1 200", StringComparison.Ordinal);
            },
            "a connection taking the freed slot");

        foreach (var client in held.Skip(1))
        {
            Assert.StartsWith("HTTP/1.1 200", await RequestAsync(client), StringComparison.Ordinal); // still served
            client.Dispose();
        }
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
