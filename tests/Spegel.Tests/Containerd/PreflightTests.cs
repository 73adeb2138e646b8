using Spegel.Containerd;

namespace Spegel.Tests.Containerd;

public sealed class PreflightTests
{
    private const string Path = "/etc/containerd/certs.d";

    [Fact]
    public void AGoodConfigurationHasNoFindings() =>
        Assert.Empty(Preflight.Evaluate("1.7.13", new CriRegistrySettings(Path, false, null), Path));

    [Fact]
    public void MissingConfigPathSaysWhatToSet()
    {
        var finding = Assert.Single(Preflight.Evaluate("1.6.20~ds1", new CriRegistrySettings("", false, null), Path));
        Assert.Equal(PreflightSeverity.Error, finding.Severity);
        Assert.Contains("config_path = \"/etc/containerd/certs.d\" under [plugins.\"io.containerd.grpc.v1.cri\".registry]", finding.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnotherConfigPathIsAnErrorButAListContainingOursIsFine()
    {
        Assert.Equal(PreflightSeverity.Error, Assert.Single(Preflight.Evaluate("1.7.0", new CriRegistrySettings("/other", false, null), Path)).Severity);
        Assert.Empty(Preflight.Evaluate("1.7.0", new CriRegistrySettings("/other:/etc/containerd/certs.d/", false, null), Path));
    }

    [Fact]
    public void DiscardUnpackedLayersUsesTheVersionsTableName()
    {
        var v1 = Assert.Single(Preflight.Evaluate("1.7.0", new CriRegistrySettings(Path, true, null), Path));
        Assert.Contains("discard_unpacked_layers = false under [plugins.\"io.containerd.grpc.v1.cri\".containerd]", v1.Message, StringComparison.Ordinal);
        var v2 = Assert.Single(Preflight.Evaluate("2.0.4", new CriRegistrySettings(Path, true, null), Path));
        Assert.Contains("discard_unpacked_layers = false under [plugins.\"io.containerd.cri.v1.images\"]", v2.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TransferServiceWarningFrom21()
    {
        Assert.Empty(Preflight.Evaluate("2.0.4", new CriRegistrySettings(Path, false, null), Path));
        var warning = Assert.Single(Preflight.Evaluate("v2.1.0", new CriRegistrySettings(Path, false, null), Path));
        Assert.Equal(PreflightSeverity.Warning, warning.Severity);
        Assert.Contains("use_local_image_pull = true", warning.Message, StringComparison.Ordinal);
        Assert.Empty(Preflight.Evaluate("2.2.0", new CriRegistrySettings(Path, false, true), Path));
    }

    [Fact]
    public void ACriConfigOfUnknownShapeIsAWarningNotAMissingConfigPath()
    {
        var finding = Assert.Single(Preflight.Evaluate("1.7.0", ContainerdInspector.ParseCriConfig("{\"somethingNew\":{}}"), Path));
        Assert.Equal(PreflightSeverity.Warning, finding.Severity);
        Assert.Equal("cri_config_unknown", finding.Check);
        Assert.Contains("config_path = \"/etc/containerd/certs.d\"", finding.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryFindingNamesOneOfTheFixedChecks()
    {
        var findings = new[]
        {
            Preflight.Evaluate("2.1.0", new CriRegistrySettings("", true, false), Path),
            Preflight.Evaluate("2.1.0", new CriRegistrySettings("/other", true, null), Path),
            Preflight.Evaluate("1.6.0", new CriRegistrySettings(null, null, null), Path),
            Preflight.Evaluate("1.6.0", null, Path),
        }.SelectMany(f => f).ToList();
        Assert.Equal(Preflight.Checks.Order(), findings.Select(f => f.Check).Distinct().Order());
    }

    [Fact]
    public void NoCriIsAWarning() =>
        Assert.Equal(PreflightSeverity.Warning, Assert.Single(Preflight.Evaluate("1.6.20", null, Path)).Severity);

    [Theory]
    [InlineData("1.6.20~ds1", 1, 6)]
    [InlineData("v2.1.3", 2, 1)]
    [InlineData("2.0.0-rc.1", 2, 0)]
    [InlineData("garbage", 0, 0)]
    [InlineData("", 0, 0)]
    public void ParsesVersions(string version, int major, int minor) =>
        Assert.Equal((major, minor), Preflight.ParseVersion(version));

    [Fact]
    public void ReadsTheCriConfigJsonOf16And2x()
    {
        var v16 = ContainerdInspector.ParseCriConfig("{\"containerd\":{\"snapshotter\":\"overlayfs\",\"discardUnpackedLayers\":true},\"registry\":{\"configPath\":\"/etc/containerd/certs.d\"}}");
        Assert.Equal(new CriRegistrySettings("/etc/containerd/certs.d", true, null), v16);
        var v21 = ContainerdInspector.ParseCriConfig("{\"registry\":{\"configPath\":\"/x\"},\"discardUnpackedLayers\":false,\"useLocalImagePull\":true}");
        Assert.Equal(new CriRegistrySettings("/x", false, true), v21);
    }

    [Theory]
    [InlineData("")]
    [InlineData("null")]
    [InlineData("[1,2]")]
    [InlineData("{\"registry\":5}")]
    [InlineData("{\"registry\":{\"configPath\":5},\"containerd\":{\"discardUnpackedLayers\":\"yes\"}}")]
    [InlineData("{{{")]
    public void MalformedCriConfigGivesUnknownsNotErrors(string json) =>
        Assert.Equal(new CriRegistrySettings(null, null, null), ContainerdInspector.ParseCriConfig(json));
}
