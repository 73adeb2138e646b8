using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Google.Protobuf;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Muxing;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protocols;
using Spegel.Libp2p.Transport;

namespace Spegel.Bench;

/// <summary>
/// Issue 3's measurements, in one process on loopback, each beside a baseline from the same run: lookup latency in a
/// 50-node network (baseline: one ping round trip), providing 10,000 keys (baseline: writing the same ADD_PROVIDER
/// messages to one peer), memory per connection (baseline: a bare TCP connection pair), and yamux throughput (baseline:
/// raw TCP).
/// </summary>
internal static class DhtBenchmark
{
    public static async Task<int> RunAsync(BenchOptions options)
    {
        var report = new BenchReport();

        int nodes = options.Nodes;
        report.Line($"# libp2p / DHT benchmark ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores)");
        report.Line(string.Empty);
        report.Line($"Command: `dotnet run --project bench/Spegel.Bench -c Release -- dht --nodes {nodes} --keys {options.Keys} --lookups {options.Lookups}`");
        report.Line(string.Empty);

        Progress($"starting {nodes} nodes");
        var network = new List<(Libp2pHost Host, Dht Dht)>();
        for (int i = 0; i < nodes; i++)
        {
            // Every node is 127.0.0.1 here: the per-IP limits, made for one node per address, would refuse the 33rd node.
            var host = new Libp2pHost(new HostOptions { Identity = PrivateKey.Generate(), Listen = [new IPEndPoint(IPAddress.Loopback, 0)], AnnounceLoopback = true, MaxConnectionsPerIp = 1024, MaxPendingHandshakesPerIp = 64 });
            await host.StartAsync(CancellationToken.None);
            var dht = new Dht(host, new DhtOptions { RequestTimeout = TimeSpan.FromSeconds(5) });
            dht.Start();
            network.Add((host, dht));
        }

        try
        {
            var seed = network[0].Host.Addresses[0].WithPeerId(network[0].Host.Id);
            await Task.WhenAll(network.Skip(1).Select(n => n.Dht.BootstrapAsync([seed], CancellationToken.None)));
            await Task.WhenAll(network.Select(n => n.Dht.RefreshAsync(CancellationToken.None)));
            for (int i = 0; i < nodes; i++)
            {
                await network[i].Dht.ProvideAsync([Cid.ForKey($"bench-key-{i}").Hash], CancellationToken.None);
            }

            Progress($"{options.Lookups} lookups from random nodes for keys of other nodes");
            var random = new Random(1);
            var lookups = new List<double>();
            var pings = new List<double>();
            int misses = 0;
            for (int i = 0; i < options.Lookups; i++)
            {
                int finder = random.Next(nodes), owner = random.Next(nodes);
                if (finder == owner)
                {
                    owner = (owner + 1) % nodes;
                }

                var clock = Stopwatch.StartNew();
                bool found = false;
                IReadOnlyList<Multiaddr> addresses = [];
                await foreach (var candidate in network[finder].Dht.FindProvidersAsync(Cid.ForKey($"bench-key-{owner}").Hash, 1, CancellationToken.None))
                {
                    found = candidate.Id.Equals(network[owner].Host.Id);
                    addresses = candidate.Addresses;
                }

                lookups.Add(clock.Elapsed.TotalMilliseconds);
                misses += found ? 0 : 1;
                // A provider's addresses travel with the lookup (the peer store keeps only first-hand ones): dial with them.
                await network[finder].Host.ConnectAsync(network[owner].Host.Id, addresses, CancellationToken.None);
                pings.Add((await PingService.PingAsync(network[finder].Host, network[owner].Host.Id, CancellationToken.None)).TotalMilliseconds);
            }

            report.Line($"## Lookup latency, {nodes} nodes, {options.Lookups} lookups (time to the first provider)");
            report.Line(string.Empty);
            report.Line("| | p50 | p99 | misses |");
            report.Line("|---|---|---|---|");
            report.Line($"| ping round trip on an open connection (baseline) | {Percentile(pings, 50):0.00} ms | {Percentile(pings, 99):0.00} ms | |");
            report.Line($"| GET_PROVIDERS lookup | {Percentile(lookups, 50):0.00} ms | {Percentile(lookups, 99):0.00} ms | {misses} |");
            report.Line($"| lookup / ping (p50) | {Percentile(lookups, 50) / Percentile(pings, 50):0.0}× | | |");
            report.Line(string.Empty);

            Progress($"providing {options.Keys} keys from one node");
            var keys = Enumerable.Range(0, options.Keys).Select(i => Cid.ForKey($"sha256:{i:x64}").Hash).ToList();
            var provider = network[nodes / 2];
            var provideClock = Stopwatch.StartNew();
            await provider.Dht.ProvideAsync(keys, CancellationToken.None);
            double provideSeconds = provideClock.Elapsed.TotalSeconds;
            int holders = network.Count(n => n.Dht.Providers.Get(keys[0]).Contains(provider.Host.Id));

            var target = network[(nodes / 2) + 1];
            var messageClock = Stopwatch.StartNew();
            var self = new PeerInfo(provider.Host.Id, provider.Host.Addresses);
            await using (var stream = await provider.Host.NewStreamAsync(target.Host.Id, DhtOptions.SpegelProtocol, CancellationToken.None))
            {
                foreach (var key in keys)
                {
                    var message = new Spegel.Libp2p.Protos.Message { Type = Spegel.Libp2p.Protos.Message.Types.MessageType.AddProvider, Key = ByteString.CopyFrom(key.Bytes) };
                    message.ProviderPeers.Add(self.ToProto(false));
                    await LengthPrefixed.WriteAsync(stream, message, CancellationToken.None);
                }

                await stream.CloseWriteAsync();
            }

            double oneStreamSeconds = messageClock.Elapsed.TotalSeconds;
            report.Line($"## Providing {options.Keys} keys from one node of {nodes}");
            report.Line(string.Empty);
            report.Line("| | time | keys/s |");
            report.Line("|---|---|---|");
            report.Line($"| writing {options.Keys} ADD_PROVIDER messages to one peer on one stream (baseline) | {oneStreamSeconds:0.00} s | {options.Keys / oneStreamSeconds:0} |");
            report.Line($"| ProvideAsync: lookups + ADD_PROVIDER to the k={provider.Dht.Options.K} closest of every key | {provideSeconds:0.00} s | {options.Keys / provideSeconds:0} |");
            report.Line($"| ratio | {provideSeconds / oneStreamSeconds:0.0}× | |");
            report.Line(string.Empty);
            report.Line($"A sample key's record is held by {holders} of {nodes} nodes (k = {provider.Dht.Options.K}).");
            report.Line(string.Empty);
        }
        finally
        {
            foreach (var (host, dht) in network)
            {
                await dht.DisposeAsync();
                await host.DisposeAsync();
            }
        }

        Progress("memory per connection");
        var (perConnection, perTcp) = await MemoryPerConnectionAsync(100);
        report.Line("## Memory per connection (managed heap, after full GC, 100 connections)");
        report.Line(string.Empty);
        report.Line("| bare TCP connection pair (baseline) | libp2p connection pair (Noise + yamux, identified) | ratio |");
        report.Line("|---|---|---|");
        report.Line($"| {perTcp / 1024:0.0} KiB | {perConnection / 1024:0.0} KiB | {perConnection / perTcp:0.0}× |");
        report.Line(string.Empty);

        Progress("throughput over loopback");
        long bytes = options.ThroughputMiB * 1024L * 1024L;
        double raw = await RawTcpThroughputAsync(bytes);
        double yamuxRaw = await YamuxOverTcpThroughputAsync(bytes);
        double full = await FullStackThroughputAsync(bytes);
        report.Line($"## One stream over loopback, {options.ThroughputMiB} MiB");
        report.Line(string.Empty);
        report.Line("| raw TCP (baseline) | yamux over TCP | yamux over Noise (the real stack) | yamux / raw | stack / raw |");
        report.Line("|---|---|---|---|---|");
        report.Line($"| {raw / 1048576:0} MiB/s | {yamuxRaw / 1048576:0} MiB/s | {full / 1048576:0} MiB/s | {yamuxRaw / raw:0.00}× | {full / raw:0.00}× |");

        await report.SaveAsync(options.Out);

        return 0;
    }

    private static async Task<(double PerConnection, double PerTcp)> MemoryPerConnectionAsync(int count)
    {
        long Settled()
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            return GC.GetTotalMemory(forceFullCollection: true);
        }

        // Baseline: bare socket pairs.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start(count);
        long before = Settled();
        var pairs = new List<(TcpClient, TcpClient)>();
        for (int i = 0; i < count; i++)
        {
            var client = new TcpClient();
            await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
            pairs.Add((client, await listener.AcceptTcpClientAsync()));
        }

        double perTcp = (double)(Settled() - before) / count;
        foreach (var (a, b) in pairs)
        {
            a.Dispose();
            b.Dispose();
        }

        // libp2p: hosts first (their own cost is not the connection's), then one connection each to a hub.
        var hub = new Libp2pHost(new HostOptions { Identity = PrivateKey.Generate(), Listen = [new IPEndPoint(IPAddress.Loopback, 0)], AnnounceLoopback = true, MaxConnectionsPerIp = 1024, MaxPendingHandshakesPerIp = 64 }); // 100 peers from 127.0.0.1
        await hub.StartAsync(CancellationToken.None);
        var hosts = new List<Libp2pHost>();
        for (int i = 0; i < count; i++)
        {
            var host = new Libp2pHost(new HostOptions { Identity = PrivateKey.Generate() });
            await host.StartAsync(CancellationToken.None);
            hosts.Add(host);
        }

        before = Settled();
        var address = hub.Addresses[0].WithPeerId(hub.Id);
        foreach (var host in hosts)
        {
            await host.ConnectAsync(address, CancellationToken.None);
        }

        await Task.Delay(500); // identify both ways
        double perConnection = (double)(Settled() - before) / count;
        foreach (var host in hosts)
        {
            await host.DisposeAsync();
        }

        await hub.DisposeAsync();
        return (perConnection, perTcp);
    }

    private static async Task<double> RawTcpThroughputAsync(long bytes)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        using var server = await listener.AcceptTcpClientAsync();
        return await MeasureAsync(client.GetStream(), server.GetStream(), bytes, null);
    }

    private static async Task<double> YamuxOverTcpThroughputAsync(long bytes)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        using var server = await listener.AcceptTcpClientAsync();
        await using var a = new YamuxSession(client.GetStream(), isClient: true);
        await using var b = new YamuxSession(server.GetStream(), isClient: false);
        a.Start();
        b.Start();
        var outbound = await a.OpenStreamAsync(CancellationToken.None);
        var inbound = await b.Incoming.ReadAsync();
        return await MeasureAsync(outbound, inbound, bytes, outbound);
    }

    private static async Task<double> FullStackThroughputAsync(long bytes)
    {
        await using var a = new Libp2pHost(new HostOptions { Identity = PrivateKey.Generate(), Listen = [new IPEndPoint(IPAddress.Loopback, 0)], AnnounceLoopback = true });
        await using var b = new Libp2pHost(new HostOptions { Identity = PrivateKey.Generate(), Listen = [new IPEndPoint(IPAddress.Loopback, 0)], AnnounceLoopback = true });
        var received = new TaskCompletionSource<YamuxStream>();
        var done = new TaskCompletionSource();
        b.Handle("/bench/1.0.0", async (stream, _, _) =>
        {
            received.TrySetResult(stream);
            await done.Task;
        });
        await a.StartAsync(CancellationToken.None);
        await b.StartAsync(CancellationToken.None);
        await a.ConnectAsync(b.Addresses[0].WithPeerId(b.Id), CancellationToken.None);
        var outbound = await a.NewStreamAsync(b.Id, "/bench/1.0.0", CancellationToken.None);
        var inbound = await received.Task;
        double result = await MeasureAsync(outbound, inbound, bytes, outbound);
        done.SetResult();
        return result;
    }

    private static async Task<double> MeasureAsync(Stream writer, Stream reader, long bytes, YamuxStream? closeWrite)
    {
        byte[] chunk = new byte[256 * 1024];
        Random.Shared.NextBytes(chunk);
        var clock = Stopwatch.StartNew();
        var send = Task.Run(async () =>
        {
            for (long sent = 0; sent < bytes; sent += chunk.Length)
            {
                await writer.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, bytes - sent)));
            }

            if (closeWrite is not null)
            {
                await closeWrite.CloseWriteAsync();
            }
        });
        byte[] buffer = new byte[256 * 1024];
        long total = 0;
        while (total < bytes)
        {
            int n = await reader.ReadAsync(buffer);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        await send;
        return total / clock.Elapsed.TotalSeconds;
    }

    private static double Percentile(List<double> values, int percentile)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    private static void Progress(string text) => Console.Error.WriteLine($"… {text}");
}
