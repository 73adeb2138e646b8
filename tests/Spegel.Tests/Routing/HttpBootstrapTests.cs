using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Spegel.Hosting;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Transport;
using Spegel.Routing;
using Spegel.Routing.Bootstrap;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Routing;

/// <summary>
/// HTTP bootstrap against both Spegel generations. v0.7.4 (<c>pkg/routing/bootstrap.go</c>): GET <c>peer + "/id"</c>,
/// the answer decoded by go-libp2p's <c>peer.AddrInfo.UnmarshalJSON</c> (one object). main
/// (<c>pkg/routing/libp2p/bootstrap.go</c>): GET the URL as given, the answer decoded into
/// <c>[]BootstrapPeerAddrInfo</c> (a list; ID may be empty; the first three used). Our client reads either shape; our
/// server answers <c>/id</c> in the shape of the generation the node is configured like, and both on fixed paths.
/// </summary>
public sealed class HttpBootstrapTests
{
    private static readonly PeerId IdA = PrivateKey.Generate().PeerId;
    private static readonly PeerId IdB = PrivateKey.Generate().PeerId;

    [Fact]
    public async Task OurClientReadsAV07ObjectFromPeerSlashId()
    {
        // As v0.7.4 writes it (a Go map: keys sorted).
        string v07 = $$"""{"Addrs":["/ip4/10.0.0.5/tcp/5001","/ip6/fd77:77::5/tcp/5001"],"ID":"{{IdA}}"}""";
        await using var server = await JsonServer.StartAsync(new() { ["/id"] = v07 });
        using var client = new HttpBootstrapper(new Uri($"{server.BaseUrl}/id"), string.Empty);
        var found = await client.GetAsync(CancellationToken.None);
        Assert.Equal([$"/ip4/10.0.0.5/tcp/5001/p2p/{IdA}", $"/ip6/fd77:77::5/tcp/5001/p2p/{IdA}"], found.Select(a => a.ToString()));
    }

    [Fact]
    public async Task OurClientReadsMainsListFromAnyUrlTakingThreeAndAcceptingAnEmptyId()
    {
        string main = $$"""
            [{"ID":"{{IdA}}","Addrs":["/ip4/10.0.0.5/tcp/5001"]},
             {"ID":"","Addrs":["/ip4/10.0.0.6"]},
             {"id":"{{IdB}}","addrs":["/ip4/10.0.0.7/tcp/5001"]},
             {"ID":"{{IdB}}","Addrs":["/ip4/10.0.0.8/tcp/5001"]}]
            """;
        await using var server = await JsonServer.StartAsync(new() { ["/bootstrap/peers"] = main });
        using var client = new HttpBootstrapper(new Uri($"{server.BaseUrl}/bootstrap/peers"), string.Empty);
        var found = await client.GetAsync(CancellationToken.None);
        Assert.Equal([$"/ip4/10.0.0.5/tcp/5001/p2p/{IdA}", "/ip4/10.0.0.6", $"/ip4/10.0.0.7/tcp/5001/p2p/{IdB}"], found.Select(a => a.ToString()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("null")]
    [InlineData("42")]
    [InlineData("\"text\"")]
    [InlineData("[1]")]
    [InlineData("{")]
    [InlineData("<html>")]
    public void MalformedAnswersAreClearErrors(string body)
    {
        var ex = Assert.Throws<InvalidDataException>(() => BootstrapJson.ParsePeers(Encoding.UTF8.GetBytes(body)));
        Assert.Contains("/id", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OddButDecodableAnswersAreTolerated()
    {
        Assert.Empty(HttpBootstrapper.Parse(BootstrapJson.ParsePeers("[]"u8.ToArray())));
        Assert.Empty(HttpBootstrapper.Parse(BootstrapJson.ParsePeers("{}"u8.ToArray())));
        Assert.Empty(HttpBootstrapper.Parse(BootstrapJson.ParsePeers("""{"ID":5,"Addrs":"x","Other":[]}"""u8.ToArray())));
    }

    [Fact]
    public async Task AnAnswerOver1MiBIsRefused()
    {
        string huge = "[" + string.Join(',', Enumerable.Repeat("{\"ID\":\"\",\"Addrs\":[]}", 60_000)) + "]";
        await using var server = await JsonServer.StartAsync(new() { ["/id"] = huge });
        using var client = new HttpBootstrapper(new Uri($"{server.BaseUrl}/id"), string.Empty);
        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => client.GetAsync(CancellationToken.None));
        Assert.Contains("1 MiB", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OurIdServerSpeaksEachGenerationsShape()
    {
        await using var host = new Libp2pHost(new HostOptions { Identity = PrivateKey.Generate(), Listen = [new IPEndPoint(IPAddress.Loopback, 0)], AnnounceLoopback = true });
        await host.StartAsync(CancellationToken.None);
        var addresses = host.Addresses.Select(a => a.ToString()).ToList();
        Assert.NotEmpty(addresses);
        using var http = new HttpClient();

        foreach (var shape in new[] { IdShape.List, IdShape.Object })
        {
            await using var server = await HttpBootstrapServer.StartAsync(new ListenAddress("127.0.0.1", 0), host, shape, Microsoft.Extensions.Logging.LogLevel.Error, CancellationToken.None);
            int port = server.BoundPort();
            byte[] id = await http.GetByteArrayAsync($"http://127.0.0.1:{port}/id");
            byte[] v07 = await http.GetByteArrayAsync($"http://127.0.0.1:{port}/v0.7/id");
            byte[] main = await http.GetByteArrayAsync($"http://127.0.0.1:{port}/main/id");

            var (v07Id, v07Addrs) = GoV074.Decode(v07);
            Assert.Equal(host.Id.ToString(), v07Id);
            Assert.Equal(addresses, v07Addrs);
            var (mainId, mainAddrs) = Assert.Single(GoMain.Decode(main));
            Assert.Equal(host.Id.ToString(), mainId);
            Assert.Equal(addresses, mainAddrs);

            if (shape == IdShape.Object)
            {
                Assert.Equal(v07, id);
                Assert.Equal(host.Id.ToString(), GoV074.Decode(id).Id);
                Assert.Throws<JsonException>(() => GoMain.Decode(id));
            }
            else
            {
                Assert.Equal(main, id);
                Assert.Equal(host.Id.ToString(), Assert.Single(GoMain.Decode(id)).Id);
                Assert.Throws<JsonException>(() => GoV074.Decode(id));
            }
        }
    }

    [Fact]
    public async Task AV07StyleNodePairBootstrapsThroughPeerSlashId()
    {
        var a = await StartRouterAsync(new StaticBootstrapper([]));
        await using var aDispose = a;
        await using var server = await HttpBootstrapServer.StartAsync(new ListenAddress("127.0.0.1", 0), a.Host, IdShape.Object, Microsoft.Extensions.Logging.LogLevel.Error, CancellationToken.None);
        int port = server.BoundPort();
        using var bootstrapper = new HttpBootstrapper(HttpBootstrapper.PeerUrl($"http://127.0.0.1:{port}")!, string.Empty);
        await using var b = await StartRouterAsync(bootstrapper);
        await WaitAsync(() => b.Dht.RoutingTable.Contains(a.Host.Id));
    }

    private static async Task<P2PRouter> StartRouterAsync(IBootstrapper bootstrapper)
    {
        var host = new Libp2pHost(new HostOptions { Identity = PrivateKey.Generate(), Listen = [new IPEndPoint(IPAddress.Loopback, 0)], AnnounceLoopback = true });
        var router = new P2PRouter(host, new Dht(host), bootstrapper, NullLogger<P2PRouter>.Instance);
        await router.StartAsync(CancellationToken.None);
        return router;
    }

    private static Task WaitAsync(Func<bool> condition) => Eventually.WaitAsync(condition, "the bootstrap condition");

    /// <summary>
    /// Decodes as Spegel v0.7.4 does: go-libp2p v0.48 <c>peer.AddrInfo.UnmarshalJSON</c> = <c>json.Unmarshal</c> into
    /// <c>struct { ID peer.ID; Addrs []string }</c> (field names matched in any case, unknown fields ignored), the ID
    /// through <c>peer.Decode</c> (an empty string fails; an absent ID stays empty), every address through
    /// <c>ma.NewMultiaddr</c>. A JSON list is a type error.
    /// </summary>
    private static class GoV074
    {
        public static (string Id, List<string> Addrs) Decode(byte[] body)
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new JsonException($"json: cannot unmarshal {root.ValueKind} into Go value of type peer.addrInfoJson");
            }

            string id = string.Empty;
            var addrs = new List<string>();
            foreach (var property in root.EnumerateObject())
            {
                if (property.Name.Equals("ID", StringComparison.OrdinalIgnoreCase))
                {
                    id = property.Value.GetString() ?? throw new JsonException("peer.ID from a non-string");
                    if (!PeerId.TryParse(id, out _))
                    {
                        throw new JsonException($"failed to parse peer ID: {id}");
                    }
                }
                else if (property.Name.Equals("Addrs", StringComparison.OrdinalIgnoreCase))
                {
                    addrs = GoMain.Strings(property.Value);
                }
            }

            return (id, addrs);
        }
    }

    /// <summary>
    /// Decodes as Spegel main does: <c>json.Unmarshal</c> into <c>[]BootstrapPeerAddrInfo{ID string; Addrs []string}</c>,
    /// the first three kept, a non-empty ID through <c>peer.Decode</c>, addresses through <c>ma.NewMultiaddr</c>. A JSON
    /// object is a type error.
    /// </summary>
    private static class GoMain
    {
        public static List<(string Id, List<string> Addrs)> Decode(byte[] body)
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Array)
            {
                throw new JsonException($"json: cannot unmarshal {root.ValueKind} into Go value of type []libp2p.BootstrapPeerAddrInfo");
            }

            var result = new List<(string, List<string>)>();
            foreach (var item in root.EnumerateArray().Take(3))
            {
                string id = string.Empty;
                var addrs = new List<string>();
                foreach (var property in item.EnumerateObject())
                {
                    if (property.Name.Equals("ID", StringComparison.OrdinalIgnoreCase))
                    {
                        id = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()! : throw new JsonException("ID is not a string");
                    }
                    else if (property.Name.Equals("Addrs", StringComparison.OrdinalIgnoreCase))
                    {
                        addrs = Strings(property.Value);
                    }
                }

                if (id.Length > 0 && !PeerId.TryParse(id, out _))
                {
                    throw new JsonException($"failed to parse peer ID: {id}");
                }

                result.Add((id, addrs));
            }

            return result;
        }

        public static List<string> Strings(JsonElement value)
        {
            if (value.ValueKind == JsonValueKind.Null)
            {
                return [];
            }

            if (value.ValueKind != JsonValueKind.Array)
            {
                throw new JsonException("Addrs is not a list");
            }

            var result = new List<string>();
            foreach (var item in value.EnumerateArray())
            {
                string text = item.ValueKind == JsonValueKind.String ? item.GetString()! : throw new JsonException("an address is not a string");
                if (!Multiaddr.TryParse(text, out _, out string? error))
                {
                    throw new JsonException($"bad multiaddr {text}: {error}");
                }

                result.Add(text);
            }

            return result;
        }
    }

    /// <summary>A loopback HTTP server answering fixed JSON documents by path.</summary>
    private sealed class JsonServer(WebApplication app, string baseUrl) : IAsyncDisposable
    {
        public string BaseUrl { get; } = baseUrl;

        public static async Task<JsonServer> StartAsync(Dictionary<string, string> documents)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            app.Run(context =>
            {
                if (!documents.TryGetValue(context.Request.Path.Value ?? string.Empty, out string? body))
                {
                    context.Response.StatusCode = 404;
                    return Task.CompletedTask;
                }

                return context.Response.WriteAsync(body);
            });
            await app.StartAsync();
            return new JsonServer(app, $"http://127.0.0.1:{app.BoundPort()}");
        }

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
