using System.Net;
using System.Net.Sockets;

namespace Spegel.Testbed;

public static class Network
{
    /// <summary>Ports handed out below the kernel's ephemeral range (32768–60999 here).</summary>
    private const int FirstPort = 20000;
    private const int EndPort = 32000;

    /// <summary>
    /// A TCP port free on 127.0.0.1 right now, for a server that must know its port before it starts (peers reach each
    /// other's registry on it). Chosen at random below the ephemeral range: a port from <c>bind(0)</c> lies in that range,
    /// where every outgoing connection of the machine also takes its local port, so between our release and the server's
    /// bind another test's connection could take it (seen: a spegel metrics server failing with "address in use").
    /// Prefer port 0 read back from the server wherever the port need not be known ahead.
    /// </summary>
    public static int FreePort()
    {
        for (int attempt = 0; ; attempt++)
        {
            int port = Random.Shared.Next(FirstPort, EndPort);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException) when (attempt < 100)
            {
            }
        }
    }

    /// <summary>Polls until <paramref name="probe"/> returns true, or throws with <paramref name="what"/>.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> probe, TimeSpan timeout, string what, Func<string>? diagnostics = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        string? lastError = null;
        while (true)
        {
            try
            {
                if (await probe().ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or SocketException or IOException or TaskCanceledException or TimeoutException)
            {
                // Not ready yet; a probe that timed out (a client waiting for a socket that is not there yet, on a loaded
                // machine) is asked again until the deadline.
                lastError = ex.Message;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{what} not ready within {timeout.TotalSeconds} s{(lastError is null ? string.Empty : $" (last probe: {lastError})")}\n{diagnostics?.Invoke()}");
            }

            await Task.Delay(25).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// GET that returns the status code, or 0 when the connection fails; never waits over 2 s. With a namespace the
    /// request is made from inside it (curl), as every request to a test address must be.
    /// </summary>
    public static async Task<int> StatusAsync(string url, string? netns = null)
    {
        if (netns is not null)
        {
            var result = await TestNetwork.ExecAsync(netns, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", url], TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            return int.TryParse(result.StandardOutput.Trim(), System.Globalization.CultureInfo.InvariantCulture, out int code) ? code : 0;
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
            return (int)response.StatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return 0;
        }
    }
}
