using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Spegel.Hosting;
using Spegel.Mirroring;
using Spegel.Oci;
using Spegel.Registry;
using Spegel.Tests.Mirroring;

namespace Spegel.Tests.Registry;

/// <summary>
/// The Basic-auth secret used byte for byte as Spegel uses it (<c>pkg/httpx/userinfo.go</c>; v0.7.4's
/// <c>loadBasicAuth</c> is equivalent): nothing trimmed, either file alone enough, missing = empty. One header value
/// goes into hosts.toml and is expected by the registry (from containerd, and from stock Spegel peers, which send it);
/// our nodes never send it to peers: they send a proof derived from it (<see cref="PeerProof"/>).
/// </summary>
public sealed class BasicAuthTests
{
    [Theory]
    [InlineData("hello", "world", "Basic aGVsbG86d29ybGQ=")]
    [InlineData("hello\n", "world\n", "Basic aGVsbG8KOndvcmxkCg==")]
    [InlineData("hello", null, "Basic aGVsbG86")]
    [InlineData("hello", "", "Basic aGVsbG86")]
    [InlineData(null, "world", "Basic Ondvcmxk")]
    [InlineData("", "world\n", "Basic OndvcmxkCg==")]
    [InlineData("", "", null)]
    [InlineData(null, null, null)]
    public void TheHeaderIsMadeFromTheFileBytes(string? username, string? password, string? expected)
    {
        using var temp = new TempFolder();
        if (username is not null)
        {
            temp.Write("username", username);
        }

        if (password is not null)
        {
            temp.Write("password", password);
        }

        var auth = BasicAuth.Load(temp.Path);
        Assert.Equal(expected, auth.HeaderValue);
        Assert.Equal(expected is not null, auth.Enabled);
    }

    [Fact]
    public void AMissingFolderIsNoAuthAndAnUnreadableFileIsAnError()
    {
        using var temp = new TempFolder();
        Assert.False(BasicAuth.Load(temp.Combine("missing")).Enabled);

        Directory.CreateDirectory(temp.Combine("unreadable", "username"));
        var ex = Assert.Throws<InvalidOperationException>(() => BasicAuth.Load(temp.Combine("unreadable")));
        Assert.Contains("username", ex.Message, StringComparison.Ordinal);
        Assert.Contains("--basic-auth-dir", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NonUtf8BytesAreKeptAsBytes()
    {
        using var temp = new TempFolder();
        File.WriteAllBytes(temp.Combine("username"), [0xff, 0xfe, (byte)'u']);
        File.WriteAllBytes(temp.Combine("password"), [0x80]);
        Assert.Equal("Basic " + Convert.ToBase64String([0xff, 0xfe, (byte)'u', (byte)':', 0x80]), BasicAuth.Load(temp.Path).HeaderValue);
    }

    [Theory]
    [InlineData("hello\n", "world\n", "hello\n:world\n", "hello:world")]
    [InlineData("hello", null, "hello:", "hello:x")]
    [InlineData(null, "world", ":world", "world:")]
    public async Task TheRegistryExpectsExactlyThoseBytes(string? username, string? password, string accepted, string rejected)
    {
        using var temp = new TempFolder();
        if (username is not null)
        {
            temp.Write("username", username);
        }

        if (password is not null)
        {
            temp.Write("password", password);
        }

        var store = new MemoryContentStore();
        var digest = store.Add(Encoding.UTF8.GetBytes("blob"));
        await using var server = await RegistryServer.StartAsync(store, BasicAuth.Load(temp.Path));
        string target = $"/v2/x/blobs/{digest}";
        Assert.Equal(200, (await RawHttp.GetAsync(server.Port, target, "GET", $"Authorization: Basic {B64(accepted)}\r\n")).Status);
        Assert.Equal(200, (await RawHttp.GetAsync(server.Port, target, "GET", $"Authorization: basic {B64(accepted)}\r\n")).Status);
        Assert.Equal(401, (await RawHttp.GetAsync(server.Port, target, "GET", $"Authorization: Basic {B64(rejected)}\r\n")).Status);
        Assert.Equal(401, (await RawHttp.GetAsync(server.Port, target)).Status);
        Assert.Equal(401, (await RawHttp.GetAsync(server.Port, target, "GET", $"Authorization: Basic {B64(accepted.Replace(":", string.Empty, StringComparison.Ordinal))}\r\n")).Status);
    }

    [Fact]
    public async Task PeersAreNeverSentContainerdsCredentialsButAProofDerivedFromThem()
    {
        using var temp = new TempFolder();
        temp.Write("username", "hello\n");
        temp.Write("password", "world\n");
        var auth = BasicAuth.Load(temp.Path);

        // A peer on 127.0.0.2 that records what it is sent, on the port our registry uses (peers share it, so the port
        // must be known before either listens: one below the ephemeral range). Any address a DHT record names gets this.
        int port = Spegel.Testbed.Network.FreePort();
        string? seen = null, proof = null, host = null;
        var peerBuilder = WebApplication.CreateSlimBuilder();
        peerBuilder.Logging.ClearProviders();
        peerBuilder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Parse("127.0.0.2"), port));
        await using var peer = peerBuilder.Build();
        peer.Run(context =>
        {
            seen = context.Request.Headers.Authorization;
            proof = context.Request.Headers[PeerProtocol.ProofHeader];
            host = context.Request.Headers.Host;
            context.Response.StatusCode = 404;
            return Task.CompletedTask;
        });
        await peer.StartAsync();

        var settings = RegistryServer.Settings("--registry-addr", $"127.0.0.1:{port}", "--bootstrap-kind", "static", "--log-level", "ERROR");
        var peerKey = MirrorSettings.PeerKey(settings, auth);
        var options = MirrorSettings.From(settings, peerKey);
        var router = new StaticRouter(IPAddress.Parse("127.0.0.2"));
        using var http = PeerHttp.Create(options.ConnectTimeout);
        var stats = new MirrorStats();
        var services = new RegistryServices(new MemoryContentStore(), new NodeReadiness(router, null), auth, ContentPolicy.AllowAll, PeerMirror.Create(router, http, options, stats), stats);
        await using var app = RegistryApp.Build(settings, services);
        await app.StartAsync();

        string target = "/v2/x/blobs/sha256:" + new string('1', 64) + "?ns=docker.io";
        var response = await RawHttp.GetAsync(port, target, "GET", "Authorization: Basic aGVsbG8KOndvcmxkCg==\r\n");
        Assert.Equal(404, response.Status);
        Assert.Null(seen);
        Assert.Equal($"127.0.0.2:{port}", host);
        var parsed = PeerProof.Parse(proof);
        Assert.NotNull(parsed);
        Assert.True(parsed.Value.Verify(PeerKey.FromBasicAuth("Basic aGVsbG8KOndvcmxkCg=="), "GET", host!, target));
        Assert.False(parsed.Value.Verify(PeerKey.FromBasicAuth("Basic aGVsbG86d29ybGQ="), "GET", host!, target));
        Assert.DoesNotContain("hello", proof, StringComparison.Ordinal);
        await app.StopAsync();
        await peer.StopAsync();
    }

    private static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));
}
