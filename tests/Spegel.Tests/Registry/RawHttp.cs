using System.Net.Sockets;
using System.Text;

namespace Spegel.Tests.Registry;

/// <summary>A parsed HTTP/1.1 response.</summary>
internal sealed record RawResponse(int Status, Dictionary<string, string> Headers, byte[] Body)
{
    public string BodyText => Encoding.UTF8.GetString(Body);

    public string? Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out string? v) ? v : null;
}

/// <summary>
/// Sends exact bytes to a server and reads one response. HttpClient normalises paths (dot segments, encoding),
/// so traversal and malformed-request tests need the raw wire.
/// </summary>
internal static class RawHttp
{
    public static Task<RawResponse> SendAsync(int port, string requestHead, bool expectBody = true) =>
        SendAsync(System.Net.IPAddress.Loopback, port, requestHead, expectBody);

    public static async Task<RawResponse> SendAsync(System.Net.IPAddress address, int port, string requestHead, bool expectBody = true)
    {
        using var client = new TcpClient(address.AddressFamily);
        await client.ConnectAsync(address, port);
        var stream = client.GetStream();
        byte[] request = Encoding.Latin1.GetBytes(requestHead);
        await stream.WriteAsync(request);
        using var timeout = new CancellationTokenSource(Testing.Eventually.HangGuard); // a hang guard, never the verdict
        var buffer = new MemoryStream();
        byte[] chunk = new byte[64 * 1024];
        int headerEnd = -1;
        while (headerEnd < 0)
        {
            int n = await stream.ReadAsync(chunk, timeout.Token);
            if (n == 0)
            {
                throw new IOException("connection closed before the response head");
            }

            buffer.Write(chunk, 0, n);
            headerEnd = IndexOf(buffer.ToArray(), "\r\n\r\n"u8);
        }

        byte[] all = buffer.ToArray();
        string head = Encoding.Latin1.GetString(all, 0, headerEnd);
        string[] lines = head.Split("\r\n");
        int status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>();
        foreach (string line in lines.Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon].Trim().ToLowerInvariant()] = line[(colon + 1)..].Trim();
        }

        var body = new MemoryStream();
        body.Write(all, headerEnd + 4, all.Length - headerEnd - 4);
        if (expectBody && headers.TryGetValue("content-length", out string? lengthText))
        {
            long length = long.Parse(lengthText, System.Globalization.CultureInfo.InvariantCulture);
            while (body.Length < length)
            {
                int n = await stream.ReadAsync(chunk, timeout.Token);
                if (n == 0)
                {
                    break;
                }

                body.Write(chunk, 0, n);
            }
        }

        return new RawResponse(status, headers, body.ToArray());
    }

    public static Task<RawResponse> GetAsync(int port, string target, string method = "GET", string extraHeaders = "") =>
        SendAsync(port, $"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extraHeaders}Connection: close\r\n\r\n", expectBody: method != "HEAD");

    /// <summary>A request to <paramref name="address"/>, with <paramref name="host"/> as its Host (default: the address).</summary>
    public static Task<RawResponse> GetAsync(System.Net.IPAddress address, int port, string target, string method = "GET", string extraHeaders = "", string? host = null) =>
        SendAsync(address, port, $"{method} {target} HTTP/1.1\r\nHost: {host ?? address.ToString()}\r\n{extraHeaders}Connection: close\r\n\r\n", expectBody: method != "HEAD");

    private static int IndexOf(byte[] haystack, ReadOnlySpan<byte> needle) => haystack.AsSpan().IndexOf(needle);
}
