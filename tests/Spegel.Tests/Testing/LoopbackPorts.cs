using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Spegel.Tests.Testing;

/// <summary>
/// Ports for tests. A server that can listen on port 0 does, and the test reads the port back: choosing a free port,
/// releasing it and binding it again later races with every other test and outgoing connection on the machine.
/// </summary>
internal static class LoopbackPorts
{
    /// <summary>The port a started web app listens on (it was given port 0).</summary>
    public static int BoundPort(this WebApplication app) =>
        new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;

    /// <summary>
    /// A port on 127.0.0.1 that refuses connections for as long as the socket lives: it is bound (nobody else can take
    /// it) but not listening, so a connect gets a reset at once. A "pod that is down", without a release-and-hope race.
    /// </summary>
    public static Socket Refusing(out int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        return socket;
    }
}
