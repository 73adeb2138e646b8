using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Transport;

/// <summary>
/// The addresses a node announces: for a wildcard listener every interface's unicast IP (IPv6 link-local
/// excluded), otherwise the bound IP; loopback only when explicitly allowed (Spegel drops loopback).
/// </summary>
public static class AddressDiscovery
{
    public static IReadOnlyList<Multiaddr> Announced(IEnumerable<IPEndPoint> bound, bool allowLoopback)
    {
        var result = new List<Multiaddr>();
        foreach (var endPoint in bound)
        {
            IEnumerable<IPAddress> ips = endPoint.Address.Equals(IPAddress.Any) || endPoint.Address.Equals(IPAddress.IPv6Any)
                ? InterfaceAddresses(includeV6: endPoint.Address.Equals(IPAddress.IPv6Any))
                : [endPoint.Address];
            foreach (var ip in ips)
            {
                if (IPAddress.IsLoopback(ip) && !allowLoopback)
                {
                    continue;
                }

                var address = Multiaddr.FromEndPoint(new IPEndPoint(ip, endPoint.Port));
                if (!result.Contains(address))
                {
                    result.Add(address);
                }
            }
        }

        return result;
    }

    private static IEnumerable<IPAddress> InterfaceAddresses(bool includeV6)
    {
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            if (nic.OperationalStatus is not (OperationalStatus.Up or OperationalStatus.Unknown))
            {
                continue;
            }

            foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
            {
                var ip = unicast.Address;
                if (ip.AddressFamily == AddressFamily.InterNetwork || (includeV6 && ip.AddressFamily == AddressFamily.InterNetworkV6 && !ip.IsIPv6LinkLocal))
                {
                    yield return ip;
                }
            }
        }
    }
}
