using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Spegel.Registry;

/// <summary>Writes OCI distribution error responses: <c>{"errors":[{"code":…,"message":…}]}</c>.</summary>
internal static class OciError
{
    public static byte[] Body(string code, string message)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("errors");
            json.WriteStartObject();
            json.WriteString("code", code);
            json.WriteString("message", message);
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>Sends the error; for HEAD only the headers (with the length GET's body would have).</summary>
    public static Task WriteAsync(HttpContext context, int status, string code, string message)
    {
        var response = context.Response;
        byte[] body = Body(code, message);
        response.StatusCode = status;
        response.ContentType = "application/json";
        response.ContentLength = body.Length;
        RequestLogFeature.Of(context).Error = $"{code}: {message}";
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }

    public static string Describe(byte[] body) => Encoding.UTF8.GetString(body);
}
