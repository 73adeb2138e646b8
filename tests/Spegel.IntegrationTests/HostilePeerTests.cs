using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Transport;
using Spegel.Oci;
using Spegel.Routing;
using Spegel.Routing.Bootstrap;
using Spegel.Testbed;

namespace Spegel.IntegrationTests;

/// <summary>
/// A malicious DHT member against a real node (A2 and A3 of the security audit, B7 reproduced with real parts): a
/// libp2p peer on 127.0.0.2 (our own DHT code, as any member can run) joins the node's DHT and advertises a popular tag
/// and the digests of its own image, and a registry on 127.0.0.2 serves that image under the tag. containerd pulls
/// the tag through <c>spegel registry</c> with Basic auth, as the chart configures it.
/// </summary>
public sealed class HostilePeerTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("sp-hostile-").FullName;
    private static readonly IPAddress AttackerAddress = IPAddress.Parse("127.0.0.2");

    public Task InitializeAsync() => Task.CompletedTask;

    [Fact]
    public async Task AMemberAdvertisingAPopularTagNeitherHijacksItNorSeesTheCredentials()
    {
        Tools.Require(Tools.Containerd, Tools.Ctr, Tools.Registry, Tools.Skopeo);
        var layout = new OciLayout(Path.Combine(_root, "layout"));
        var popular = TestImages.BuildImage(layout, "library/nginx", "1.27", [4096, 8192], seed: 11);
        var evil = TestImages.BuildImage(layout, "library/nginx-evil", "1", [4096], seed: 77);
        string popularDigest = ManifestDigest(layout, popular);
        string evilDigest = ManifestDigest(layout, evil);
        await using var upstream = await RegistryNode.StartAsync(Path.Combine(_root, "upstream"));
        await TestImages.PushAsync(layout, popular, upstream.Address);

        string secret = Path.Combine(_root, "basic-auth");
        Directory.CreateDirectory(secret);
        await File.WriteAllTextAsync(Path.Combine(secret, "username"), "spegel");
        await File.WriteAllTextAsync(Path.Combine(secret, "password"), "cluster-secret");

        // The attacker: a DHT member and a registry on its address, at the port every node's registry uses.
        int registryPort = Network.FreePort();
        var seen = new List<(string Method, string Target, string? Authorization, string? Proof)>();
        await using var attackerRegistry = await StartAttackerRegistryAsync(layout, registryPort, evilDigest, seen);
        var attackerHost = new Libp2pHost(new HostOptions { Identity = PrivateKey.Generate(), Listen = [new IPEndPoint(AttackerAddress, 0)], AnnounceLoopback = true });
        await using var attacker = new P2PRouter(attackerHost, new Dht(attackerHost), new StaticBootstrapper([]), NullLogger<P2PRouter>.Instance);
        await attacker.StartAsync(CancellationToken.None);

        await using var node = await ContainerdNode.StartAsync(Path.Combine(_root, "node"));
        await using var spegel = await SpegelProcess.StartAsync(
            Path.Combine(_root, "spegel.log"),
            $"127.0.0.1:{registryPort}",
            [
                "--containerd-sock", node.Socket, "--containerd-content-path", node.ContentRoot, "--bootstrap-kind", "static",
                "--static-bootstrap-peers", attacker.Host.Addresses[0].WithPeerId(attacker.Host.Id).ToString(),
                "--basic-auth-dir", secret, "--log-level", "DEBUG",
            ],
            waitReady: true);
        (await SpegelProcess.RunAsync([
            "configuration", "--containerd-registry-config-path", node.HostsDir, "--mirror-targets", spegel.BaseAddress.ToString().TrimEnd('/'),
            "--mirrored-registries", $"http://{upstream.Address}", "--basic-auth-dir", secret,
        ])).EnsureSuccess("spegel configuration");

        // The member advertises the popular tag and every digest of its own image, once the node is in its table.
        await Network.WaitUntilAsync(() => Task.FromResult(attacker.Dht.HasPeers), TimeSpan.FromSeconds(30), "the node in the attacker's routing table", spegel.Daemon.ReadLog);
        string tagKey = DistributionPath.Parse("/v2/library/nginx/manifests/1.27", upstream.Address, out _)!.Key;
        await attacker.AdvertiseAsync([tagKey, evilDigest, .. EvilBlobs(layout, evilDigest)], CancellationToken.None);

        var pull = await node.PullAsync(popular.Reference(upstream.Address), timeout: TimeSpan.FromSeconds(90));
        Assert.True(pull.ExitCode == 0, pull.StandardError);

        // containerd holds the upstream's image under the tag, not the member's.
        string images = (await node.Ctr(["images", "ls"])).EnsureSuccess("ctr images ls").StandardOutput;
        Assert.Contains(popularDigest, images, StringComparison.Ordinal);
        Assert.DoesNotContain(evilDigest, images, StringComparison.Ordinal);
        Assert.DoesNotContain(evilDigest, await node.ContentDigestsAsync());

        // The member was asked for the tag (it could answer), and never saw containerd's credentials.
        List<(string Method, string Target, string? Authorization, string? Proof)> requests;
        lock (seen)
        {
            requests = [.. seen];
        }

        Assert.Contains(requests, r => r.Target.Contains("/manifests/1.27", StringComparison.Ordinal));
        Assert.All(requests, r => Assert.Null(r.Authorization));
        Assert.All(requests, r => Assert.NotNull(PeerProof.Parse(r.Proof)));

        // Asked directly, as containerd asks, the node does not serve the member's manifest for the tag.
        using var http = new HttpClient { BaseAddress = spegel.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String("spegel:cluster-secret"u8));
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/library/nginx/manifests/1.27?ns={upstream.Address}"));
        Assert.NotEqual(evilDigest, head.Headers.TryGetValues("Docker-Content-Digest", out var names) ? names.Single() : null);

        string metrics = await spegel.ScrapeAsync();
        Assert.True(SpegelProcess.Sample(metrics, "spegel_refused_total", ("reason", "tag_unconfirmed")) >= 1, metrics);
    }

    private static async Task<WebApplication> StartAttackerRegistryAsync(
        OciLayout layout, int port, string evilDigest, List<(string, string, string?, string?)> seen)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(AttackerAddress, port));
        var app = builder.Build();
        app.Run(async context =>
        {
            var request = context.Request;
            string target = request.Path + request.QueryString;
            lock (seen)
            {
                seen.Add((request.Method, target, request.Headers.Authorization.Count > 0 ? request.Headers.Authorization.ToString() : null,
                    request.Headers.TryGetValue(PeerProtocol.ProofHeader, out var proof) ? proof.ToString() : null));
            }

            string reference = request.Path.Value![(request.Path.Value!.LastIndexOf('/') + 1)..];
            string digest = reference.StartsWith("sha256:", StringComparison.Ordinal) ? reference : evilDigest; // any tag: ours
            string file = layout.BlobPath(digest);
            if (!File.Exists(file))
            {
                context.Response.StatusCode = 404;
                return;
            }

            byte[] body = await File.ReadAllBytesAsync(file);
            context.Response.ContentType = request.Path.Value.Contains("/manifests/", StringComparison.Ordinal) ? OciLayout.ManifestType : "application/octet-stream";
            context.Response.ContentLength = body.Length;
            context.Response.Headers["Docker-Content-Digest"] = digest;
            if (!HttpMethods.IsHead(request.Method))
            {
                await context.Response.Body.WriteAsync(body);
            }
        });
        await app.StartAsync();
        return app;
    }

    private static string ManifestDigest(OciLayout layout, TestImage image)
    {
        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(layout.Folder, "index.json")));
        return index.RootElement.GetProperty("manifests").EnumerateArray()
            .Single(m => m.GetProperty("annotations").GetProperty("org.opencontainers.image.ref.name").GetString() == image.LayoutTag)
            .GetProperty("digest").GetString()!;
    }

    private static IEnumerable<string> EvilBlobs(OciLayout layout, string manifestDigest)
    {
        using var manifest = JsonDocument.Parse(File.ReadAllText(layout.BlobPath(manifestDigest)));
        var root = manifest.RootElement;
        return [root.GetProperty("config").GetProperty("digest").GetString()!, .. root.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("digest").GetString()!)];
    }

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }

        return Task.CompletedTask;
    }
}
