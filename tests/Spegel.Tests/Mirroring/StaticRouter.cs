using System.Net;
using System.Runtime.CompilerServices;
using Spegel.Routing;

namespace Spegel.Tests.Mirroring;

/// <summary>
/// An in-memory router: every key is held by the given peers (each with its addresses), found after an optional delay.
/// Each entry is a peer of its own (<c>peer-0</c>, <c>peer-1</c>, …), even when two name the same address (sybils).
/// </summary>
internal sealed class StaticRouter(IReadOnlyList<IReadOnlyList<IPAddress>> peers) : IRouter
{
    public StaticRouter(params IPAddress[] peers)
        : this(peers.Select(p => (IReadOnlyList<IPAddress>)[p]).ToList())
    {
    }

    public int Lookups;

    public TimeSpan Delay { get; set; }

    public string Id => "self";

    public bool Ready => true;

    public Task AdvertiseAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task WithdrawAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) => Task.CompletedTask;

    public async IAsyncEnumerable<RoutedPeer> LookupAsync(string key, int count, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Lookups);
        for (int i = 0; i < peers.Count; i++)
        {
            if (Delay > TimeSpan.Zero)
            {
                await Task.Delay(Delay, cancellationToken);
            }

            yield return new RoutedPeer($"peer-{i}", peers[i]);
        }
    }
}
