using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Spegel.Libp2p.Muxing;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Streams;
using Spegel.Libp2p.Protocols;
using Spegel.Libp2p.Security;

namespace Spegel.Libp2p.Transport;

/// <summary>
/// A libp2p host over TCP: listens, dials, upgrades connections (multistream-select → Noise → yamux, with inline
/// muxer negotiation), keeps one connection per peer and reuses it, runs identify on every new connection, and
/// dispatches inbound streams to protocol handlers.
/// </summary>
public sealed partial class Libp2pHost : IAsyncDisposable
{
    public const string YamuxProtocol = "/yamux/1.0.0";
    private static readonly string[] Muxers = [YamuxProtocol];
    private readonly HostOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Func<YamuxStream, Connection, CancellationToken, Task>> _handlers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<PeerId, ImmutableConnectionList> _connections = new();
    private readonly ConcurrentDictionary<PeerId, Lazy<Task<Connection>>> _dials = new();
    private readonly List<TcpListener> _listeners = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConnectionAdmission _admission;
    private readonly LogThrottle _refusals;
    private readonly List<Func<PeerId, bool>> _keep = [];
    private readonly MessageBudget _messageBudget;
    private long _connectionSequence;
    private readonly List<Task> _background = [];
    private IReadOnlyList<Multiaddr> _addresses = [];

    public Libp2pHost(HostOptions options, ILogger<Libp2pHost>? logger = null)
    {
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        Id = options.Identity.PeerId;
        Peers = new PeerStore(options.Time);
        Peers.Pin(_connections.ContainsKey); // connected peers keep their entry
        _admission = new ConnectionAdmission(options);
        _refusals = new LogThrottle(options.RefusalLogInterval, options.Time);
        _messageBudget = new MessageBudget(options.MessageBytesInFlight);
        Identify = new IdentifyService(this);
        Handle(PingService.ProtocolId, PingService.HandleAsync);
        Handle(IdentifyService.ProtocolId, Identify.HandleRequestAsync);
        Handle(IdentifyService.PushProtocolId, Identify.HandlePushAsync);
    }

    public PeerId Id { get; }

    public HostOptions Options => _options;

    public PeerStore Peers { get; }

    internal IdentifyService Identify { get; }

    /// <summary>Where we listen (ports resolved).</summary>
    public IReadOnlyList<IPEndPoint> BoundEndPoints => _listeners.Select(l => (IPEndPoint)l.LocalEndpoint).ToList();

    /// <summary>What we announce: IP addresses of our interfaces (no loopback unless asked) with our TCP port.</summary>
    public IReadOnlyList<Multiaddr> Addresses => _addresses;

    public IReadOnlyCollection<string> Protocols => _handlers.Keys.ToList();

    /// <summary>A peer completed identify (protocols known).</summary>
    public event Action<PeerId>? PeerIdentified;

    /// <summary>The last connection to a peer closed.</summary>
    public event Action<PeerId>? PeerDisconnected;

    /// <summary>Bytes of messages all connections hold while they arrive (see <see cref="HostOptions.MessageBytesInFlight"/>).</summary>
    public long MessageBytesInFlight => _messageBudget.InUse;

    public int ConnectionCount => _connections.Values.Sum(c => c.Items.Count);

    public IReadOnlyCollection<PeerId> ConnectedPeers => _connections.Keys.ToList();

    public void Handle(string protocol, Func<YamuxStream, Connection, CancellationToken, Task> handler) => _handlers[protocol] = handler;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var endPoint in _options.Listen)
        {
            var listener = new TcpListener(endPoint);
            if (endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                listener.Server.DualMode = true;
            }

            listener.Start(512);
            _listeners.Add(listener);
            _background.Add(Task.Run(() => AcceptLoopAsync(listener), CancellationToken.None));
        }

        _addresses = [.. AddressDiscovery.Announced(BoundEndPoints, _options.AnnounceLoopback), .. _options.AnnounceAlso];
        LogListening(_logger, Id.ToString(), string.Join(", ", _addresses));
        return Task.CompletedTask;
    }

    public Connection? GetConnection(PeerId peer) =>
        _connections.TryGetValue(peer, out var list) ? list.Items.FirstOrDefault(c => !c.IsClosed) : null;

    /// <summary>The open connection to <paramref name="peer"/>, or a new one dialed on its known addresses.</summary>
    public Task<Connection> ConnectAsync(PeerId peer, CancellationToken cancellationToken) => ConnectAsync(peer, [], cancellationToken);

    /// <summary>
    /// The open connection to <paramref name="peer"/>, or a new one dialed on its known addresses and then on
    /// <paramref name="hints"/> (addresses a third party gave, not remembered unless the peer answers there).
    /// </summary>
    public async Task<Connection> ConnectAsync(PeerId peer, IReadOnlyList<Multiaddr> hints, CancellationToken cancellationToken)
    {
        if (peer.Equals(Id))
        {
            throw new InvalidOperationException("cannot dial ourselves");
        }

        if (GetConnection(peer) is { } existing)
        {
            return existing;
        }

        var dial = _dials.GetOrAdd(peer, p => new Lazy<Task<Connection>>(() => DialKnownAsync(p, hints)));
        try
        {
            return await dial.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (dial.Value.IsCompleted)
            {
                _dials.TryRemove(new KeyValuePair<PeerId, Lazy<Task<Connection>>>(peer, dial));
            }
        }
    }

    /// <summary>
    /// Dials one address. With a <c>/p2p/</c> suffix the remote must be that peer; without one, whoever answers is
    /// accepted and learned from the Noise handshake (DNS bootstrap).
    /// </summary>
    public async Task<Connection> ConnectAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        var expected = address.PeerId;
        if (expected is not null && GetConnection(expected) is { } existing)
        {
            return existing;
        }

        var endPoint = address.TcpEndPoint ?? throw new NotSupportedException($"cannot dial {address}: only /ip4|ip6/…/tcp/… is supported");
        var connection = await DialAsync(endPoint, expected, cancellationToken).ConfigureAwait(false);
        Peers.AddAddresses(connection.RemotePeer, [address], TimeSpan.FromHours(1));
        return connection;
    }

    /// <summary>Opens a stream to <paramref name="peer"/> for <paramref name="protocol"/>, connecting first if needed.</summary>
    public async Task<YamuxStream> NewStreamAsync(PeerId peer, string protocol, CancellationToken cancellationToken)
    {
        var connection = await ConnectAsync(peer, cancellationToken).ConfigureAwait(false);
        using var deadline = Deadline(_options.NegotiationTimeout);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        return await connection.OpenStreamAsync(protocol, timeout.Token).ConfigureAwait(false);
    }

    public async Task DisconnectAsync(PeerId peer)
    {
        if (_connections.TryRemove(peer, out var list))
        {
            foreach (var connection in list.Items)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task<Connection> DialKnownAsync(PeerId peer, IReadOnlyList<Multiaddr> hints)
    {
        var known = Peers.GetAddresses(peer);
        var addresses = known.Concat(hints.Take(PeerStore.MaxAddressesPerPeer).Select(h => h.WithoutPeerId()).Where(h => !known.Contains(h)))
            .Where(a => a.TcpEndPoint is not null).ToList();
        if (addresses.Count == 0)
        {
            throw new IOException($"no dialable address known for {peer}");
        }

        var errors = new List<string>();
        foreach (var address in addresses)
        {
            try
            {
                var connection = await DialAsync(address.TcpEndPoint!, peer, _stopping.Token).ConfigureAwait(false);
                Peers.AddAddresses(peer, [address], TimeSpan.FromHours(1)); // first-hand now: the peer answered there
                return connection;
            }
            catch (Exception ex) when (PeerFailure.Is(ex))
            {
                errors.Add($"{address}: {ex.Message}");
            }
        }

        throw new IOException($"could not connect to {peer}: {string.Join("; ", errors)}");
    }

    private async Task<Connection> DialAsync(IPEndPoint endPoint, PeerId? expected, CancellationToken cancellationToken)
    {
        using var deadline = Deadline(_options.DialTimeout + _options.HandshakeTimeout);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token, deadline.Token);
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using (var connectDeadline = Deadline(_options.DialTimeout))
            using (var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, connectDeadline.Token))
            {
                try
                {
                    await socket.ConnectAsync(endPoint, connectTimeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new TimeoutException($"connecting to {endPoint} timed out");
                }
            }

            var network = await ProtectAsync(new NetworkStream(socket, ownsSocket: true), timeout.Token).ConfigureAwait(false);
            if (!await Multistream.SelectAsync(network, NoiseHandshake.ProtocolId, timeout.Token).ConfigureAwait(false))
            {
                throw new IOException($"{endPoint} does not speak {NoiseHandshake.ProtocolId}");
            }

            var secure = await NoiseHandshake.InitiateAsync(network, _options.Identity, expected, Muxers, timeout.Token).ConfigureAwait(false);
            if (secure.RemotePeer.Equals(Id))
            {
                throw new IOException($"{endPoint} is ourselves");
            }

            if (!secure.RemoteMuxers.Contains(YamuxProtocol) && !await Multistream.SelectAsync(secure.Stream, YamuxProtocol, timeout.Token).ConfigureAwait(false))
            {
                throw new IOException($"{endPoint} does not speak {YamuxProtocol}");
            }

            return Register(secure, Multiaddr.FromEndPoint(endPoint), isOutbound: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task AcceptLoopAsync(TcpListener listener)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stopping.IsCancellationRequested)
                {
                    return;
                }

                continue;
            }

            var ticket = socket.RemoteEndPoint is IPEndPoint remote ? Admit(remote) : null;
            if (ticket is null)
            {
                socket.Dispose();
                continue;
            }

            _ = Task.Run(() => AcceptAsync(socket, ticket));
        }
    }

    /// <summary>A handshake slot for a new inbound socket, or null (refused, logged at most once per interval).</summary>
    private ConnectionAdmission.Ticket? Admit(IPEndPoint remote)
    {
        var ticket = _admission.TryAdmit(SourceIp(remote.Address), out string? refusal);
        if (ticket is null)
        {
            if (_refusals.ShouldLog(out long suppressed))
            {
                LogRefused(_logger, remote.ToString(), refusal!, suppressed);
            }
            else
            {
                LogRefusedQuietly(_logger, remote.ToString(), refusal!);
            }
        }

        return ticket;
    }

    private static IPAddress SourceIp(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>Waits for the dialer's first byte (without reading it); false when the socket stays silent or closes.</summary>
    private async Task<bool> FirstByteAsync(Socket socket, CancellationToken cancellationToken)
    {
        using var deadline = Deadline(_options.FirstByteTimeout);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        byte[] one = new byte[1];
        try
        {
            return await socket.ReceiveAsync(one, SocketFlags.Peek, timeout.Token).ConfigureAwait(false) > 0;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    private async Task AcceptAsync(Socket socket, ConnectionAdmission.Ticket ticket)
    {
        var remote = (IPEndPoint)socket.RemoteEndPoint!;
        socket.NoDelay = true;
        using var _ = ticket;
        using var evictedOrStopping = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, ticket.Evicted);
        if (!await FirstByteAsync(socket, evictedOrStopping.Token).ConfigureAwait(false))
        {
            LogHandshakeFailed(_logger, remote.ToString(), "nothing sent");
            socket.Dispose();
            return;
        }

        Stream network = new NetworkStream(socket, ownsSocket: true);
        try
        {
            using var deadline = Deadline(_options.HandshakeTimeout);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(evictedOrStopping.Token, deadline.Token);
            network = await ProtectAsync(network, timeout.Token).ConfigureAwait(false);
            await Multistream.AcceptAsync(network, p => p == NoiseHandshake.ProtocolId, timeout.Token).ConfigureAwait(false);
            var secure = await NoiseHandshake.RespondAsync(network, _options.Identity, Muxers, timeout.Token).ConfigureAwait(false);
            if (!secure.RemoteMuxers.Contains(YamuxProtocol))
            {
                await Multistream.AcceptAsync(secure.Stream, p => p == YamuxProtocol, timeout.Token).ConfigureAwait(false);
            }

            if (!MakeRoomForInbound())
            {
                throw new IOException($"{MaxConnectionsReached}: every connection is a routing-table peer");
            }

            Register(secure, Multiaddr.FromEndPoint(remote), isOutbound: false);
        }
        catch (Exception ex) when (PeerFailure.Is(ex))
        {
            LogHandshakeFailed(_logger, remote.ToString(), ex.Message);
            await network.DisposeAsync().ConfigureAwait(false);
        }
    }

    private const string MaxConnectionsReached = "connection limit reached";

    /// <summary>Peers whose connections are kept when the host is full (the DHT's routing table).</summary>
    internal void KeepConnected(Func<PeerId, bool> isKept)
    {
        lock (_keep)
        {
            _keep.Add(isKept);
        }
    }

    /// <summary>
    /// At <see cref="HostOptions.MaxConnections"/>, closes the least useful connection for a newcomer: unidentified
    /// first, then peers no routing table keeps, from the address holding the most, the newest of them; false when every
    /// connection is kept (the newcomer is the one to go).
    /// </summary>
    private bool MakeRoomForInbound()
    {
        var open = _connections.Values.SelectMany(l => l.Items).Where(c => !c.IsClosed).ToList();
        if (open.Count < _options.MaxConnections)
        {
            return true;
        }

        List<Func<PeerId, bool>> keep;
        lock (_keep)
        {
            keep = [.. _keep];
        }

        var victim = open
            .Where(c => !keep.Any(k => k(c.RemotePeer)))
            .OrderBy(c => Peers.IsIdentified(c.RemotePeer) ? 1 : 0)
            .ThenByDescending(c => c.RemoteAddress.Ip is { } ip ? _admission.ConnectedFrom(ip) : 0)
            .ThenByDescending(c => c.Sequence)
            .FirstOrDefault();
        if (victim is null)
        {
            return false;
        }

        LogEvicted(_logger, victim.RemotePeer.ToString(), victim.RemoteAddress.ToString());
        _ = victim.DisposeAsync().AsTask().ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
        return true;
    }

    private Connection Register(SecureSession secure, Multiaddr remoteAddress, bool isOutbound)
    {
        var session = new YamuxSession(secure.Stream, isClient: isOutbound, _options.Yamux, _options.Time);
        var budget = new MessageBudget(_options.MessageBytesPerConnection, _messageBudget, _options.MessageBytesGuaranteed);
        var connection = new Connection(secure.RemotePeer, remoteAddress, isOutbound, session, budget) { Sequence = Interlocked.Increment(ref _connectionSequence) };
        if (!isOutbound && remoteAddress.Ip is { } ip)
        {
            _admission.Connected(ip);
        }

        _connections.AddOrUpdate(secure.RemotePeer, _ => new ImmutableConnectionList([connection]), (_, list) => list.With(connection));
        session.Start();
        LogConnected(_logger, secure.RemotePeer.ToString(), remoteAddress.ToString(), isOutbound ? "outbound" : "inbound");
        _ = Task.Run(() => ServeStreamsAsync(connection));
        _ = Task.Run(() => Identify.IdentifyAsync(connection, _stopping.Token));
        _ = session.Closed.Register(() => OnClosed(connection));
        return connection;
    }

    private void OnClosed(Connection connection)
    {
        if (!connection.IsOutbound && connection.RemoteAddress.Ip is { } ip)
        {
            _admission.Disconnected(ip);
        }

        var peer = connection.RemotePeer;
        while (_connections.TryGetValue(peer, out var list))
        {
            var remaining = list.Without(connection);
            bool updated = remaining.Items.Count == 0
                ? _connections.TryRemove(new KeyValuePair<PeerId, ImmutableConnectionList>(peer, list))
                : _connections.TryUpdate(peer, remaining, list);
            if (updated)
            {
                if (remaining.Items.Count == 0)
                {
                    LogDisconnected(_logger, peer.ToString(), connection.Session.CloseReason?.Message ?? "closed");
                    PeerDisconnected?.Invoke(peer);
                }

                return;
            }
        }
    }

    private async Task ServeStreamsAsync(Connection connection)
    {
        try
        {
            await foreach (var stream in connection.Session.Incoming.ReadAllAsync(connection.Session.Closed).ConfigureAwait(false))
            {
                _ = Task.Run(() => ServeStreamAsync(connection, stream));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ServeStreamAsync(Connection connection, YamuxStream stream)
    {
        string? protocol = null;
        try
        {
            using (var deadline = Deadline(_options.NegotiationTimeout))
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.Session.Closed, deadline.Token))
            {
                protocol = await Multistream.AcceptAsync(stream, _handlers.ContainsKey, timeout.Token).ConfigureAwait(false);
            }

            stream.Protocol = protocol;
            await _handlers[protocol](stream, connection, connection.Session.Closed).ConfigureAwait(false);
        }
        catch (Exception ex) when (PeerFailure.Is(ex))
        {
            LogStreamFailed(_logger, connection.RemotePeer.ToString(), protocol ?? "(negotiating)", ex.Message);
            await stream.ResetAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // A handler's own bug, not the peer's doing (cancellation counts as a peer failure, above): said at ERROR,
            // and the peer sees a reset, not a clean end it could take for a complete answer. The task runs
            // unobserved, so nothing here may escape.
            LogHandlerFailed(_logger, protocol ?? "(negotiating)", connection.RemotePeer.ToString(), ex);
            await stream.ResetAsync().ConfigureAwait(false);
        }
        finally
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The private network's layer on a raw connection, before multistream-select (Pnet/PnetStream.cs); the raw
    /// stream itself without a key. Every peer's first bytes inside it are multistream's header.
    /// </summary>
    private Task<Stream> ProtectAsync(Stream raw, CancellationToken cancellationToken) =>
        Pnet.PnetStream.ProtectAsync(raw, _options.PrivateNetwork, MultistreamHeader, cancellationToken);

    private static readonly byte[] MultistreamHeader = Multistream.Encode(Multistream.ProtocolId);

    internal void OnIdentified(PeerId peer) => PeerIdentified?.Invoke(peer);

    /// <summary>Cancelled after <paramref name="delay"/> on the host's clock, like every other wait of the host.</summary>
    private CancellationTokenSource Deadline(TimeSpan delay) => new(delay, _options.Time);

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var listener in _listeners)
        {
            listener.Stop();
        }

        foreach (var list in _connections.Values)
        {
            foreach (var connection in list.Items)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }

        _connections.Clear();
        await Task.WhenAll(_background).ConfigureAwait(false);
    }

    /// <summary>Connections to one peer, replaced as a whole so readers never lock.</summary>
    private sealed record ImmutableConnectionList(IReadOnlyList<Connection> Items)
    {
        public ImmutableConnectionList With(Connection connection) => new([.. Items.Where(c => !c.IsClosed), connection]);

        public ImmutableConnectionList Without(Connection connection) => new(Items.Where(c => c != connection && !c.IsClosed).ToList());
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "libp2p host {PeerId} announcing {Addresses}")]
    private static partial void LogListening(ILogger logger, string peerId, string addresses);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Debug, Message = "Connected to {Peer} at {Address} ({Direction})")]
    private static partial void LogConnected(ILogger logger, string peer, string address, string direction);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Debug, Message = "Disconnected from {Peer}: {Reason}")]
    private static partial void LogDisconnected(ILogger logger, string peer, string reason);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Debug, Message = "Inbound handshake from {Remote} failed: {Reason}")]
    private static partial void LogHandshakeFailed(ILogger logger, string remote, string reason);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Debug, Message = "Stream {Protocol} from {Peer} failed: {Reason}")]
    private static partial void LogStreamFailed(ILogger logger, string peer, string protocol, string reason);

    [LoggerMessage(EventId = 2207, Level = LogLevel.Error, Message = "The handler of {Protocol} failed on a stream from {Peer}; the stream was reset")]
    private static partial void LogHandlerFailed(ILogger logger, string protocol, string peer, Exception exception);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "Refused a connection from {Remote}: {Reason} ({Suppressed} more refusals since the last of these messages)")]
    private static partial void LogRefused(ILogger logger, string remote, string reason, long suppressed);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Debug, Message = "Refused a connection from {Remote}: {Reason}")]
    private static partial void LogRefusedQuietly(ILogger logger, string remote, string reason);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Debug, Message = "Closed the connection to {Peer} at {Address} to make room for a new one")]
    private static partial void LogEvicted(ILogger logger, string peer, string address);
}
