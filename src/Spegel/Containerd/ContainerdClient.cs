using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using Spegel.Containerd.Api.Content;
using Spegel.Containerd.Api.Events;
using Spegel.Containerd.Api.Images;
using Spegel.Containerd.Api.Introspection;

namespace Spegel.Containerd;

/// <summary>
/// gRPC clients for containerd's services over its unix socket. Every call carries the namespace header
/// (<c>containerd-namespace</c>); containerd scopes images and content ownership by it.
/// </summary>
internal sealed class ContainerdClient : IDisposable
{
    private const string NamespaceHeader = "containerd-namespace";
    private readonly GrpcChannel _channel;
    private readonly Metadata _headers;

    public ContainerdClient(string socketPath, string @namespace)
    {
        SocketPath = socketPath;
        Namespace = @namespace;
        _headers = new Metadata { { NamespaceHeader, @namespace } };
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
            EnableMultipleHttp2Connections = true,
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
        };
        _channel = GrpcChannel.ForAddress("http://containerd", new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = 32 * 1024 * 1024,
        });
        Content = new Content.ContentClient(_channel);
        Images = new Images.ImagesClient(_channel);
        Events = new Events.EventsClient(_channel);
        Introspection = new Introspection.IntrospectionClient(_channel);
        Version = new Api.Version.Version.VersionClient(_channel);
        CriRuntime = new Api.Cri.RuntimeService.RuntimeServiceClient(_channel);
        CriImages = new Api.Cri.ImageService.ImageServiceClient(_channel);
    }

    public string SocketPath { get; }

    public string Namespace { get; }

    public Content.ContentClient Content { get; }

    public Images.ImagesClient Images { get; }

    public Events.EventsClient Events { get; }

    public Introspection.IntrospectionClient Introspection { get; }

    public Api.Version.Version.VersionClient Version { get; }

    public Api.Cri.RuntimeService.RuntimeServiceClient CriRuntime { get; }

    public Api.Cri.ImageService.ImageServiceClient CriImages { get; }

    /// <summary>Call options with the namespace header, a cancellation token and an optional deadline.</summary>
    public CallOptions Call(CancellationToken cancellationToken, TimeSpan? timeout = null) =>
        new(_headers, timeout is { } t ? DateTime.UtcNow + t : null, cancellationToken);

    public void Dispose() => _channel.Dispose();
}
