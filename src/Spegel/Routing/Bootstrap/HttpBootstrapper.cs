using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Spegel.Libp2p.Primitives;

namespace Spegel.Routing.Bootstrap;

/// <summary>
/// <c>--bootstrap-kind=http</c>: fetches a peer's bootstrap document — <c>--http-bootstrap-url</c> as given (Spegel
/// main) or <c>--http-bootstrap-peer</c> + <c>/id</c> (Spegel v0.7.x) — and reads either shape whichever flag named
/// it: a JSON list of peers (main; the first three are taken) or one peer object (v0.7.x). With
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
        using var response = await _http.GetAsync(_url, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"GET {_url} answered {(int)response.StatusCode}");
        }

        var peers = await response.Content.ReadPeersAsync(cancellationToken).ConfigureAwait(false);
        return Parse(peers.Take(3));
    }

    /// <summary>
    /// The URL Spegel v0.7.x fetches for <c>--http-bootstrap-peer</c>: the text with <c>/id</c> appended, as is
    /// (no slash is added or removed); null when that is not an absolute http(s) URL.
    /// </summary>
    public static Uri? PeerUrl(string peer) =>
        Uri.TryCreate(peer + "/id", UriKind.Absolute, out var url) && url.Scheme is "http" or "https" ? url : null;

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
    private const int MaxBytes = 1024 * 1024;

    /// <summary>Reads an <c>/id</c> answer of at most 1 MiB, in either shape; anything else is an error naming the problem.</summary>
    public static async Task<IReadOnlyList<BootstrapPeerInfo>> ReadPeersAsync(this HttpContent content, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength > MaxBytes)
        {
            throw new InvalidDataException("the /id answer is larger than 1 MiB");
        }

        await using var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var body = new MemoryStream();
        byte[] buffer = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (body.Length + read > MaxBytes)
            {
                throw new InvalidDataException("the /id answer is larger than 1 MiB");
            }

            body.Write(buffer, 0, read);
        }

        return ParsePeers(body.ToArray());
    }

    /// <summary>
    /// <c>[{"ID":…,"Addrs":[…]},…]</c> (Spegel main) or <c>{"ID":…,"Addrs":[…]}</c> (Spegel v0.7.x). Property names
    /// match in any case, as Go's decoder matches them; an empty or missing ID means "learn it when dialing".
    /// </summary>
    /// <exception cref="InvalidDataException">Not JSON, or neither shape.</exception>
    public static IReadOnlyList<BootstrapPeerInfo> ParsePeers(ReadOnlyMemory<byte> body)
    {
        try
        {
            using var document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 16 });
            var root = document.RootElement;
            return root.ValueKind switch
            {
                JsonValueKind.Array => root.EnumerateArray().Select(Peer).ToList(),
                JsonValueKind.Object => [Peer(root)],
                _ => throw new InvalidDataException($"the /id answer is a JSON {root.ValueKind.ToString().ToLowerInvariant()}: expected a list of peers or one peer object"),
            };
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"the /id answer is not JSON: {ex.Message}", ex);
        }
    }

    private static BootstrapPeerInfo Peer(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"an /id entry is a JSON {element.ValueKind.ToString().ToLowerInvariant()}: expected an object with ID and Addrs");
        }

        string? id = null;
        List<string>? addresses = null;
        foreach (var property in element.EnumerateObject())
        {
            if (property.Name.Equals("ID", StringComparison.OrdinalIgnoreCase) && property.Value.ValueKind == JsonValueKind.String)
            {
                id = property.Value.GetString();
            }
            else if (property.Name.Equals("Addrs", StringComparison.OrdinalIgnoreCase) && property.Value.ValueKind == JsonValueKind.Array)
            {
                addresses = property.Value.EnumerateArray().Where(a => a.ValueKind == JsonValueKind.String).Select(a => a.GetString()!).ToList();
            }
        }

        return new BootstrapPeerInfo(id, addresses);
    }
}
