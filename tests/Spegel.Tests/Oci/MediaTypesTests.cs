using System.Text;
using Spegel.Oci;

namespace Spegel.Tests.Oci;

public sealed class MediaTypesTests
{
    [Theory]
    [InlineData("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"config\":{}}", MediaTypes.DockerManifest)]
    [InlineData("{\"schemaVersion\":2,\"manifests\":[]}", MediaTypes.OciIndex)]
    [InlineData("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\"},\"layers\":[]}", MediaTypes.OciManifest)]
    [InlineData("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\"}}", MediaTypes.OciConfig)]
    [InlineData("{\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\"},\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}", MediaTypes.OciManifest)]
    [InlineData("{\"layers\":[{\"mediaType\":\"inner\"}],\"config\":{}}", MediaTypes.OciManifest)]
    public void SniffsTheManifestType(string json, string expected) =>
        Assert.Equal(expected, MediaTypes.Sniff(Encoding.UTF8.GetBytes(json)));

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("{}")]
    [InlineData("not json")]
    [InlineData("{\"architecture\":\"amd64\"}")]
    [InlineData("{\"mediaType\":")]
    [InlineData("{\"mediaType\":5}")]
    public void ReturnsNullForWhatIsNotAManifest(string json) =>
        Assert.Null(MediaTypes.Sniff(Encoding.UTF8.GetBytes(json)));

    [Fact]
    public void SurvivesDeepNestingAndGarbage()
    {
        string deep = "{\"a\":" + new string('[', 10_000) + new string(']', 10_000) + "}";
        Assert.Null(MediaTypes.Sniff(Encoding.UTF8.GetBytes(deep)));
        var random = new Random(1);
        for (int i = 0; i < 2000; i++)
        {
            byte[] bytes = new byte[random.Next(0, 64)];
            random.NextBytes(bytes);
            _ = MediaTypes.Sniff(bytes);
        }
    }
}
