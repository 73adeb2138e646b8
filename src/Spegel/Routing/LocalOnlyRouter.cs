using System.Runtime.CompilerServices;

namespace Spegel.Routing;

/// <summary>A router for a node that has no peers: always ready, finds nobody.</summary>
internal sealed class LocalOnlyRouter : IRouter
{
    public string Id => "local";

    public bool Ready => true;

    public Task AdvertiseAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task WithdrawAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) => Task.CompletedTask;

    public async IAsyncEnumerable<RoutedPeer> LookupAsync(string key, int count, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        yield break;
    }
}
