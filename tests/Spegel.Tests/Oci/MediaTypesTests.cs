using System.Text;
using Spegel.Oci;

namespace Spegel.Tests.Oci;

public sealed class MediaTypesTests
{
    /// <summary>Spegel's FingerprintMediaType cases (pkg/oci/oci_test.go) and the rules behind them.</summary>
    [Theory]
    [InlineData("{}", MediaTypes.EmptyJson)]
    [InlineData("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\"},\"layers\":[{\"size\":1}]}", MediaTypes.OciManifest)]
    [InlineData("{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"d\"},{}]}", MediaTypes.OciIndex)]
    [InlineData("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\"},\"config\":{}}", MediaTypes.OciConfig)]
    [InlineData("{\"mediaType\":\"a/b\",\"schemaVersion\":2,\"broken\":", "a/b")]
    [InlineData("{\"schemaVersion\":1,\"mediaType\":\"a/b\",\"manifests\":[]}", MediaTypes.OciIndex)]
    [InlineData("{\"schemaVersion\":2,\"mediaType\":\"\",\"config\":{},\"layers\":null}", MediaTypes.OciManifest)]
    [InlineData("\u001f\u008b\u0008\u0000", MediaTypes.OctetStream)]
    [InlineData("not json", MediaTypes.OctetStream)]
    public void FingerprintsBlobsAsSpegelDoes(string content, string expected) =>
        Assert.Equal(expected, MediaTypes.Fingerprint(Encoding.Latin1.GetBytes(content)));

    /// <summary>Where Spegel's fingerprint fails (its caller then treats the blob as absent); ours answers null.</summary>
    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData(" { } ")]
    [InlineData("{ }")]
    [InlineData("{}\n")]
    [InlineData("{\"unexpected\":\"value\"}")]
    [InlineData("[]")]
    [InlineData("123")]
    [InlineData("\"text\"")]
    [InlineData("{\"manifests\":[1,2]}")]
    [InlineData("{\"manifests\":[],\"manifests\":[]}")]
    [InlineData("{\"config\":\"x\",\"layers\":[]}")]
    [InlineData("{\"architecture\":1,\"os\":\"linux\",\"rootfs\":{}}")]
    [InlineData("{\"schemaVersion\":2.0,\"mediaType\":\"a/b\"}")]
    [InlineData("{\"rootfs\":")]
    public void FingerprintIsNullWhereSpegelCannotTell(string content) =>
        Assert.Null(MediaTypes.Fingerprint(Encoding.UTF8.GetBytes(content)));

    [Fact]
    public void FingerprintSurvivesDeepNestingAndGarbage()
    {
        string deep = "{\"a\":" + new string('[', 10_000) + new string(']', 10_000) + "}";
        Assert.Null(MediaTypes.Fingerprint(Encoding.UTF8.GetBytes(deep)));
        var random = new Random(2);
        for (int i = 0; i < 5000; i++)
        {
            byte[] bytes = new byte[random.Next(0, 96)];
            random.NextBytes(bytes);
            if (bytes.Length > 0 && random.Next(2) == 0)
            {
                bytes[0] = (byte)'{';
            }

            _ = MediaTypes.Fingerprint(bytes);
        }
    }
}
