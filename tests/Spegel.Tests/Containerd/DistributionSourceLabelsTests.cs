using System.Text.RegularExpressions;
using Spegel.Containerd;
using Spegel.Oci;

namespace Spegel.Tests.Containerd;

/// <summary>containerd's distribution-source labels, read into the sources the content policy judges.</summary>
public sealed class DistributionSourceLabelsTests
{
    [Fact]
    public void EachSourceLabelIsARegistryAndItsRepositoriesOtherLabelsAreIgnored()
    {
        var labels = new Dictionary<string, string>
        {
            ["containerd.io/gc.ref.content.l.0"] = "sha256:" + new string('a', 64),
            ["containerd.io/distribution.source.docker.io"] = "library/nginx,library/app",
            ["containerd.io/distribution.source.10.0.0.5"] = "team/tool",
            ["containerd.io/distribution.sourcex"] = "not/a-source",
        };

        var sources = DistributionSourceLabels.Parse(labels);

        Assert.Equal(2, sources.Count);
        Assert.Equal("docker.io", sources[0].Registry);
        Assert.Equal(["library/nginx", "library/app"], sources[0].Repositories);
        Assert.Equal("10.0.0.5", sources[1].Registry);
        Assert.Equal(["team/tool"], sources[1].Repositories);
    }

    [Fact]
    public void NoSourceLabelMeansNoSource() =>
        Assert.Empty(DistributionSourceLabels.Parse(new Dictionary<string, string> { ["containerd.io/uncompressed"] = "sha256:" + new string('b', 64) }));

    [Fact]
    public void TheContentPolicyJudgesTheSourcesAsItJudgedTheLabels()
    {
        Assert.True(RegistryUrl.TryParse("https://docker.io", false, out var dockerHub, out _));
        var onlyDockerHub = new ContentPolicy([dockerHub!], [new Regex("/library/blocked$")], resolveLatestTag: true);

        Assert.True(onlyDockerHub.Allows(Sources(("containerd.io/distribution.source.docker.io", "library/app"))));
        Assert.False(onlyDockerHub.Allows(Sources(("containerd.io/distribution.source.ghcr.io", "org/tool"))));
        Assert.False(onlyDockerHub.Allows(Sources(("containerd.io/distribution.source.docker.io", "library/blocked"))));
        Assert.True(onlyDockerHub.Allows(Sources(("containerd.io/distribution.source.docker.io", "library/blocked,library/app"))));
        Assert.False(onlyDockerHub.Allows(Sources())); // no known source: only when nothing is restricted
        Assert.True(ContentPolicy.AllowAll.Allows(Sources()));
        Assert.True(ContentPolicy.AllowAll.Allows(Sources(("containerd.io/distribution.source.ghcr.io", "org/tool"))));
    }

    private static IReadOnlyList<DistributionSource> Sources(params (string Key, string Value)[] labels) =>
        DistributionSourceLabels.Parse(labels.ToDictionary(l => l.Key, l => l.Value));
}
