using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Serialization;
using Spegel.Hosting;
using Spegel.Libp2p.Primitives;

namespace Spegel.Routing.Bootstrap;

/// <summary>One entry of a <c>GET /id</c> answer: <c>{"ID":"12D3KooW…","Addrs":["/ip4/10.0.0.5/tcp/5001"]}</c>.</summary>
internal sealed record BootstrapPeerInfo([property: JsonPropertyName("ID")] string? Id, [property: JsonPropertyName("Addrs")] IReadOnlyList<string>? Addrs);

/// <summary>
/// <c>--bootstrap-kind=http</c>: fetches a peer's <c>/id</c> and takes its first three entries. With
/// <c>--http-bootstrap-cert-dir</c>, <c>ca.crt</c> is the only trusted root and <c>tls.crt</c>/<c>tls.key</c>
/// (both or neither) are the client certificate; TLS 1.2 at least.
/// </summary>
internal sealed class HttpBootstrapper : IBootstrapper, IDisposable
{
    private readonly Uri _url;
    private readonly HttpClient _http;

    public HttpBootstrapper(Uri url, string certDir)
    {
        _url = url;
        var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5) };
        if (!string.IsNullOrEmpty(certDir))
        {
            ConfigureTls(handler, certDir);
        }

        _http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
    }

    public async Task<IReadOnlyList<Multiaddr>> GetAsync(CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(_url, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"GET {_url} answered {(int)response.StatusCode}");
        }

        var peers = await response.Content.ReadFromJsonSafeAsync(cancellationToken).ConfigureAwait(false);
        return Parse(peers.Take(3));
    }

    /// <summary>Turns /id entries into dialable addresses (with /p2p/ when the ID is given).</summary>
    public static IReadOnlyList<Multiaddr> Parse(IEnumerable<BootstrapPeerInfo> peers)
    {
        var result = new List<Multiaddr>();
        foreach (var peer in peers)
        {
            PeerId? id = string.IsNullOrEmpty(peer.Id) ? null : PeerId.TryParse(peer.Id, out var parsed) ? parsed : null;
            if (!string.IsNullOrEmpty(peer.Id) && id is null)
            {
                continue;
            }

            foreach (string text in peer.Addrs ?? [])
            {
                if (Multiaddr.TryParse(text, out var address, out _))
                {
                    result.Add(id is null ? address! : address!.WithPeerId(id));
                }
            }
        }

        return result;
    }

    public void Dispose() => _http.Dispose();

    private static void ConfigureTls(SocketsHttpHandler handler, string certDir)
    {
        string ca = Path.Combine(certDir, "ca.crt");
        string cert = Path.Combine(certDir, "tls.crt");
        string key = Path.Combine(certDir, "tls.key");
        var options = new SslClientAuthenticationOptions { EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13 };
        if (File.Exists(ca))
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(ca);
            options.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
                {
                    return false;
                }

                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(new X509Certificate2(certificate));
            };
        }

        if (File.Exists(cert) != File.Exists(key))
        {
            throw new InvalidOperationException($"{certDir} must hold both tls.crt and tls.key, or neither");
        }

        if (File.Exists(cert))
        {
            options.ClientCertificates = [X509Certificate2.CreateFromPemFile(cert, key)];
        }

        handler.SslOptions = options;
    }
}

internal static class BootstrapJson
{
    /// <summary>Reads a JSON array of peers, at most 1 MiB; anything else is an error naming the problem.</summary>
    public static async Task<IReadOnlyList<BootstrapPeerInfo>> ReadFromJsonSafeAsync(this HttpContent content, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength > 1024 * 1024)
        {
            throw new InvalidDataException("the /id answer is larger than 1 MiB");
        }

        byte[] body = await content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return JsonSerializer.Deserialize(body, SpegelJsonContext.Default.ListBootstrapPeerInfo) ?? [];
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"the /id answer is not a JSON list of peers: {ex.Message}", ex);
        }
    }
}
