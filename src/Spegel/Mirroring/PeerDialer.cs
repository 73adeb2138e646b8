using System.Net;
using System.Net.Sockets;

namespace Spegel.Mirroring;

/// <summary>
/// Connects to a peer's registry on every address the peer announced, Happy-Eyeballs style (RFC 8305): the addresses
/// are ordered IPv6 first with the families interleaved (Spegel also tries IPv6 first), the first is dialed, and the
/// next one starts after <see cref="FallbackDelay"/> or at once when a dial fails; the first connection made wins and
/// the other dials are cancelled. A peer whose first address is dead or black-holed (a dual-stack node whose IPv6
/// does not route, an interface that went away) costs one fallback delay instead of a connect timeout.
/// <para>
/// It is the peer <see cref="HttpClient"/>'s <see cref="SocketsHttpHandler.ConnectCallback"/>: the forwarder names
/// the peer by its <see cref="Preferred"/> address in the URL and attaches all of them to the request
/// (<see cref="AddressesKey"/>). Connections are pooled by the URL's address, so the race runs once per new
/// connection, not per request (and a connection made over the fallback address is reused as it is).
/// </para>
/// </summary>
internal sealed class PeerDialer(TimeProvider time)
{
    /// <summary>
    /// Peers are on the local network, where a connect completes in well under a millisecond: one not done in 50 ms is
    /// most likely lost (a dropped SYN is resent only after 1 s). A needless second dial costs a SYN and a close.
    /// </summary>
    public static readonly TimeSpan FallbackDelay = TimeSpan.FromMilliseconds(50);

    public static readonly HttpRequestOptionsKey<IReadOnlyList<IPAddress>> AddressesKey = new("Spegel.PeerAddresses");

    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        int port = context.DnsEndPoint.Port;
        if (!context.InitialRequestMessage.Options.TryGetValue(AddressesKey, out var known) || known.Count == 0)
        {
            // Not a request to a routed peer: the host of the URL, as the default handler would dial it.
            var any = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await any.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
                return new NetworkStream(any, ownsSocket: true);
            }
            catch
            {
                any.Dispose();
                throw;
            }
        }

        var addresses = Order(known);
        if (addresses.Count == 1)
        {
            return new NetworkStream(await ConnectOneAsync(addresses[0], port, cancellationToken).ConfigureAwait(false), ownsSocket: true);
        }

        using var race = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var pending = new List<Task<Socket>>();
        var failures = new List<string>();
        int started = 0;
        try
        {
            pending.Add(ConnectOneAsync(addresses[started++], port, race.Token));
            while (pending.Count > 0)
            {
                var fallback = started < addresses.Count ? Task.Delay(FallbackDelay, time, race.Token) : Task.Delay(Timeout.Infinite, race.Token);
                var done = await Task.WhenAny([.. pending, fallback]).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                if (done is Task<Socket> attempt)
                {
                    pending.Remove(attempt);
                    if (attempt.IsCompletedSuccessfully)
                    {
                        return new NetworkStream(attempt.Result, ownsSocket: true);
                    }

                    failures.Add(attempt.Exception?.InnerException?.Message ?? "cancelled");
                }

                // Slow (the fallback delay passed) or failed: start the next address.
                if (started < addresses.Count)
                {
                    pending.Add(ConnectOneAsync(addresses[started++], port, race.Token));
                }
            }

            throw new IOException($"no address of the peer answered: {string.Join("; ", failures)}");
        }
        finally
        {
            await race.CancelAsync().ConfigureAwait(false);
            foreach (var loser in pending)
            {
                _ = loser.ContinueWith(t => { if (t.IsCompletedSuccessfully) { t.Result.Dispose(); } }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            }
        }
    }

    /// <summary>The address dialed first (<see cref="Order"/>): it names the peer in URLs and logs.</summary>
    public static IPAddress Preferred(IReadOnlyList<IPAddress> addresses) =>
        addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetworkV6 && !a.IsIPv4MappedToIPv6) is { } v6 ? v6
        : addresses[0].IsIPv4MappedToIPv6 ? addresses[0].MapToIPv4() : addresses[0];

    /// <summary>IPv6 first, then the families alternate; within a family the peer's order is kept (RFC 8305 §4).</summary>
    public static IReadOnlyList<IPAddress> Order(IReadOnlyList<IPAddress> addresses)
    {
        var v6 = new List<IPAddress>();
        var v4 = new List<IPAddress>();
        foreach (var address in addresses)
        {
            var ip = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
            (ip.AddressFamily == AddressFamily.InterNetworkV6 ? v6 : v4).Add(ip);
        }

        var ordered = new List<IPAddress>(addresses.Count);
        for (int i = 0; i < Math.Max(v6.Count, v4.Count); i++)
        {
            if (i < v6.Count)
            {
                ordered.Add(v6[i]);
            }

            if (i < v4.Count)
            {
                ordered.Add(v4[i]);
            }
        }

        return ordered;
    }

    private static async Task<Socket> ConnectOneAsync(IPAddress address, int port, CancellationToken cancellationToken)
    {
        var endPoint = new IPEndPoint(address, port);
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new IOException($"{endPoint}: {ex.Message}", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
