namespace Spegel.Telemetry;

/// <summary>
/// The <c>handler</c> label of <c>http_request_duration_seconds</c>, <c>http_response_size_bytes</c> and
/// <c>http_requests_inflight</c>: Spegel's route patterns as it names them (<c>pkg/httpx/mux.go</c>: the pattern's
/// path, a trailing <c>/</c> written <c>/*</c>), so dashboards and alerts on <c>handler="/v2/*"</c> keep working.
/// A fixed set, never request text. Only GET and HEAD are measured (Spegel's routes are GET patterns; its mux answers
/// other methods without measuring them), so the <c>method</c> label is fixed too (plus POST on the debug page's measure
/// route); a path no route matches is not measured either.
/// </summary>
internal static class HttpHandlerLabel
{
    public const string Registry = "/v2/*";
    public const string Readyz = "/readyz";
    public const string Livez = "/livez";

    /// <summary>Our alias of <c>/readyz</c> (Spegel v0.3's probe path), labelled as its own route.</summary>
    public const string Healthz = "/healthz";
    public const string DebugWeb = "/debug/web/*";
    public const string DebugWebMeasure = "/debug/web/measure";

    /// <summary>The label of a request to the registry address, by its method and path (without the query), or null.</summary>
    public static string? ForRegistry(string method, string path) => !IsMeasuredMethod(method) ? null : path switch
    {
        "/readyz" => Readyz,
        "/livez" => Livez,
        "/healthz" => Healthz,
        "/v2" => Registry,
        _ when path.StartsWith("/v2/", StringComparison.Ordinal) => Registry,
        _ => null,
    };

    /// <summary>The label of a request to the metrics address (the debug web UI's routes; <c>/metrics</c> is not measured, as in Spegel).</summary>
    /// <remarks>The measure route is a POST here (Spegel's is a GET; ours pulls an image only on a POST with a token), so it is measured with that method too.</remarks>
    public static string? ForMetrics(string method, string path) => path switch
    {
        "/debug/web/measure" when IsMeasuredMethod(method) || method == "POST" => DebugWebMeasure,
        _ when IsMeasuredMethod(method) && path.StartsWith("/debug/web/", StringComparison.Ordinal) => DebugWeb,
        _ => null,
    };

    private static bool IsMeasuredMethod(string method) => method is "GET" or "HEAD";
}
