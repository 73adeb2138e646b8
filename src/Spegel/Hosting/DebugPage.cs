using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using Spegel.Containerd;
using Spegel.Telemetry;

namespace Spegel.Hosting;

/// <summary>
/// The debug web UI (SPEC §8), rendered on the server with every asset inline: no CDN, works with no internet.
/// Shows the node, its peers, what it advertises, the last mirror success, the recent requests with where each blob
/// came from and how fast, and a "measure image pull" form.
/// </summary>
internal static class DebugPage
{
    private static readonly HtmlEncoder Html = HtmlEncoder.Default;

    /// <param name="measureToken">The node's <see cref="DebugToken"/>, which the measure form posts.</param>
    public static string Render(DebugSources sources, string version, string measureToken)
    {
        var sb = new StringBuilder();
        sb.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Spegel debug</title><style>")
          .Append("body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}")
          .Append("table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}th{background:#f3f3f3}")
          .Append(".ok{color:#15803d}.bad{color:#b91c1c}.warn{color:#a16207}code{font-size:.85rem}input{width:32rem;padding:.3rem}button{padding:.3rem .8rem}")
          .Append("</style></head><body>");
        sb.Append("<h1>Spegel for .NET <small>").Append(Html.Encode(version)).Append("</small></h1>");

        var router = sources.Router;
        sb.Append("<h2>Node</h2><table id=\"node\">");
        Row(sb, "Ready", sources.Ready ? "<span class=\"ok\">yes</span>" : "<span class=\"bad\">no</span>", raw: true);
        Row(sb, "Peer ID", router?.Id ?? "(no router)");
        Row(sb, "Addresses", router is null ? string.Empty : string.Join(", ", router.Addresses));
        Row(sb, "Tracking containerd", sources.Advertiser?.Connected == true ? "connected" : "disconnected");
        var last = sources.Stats.LastSuccess;
        Row(sb, "Last mirror success", last is null ? "never" : $"{last.Value:yyyy-MM-dd HH:mm:ss} UTC ({Ago(last.Value)})");
        Row(sb, "Mirrored / not found / aborted", $"{sources.Stats.Served} / {sources.Stats.NotFound} / {sources.Stats.Aborted}");
        Row(sb, "Bytes from peers", Size(sources.Stats.BytesFromPeers));
        Row(sb, "Peer failures / resumes / hedges / digest mismatches", $"{sources.Stats.PeerFailures} / {sources.Stats.Resumes} / {sources.Stats.Hedges} / {sources.Stats.DigestMismatches}");
        sb.Append("</table>");

        if (sources.Preflight.Count > 0)
        {
            sb.Append("<h2>containerd configuration</h2><ul id=\"preflight\">");
            foreach (var finding in sources.Preflight)
            {
                sb.Append("<li class=\"").Append(finding.Severity == PreflightSeverity.Error ? "bad" : "warn").Append("\"><b>")
                  .Append(finding.Severity == PreflightSeverity.Error ? "error" : "warning").Append("</b> <code>")
                  .Append(Html.Encode(finding.Check)).Append("</code>: ").Append(Html.Encode(finding.Message)).Append("</li>");
            }

            sb.Append("</ul>");
        }

        sb.Append("<h2>Peers</h2><table id=\"peers\"><tr><th>peer</th><th>connected</th><th>addresses</th></tr>");
        foreach (var peer in router?.Peers ?? [])
        {
            sb.Append("<tr><td><code>").Append(Html.Encode(peer.Id)).Append("</code></td><td>")
              .Append(peer.Connected ? "yes" : "no").Append("</td><td>")
              .Append(Html.Encode(string.Join(", ", peer.Addresses))).Append("</td></tr>");
        }

        sb.Append("</table>");

        var keys = sources.Advertiser?.AdvertisedKeys ?? [];
        var tags = keys.Where(k => !k.StartsWith("sha", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        sb.Append("<h2>Advertised</h2><p id=\"advertised\">").Append(tags.Count).Append(" images, ")
          .Append(keys.Count - tags.Count).Append(" blobs (").Append(keys.Count).Append(" keys)</p><ul id=\"images\">");
        foreach (string tag in tags.Take(200))
        {
            sb.Append("<li><code>").Append(Html.Encode(tag)).Append("</code></li>");
        }

        sb.Append("</ul>");

        sb.Append("<h2>Recent requests</h2><table id=\"recent\"><tr><th>time</th><th>request</th><th>reference</th><th>asked by</th><th>answered from</th><th>status</th><th>size</th><th>time</th><th>rate</th></tr>");
        foreach (var request in sources.Stats.Instruments.Recent.Snapshot().Take(100))
        {
            string source = request.Source switch
            {
                "local" => "local store",
                "miss" => "miss (404)",
                "" => "-",
                _ => request.Source,
            };
            sb.Append("<tr><td>").Append(request.At.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture))
              .Append("</td><td>").Append(Html.Encode($"{request.Method} {request.Handler}"))
              .Append("</td><td><code>").Append(Html.Encode(Short(request.Reference)))
              .Append("</code></td><td>").Append(Html.Encode(request.Client))
              .Append("</td><td>").Append(Html.Encode(source))
              .Append("</td><td>").Append(request.Status)
              .Append("</td><td>").Append(Size(request.Bytes))
              .Append("</td><td>").Append(request.Duration.TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture)).Append(" ms")
              .Append("</td><td>").Append(request.MiBPerSecond is { } rate ? rate.ToString("0", CultureInfo.InvariantCulture) + " MiB/s" : string.Empty)
              .Append("</td></tr>");
        }

        sb.Append("</table>");
        sb.Append("<h2>Measure image pull</h2><form id=\"measure\" method=\"post\" action=\"measure\"><input type=\"hidden\" name=\"token\" value=\"")
          .Append(Html.Encode(measureToken)).Append("\"><input name=\"image\" placeholder=\"docker.io/library/nginx:1.27\"> <button type=\"submit\">Measure</button></form><div id=\"result\"></div>");
        sb.Append("<script>").Append(Script).Append("</script></body></html>");
        return sb.ToString();
    }

    public static string RenderMeasurement(string image, IReadOnlyList<MeasuredBlob> blobs, TimeSpan total)
    {
        var sb = new StringBuilder();
        long bytes = blobs.Sum(b => b.Bytes);
        sb.Append("<p id=\"measure-summary\">Pulled <code>").Append(Html.Encode(image)).Append("</code>: ")
          .Append(blobs.Count).Append(" requests, ").Append(Size(bytes)).Append(" in ")
          .Append(total.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture)).Append(" s</p>");
        sb.Append("<table id=\"measure-table\"><tr><th>kind</th><th>digest</th><th>peers</th><th>first peer</th><th>status</th><th>size</th><th>time</th><th>rate</th></tr>");
        foreach (var blob in blobs)
        {
            sb.Append("<tr><td>").Append(blob.Kind).Append("</td><td><code>").Append(Html.Encode(Short(blob.Digest))).Append("</code></td><td>")
              .Append(blob.Peers).Append("</td><td>")
              .Append(blob.FirstPeer is { } first ? first.TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture) + " ms" : "-").Append("</td><td>")
              .Append(blob.Status).Append("</td><td>").Append(Size(blob.Bytes)).Append("</td><td>")
              .Append(blob.Duration.TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture)).Append(" ms</td><td>")
              .Append(blob.Bytes > 1024 * 1024 ? (blob.Bytes / blob.Duration.TotalSeconds / 1024 / 1024).ToString("0", CultureInfo.InvariantCulture) + " MiB/s" : string.Empty)
              .Append("</td></tr>");
        }

        return sb.Append("</table>").ToString();
    }

    public static string RenderError(string message) => $"<p id=\"measure-error\" class=\"bad\">{Html.Encode(message)}</p>";

    // The measurement is a POST with the page's token. "?measure=IMAGE" only fills the field: a link must not start a
    // pull. It also runs it when the URL's fragment carries this node's token ("#token=…"), which only someone who
    // could already read this page knows (the fragment is never sent to a server); it is then removed from the URL.
    private const string Script = """
        const form = document.getElementById('measure');
        const result = document.getElementById('result');
        async function measure() {
          result.textContent = 'Measuring ' + form.image.value + ' …';
          try {
            const response = await fetch('measure', { method: 'POST', headers: { 'X-Spegel-Debug-Token': form.token.value }, body: new URLSearchParams({ image: form.image.value }) });
            result.innerHTML = await response.text();
          } catch (e) {
            result.textContent = 'The measurement failed: ' + e;
          }
        }
        form.addEventListener('submit', e => { e.preventDefault(); measure(); });
        const preset = new URLSearchParams(location.search).get('measure');
        const presented = new URLSearchParams(location.hash.slice(1)).get('token');
        if (presented) { history.replaceState(null, '', location.pathname + location.search); }
        if (preset) { form.image.value = preset; if (presented === form.token.value) { measure(); } }
        """;

    private static void Row(StringBuilder sb, string name, string value, bool raw = false) =>
        sb.Append("<tr><th>").Append(Html.Encode(name)).Append("</th><td>").Append(raw ? value : Html.Encode(value)).Append("</td></tr>");

    private static string Short(string reference) => reference.StartsWith("sha256:", StringComparison.Ordinal) && reference.Length > 19 ? reference[..19] + "…" : reference;

    private static string Ago(DateTimeOffset when)
    {
        var age = DateTimeOffset.UtcNow - when;
        return age.TotalSeconds < 120 ? $"{age.TotalSeconds:0} s ago" : $"{age.TotalMinutes:0} min ago";
    }

    public static string Size(long bytes) => bytes switch
    {
        >= 1024 * 1024 => (bytes / 1024.0 / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        >= 1024 => (bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };
}
