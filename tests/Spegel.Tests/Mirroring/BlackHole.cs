using System.Net;
using System.Net.Sockets;

namespace Spegel.Tests.Mirroring;

/// <summary>
/// An address that swallows connection attempts, as a host that went away does, without leaving the machine: a
/// listener with a backlog of 0 whose one queue slot is taken by a connection never accepted. Linux then drops every
/// further SYN (the accept queue is full), so a dial hangs until its own timeout instead of being refused.
/// </summary>
internal sealed class BlackHole : IDisposable
{
    private readonly Socket _listener;
    private readonly Socket _filler;

    private BlackHole(Socket listener, Socket filler)
    {
        _listener = listener;
        _filler = filler;
    }

    public static BlackHole Start(IPAddress address, int port)
    {
        var endPoint = new IPEndPoint(address, port);
        var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        var filler = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(endPoint);
            listener.Listen(0);
            filler.Connect(endPoint);
            return new BlackHole(listener, filler);
        }
        catch
        {
            filler.Dispose();
            listener.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _filler.Dispose();
        _listener.Dispose();
    }
}
