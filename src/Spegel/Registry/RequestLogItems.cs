namespace Spegel.Registry;

/// <summary>Keys of <c>HttpContext.Items</c> that handlers fill in for the request log.</summary>
internal static class RequestLogItems
{
    public const string Handler = "spegel.handler";
    public const string Error = "spegel.error";
    public const string Source = "spegel.source";

    /// <summary>Body bytes actually sent (a <see cref="long"/>), when it may differ from Content-Length (aborted streams).</summary>
    public const string BytesSent = "spegel.bytes";
}
