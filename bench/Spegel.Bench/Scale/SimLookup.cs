using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protos;

namespace Spegel.Bench.Scale;

/// <summary>
/// Times one real <see cref="Dht.FindProvidersAsync"/> on a simulated clock of its own, as a discrete-event simulation:
/// every request of the lookup gets a completion time (its issue time plus the link's latency), and one thread (the
/// pump) completes them in time order. A completion runs the lookup's continuation inline (Lookup awaits with
/// ConfigureAwait(false) on plain tasks), so the requests it issues next are issued at that completion's time, one round
/// deeper. Requests issued anywhere else are counted (<see cref="OffPump"/>) so a run can show its timing is exact.
/// </summary>
internal sealed class SimLookup
{
    private static readonly AsyncLocal<SimLookup?> Ambient = new();

    /// <summary>
    /// Whether something awaits a task: the runtime's private continuation slot. An answer is delivered only once the
    /// lookup waits for it, so the lookup's thread has finished issuing the requests of the answer before (the first
    /// round is issued on the lookup's own thread; a bench may look at the runtime's internals, the product never does).
    /// </summary>
    private static readonly System.Reflection.FieldInfo Continuation =
        typeof(Task).GetField("m_continuationObject", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)
        ?? throw new InvalidOperationException("Task.m_continuationObject is gone: the lookup pump cannot tell when a lookup waits");

    [ThreadStatic]
    private static Delivery? t_delivering;

    private readonly PriorityQueue<Delivery, (double, long)> _queue = new();
    private readonly Dictionary<PeerId, (double Ms, int Round)> _seen = [];
    private long _sequence;
    private int _delivered;

    private SimLookup(int seed) => Random = new Random(seed);

    /// <summary>The lookup the current code runs for (flows with the execution context into the lookup's tasks).</summary>
    public static SimLookup? Current => Ambient.Value;

    public Random Random { get; }

    /// <summary>Requests sent by the lookup.</summary>
    public int Requests { get; private set; }

    /// <summary>Requests issued off the pump after the first round (0 when the timing is exact).</summary>
    public int OffPump { get; private set; }

    private double Now { get; set; }

    /// <summary>Registers a request's outcome, delivered <paramref name="latencyMs"/> after the answer it follows.</summary>
    public Task<Message> Schedule(object outcome, double latencyMs)
    {
        var parent = t_delivering;
        var delivery = new Delivery(outcome, new TaskCompletionSource<Message>(), 0, 0);
        lock (_queue)
        {
            double issued = parent?.Ms ?? 0;
            int round = (parent?.Round ?? 0) + 1;
            if (parent is null && _delivered > 0)
            {
                OffPump++;
                issued = Now;
            }

            delivery = delivery with { Ms = issued + latencyMs, Round = round };
            Requests++;
            _queue.Enqueue(delivery, (delivery.Ms, _sequence++));
        }

        return delivery.Completion.Task;
    }

    /// <summary>Runs a lookup of <paramref name="key"/> from <paramref name="finder"/> to its end, on the calling thread.</summary>
    public static Result Run(SimNode finder, Multihash key, int seed)
    {
        var lookup = new SimLookup(seed);
        var local = finder.Dht.LocalProviders(key).Select(p => p.Id).ToList();
        foreach (var id in local)
        {
            lookup._seen.TryAdd(id, (0, 0));
        }

        int first = Math.Min(finder.Dht.Options.Alpha, Math.Min(finder.Dht.Options.K, finder.Dht.RoutingTable.Count));
        Ambient.Value = lookup;
        var providers = finder.Dht.FindProvidersAsync(key, 0, CancellationToken.None).GetAsyncEnumerator();
        var move = providers.MoveNextAsync(); // starts the lookup's producer, which inherits Ambient
        Ambient.Value = null;
        var found = new List<PeerId>();
        var spin = default(SpinWait);
        long waitingSince = 0;
        while (true)
        {
            if (move.IsCompleted)
            {
                if (!move.GetAwaiter().GetResult())
                {
                    break;
                }

                found.Add(providers.Current.Id);
                move = providers.MoveNextAsync();
                continue;
            }

            Delivery? next = null;
            lock (lookup._queue)
            {
                // The next answer is delivered once the lookup waits for it (its first round is issued on its own
                // thread; an ended lookup still observes its orphans). The 10 s fallback is for a wait that never comes.
                bool ready = lookup._queue.Count > 0
                    && (lookup._delivered > 0 || lookup._queue.Count >= first)
                    && (Continuation.GetValue(lookup._queue.Peek().Completion.Task) is not null
                        || (lookup._delivered > 0 && waitingSince != 0 && System.Diagnostics.Stopwatch.GetElapsedTime(waitingSince).TotalSeconds > 10));
                if (ready)
                {
                    next = lookup._queue.Dequeue();
                    lookup._delivered++;
                    waitingSince = 0;
                    lookup.Now = next.Ms;
                }
                else if (lookup._queue.Count > 0 && waitingSince == 0)
                {
                    waitingSince = System.Diagnostics.Stopwatch.GetTimestamp();
                }
            }

            if (next is null)
            {
                spin.SpinOnce(sleep1Threshold: -1);
                continue;
            }

            spin = default;
            if (next.Outcome is Message answer)
            {
                foreach (var entry in answer.ProviderPeers.Take(finder.Dht.Options.MaxProvidersPerAnswer))
                {
                    if (PeerId.TryFromBytes(entry.Id.Span, out var id))
                    {
                        lookup._seen.TryAdd(id!, (next.Ms, next.Round));
                    }
                }
            }

            t_delivering = next;
            try
            {
                if (next.Outcome is Message message)
                {
                    next.Completion.SetResult(message);
                }
                else
                {
                    next.Completion.SetException((Exception)next.Outcome);
                }
            }
            finally
            {
                t_delivering = null;
            }
        }

        providers.DisposeAsync().AsTask().GetAwaiter().GetResult();
        var sightings = found.Select(id => (Id: id, lookup._seen.TryGetValue(id, out var s) ? s : (Ms: lookup.Now, Round: -1))).ToList();
        return new Result(sightings.Select(s => new Sighting(s.Id, s.Item2.Ms, s.Item2.Round)).ToList(), lookup.Requests, lookup.OffPump);
    }

    public sealed record Sighting(PeerId Provider, double Ms, int Round);

    /// <summary>Providers in the order the lookup yielded them, with when and in which round each was first seen.</summary>
    public sealed record Result(IReadOnlyList<Sighting> Providers, int Requests, int OffPump);

    private sealed record Delivery(object Outcome, TaskCompletionSource<Message> Completion, double Ms, int Round);
}
