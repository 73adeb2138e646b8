using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Spegel.Testbed;

/// <summary>
/// Sockets created inside a test network namespace, so that .NET code in the test process is a client of a test
/// address as a process in the namespace would be (TESTBED.md: every client of a test address runs in a namespace). A
/// socket stays in the namespace it was created in: a dedicated thread enters the namespace (<c>setns</c> affects only
/// the calling thread), creates the socket, and ends; the socket is then used from anywhere.
/// </summary>
public static class NetnsSockets
{
    /// <summary>A TCP socket in <paramref name="netns"/> (null: this process's namespace).</summary>
    public static Socket Create(string? netns, AddressFamily family)
    {
        if (netns is null)
        {
            return new Socket(family, SocketType.Stream, ProtocolType.Tcp);
        }

        Socket? socket = null;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle($"/var/run/netns/{netns}");
                if (Native.SetNs((int)handle.DangerousGetHandle(), Native.CloneNewNet) != 0)
                {
                    throw new IOException($"setns into {netns} failed: errno {Marshal.GetLastPInvokeError()}");
                }

                socket = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or SocketException)
            {
                error = ex;
            }
        });
        thread.Start();
        thread.Join(); // the thread ends in the namespace: never returned to a pool
        return socket ?? throw new IOException($"no socket in namespace {netns}", error);
    }

    /// <summary>An HTTP handler whose connections are made inside <paramref name="netns"/>.</summary>
    /// <param name="drainBytes">What the handler reads of an unread body before reusing its connection; 0: close it.</param>
    public static SocketsHttpHandler Handler(string? netns, int drainBytes = 0) => new()
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        MaxResponseDrainSize = drainBytes,
        ConnectCallback = async (context, cancellationToken) =>
        {
            var endpoint = context.DnsEndPoint;
            var address = IPAddress.Parse(endpoint.Host.Trim('[', ']'));
            var socket = Create(netns, address.AddressFamily);
            try
            {
                socket.NoDelay = true;
                await socket.ConnectAsync(new IPEndPoint(address, endpoint.Port), cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };
}
