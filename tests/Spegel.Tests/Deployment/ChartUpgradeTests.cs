using k8s.Models;

namespace Spegel.Tests.Deployment;

/// <summary>
/// `helm upgrade` of a Spegel release (v0.4 and later, v0.7.x and main) to our chart: the immutable DaemonSet selector,
/// names and labels are Spegel's; both of Spegel's registry port layouts render as Spegel renders them, and values
/// files of either kind merged over our defaults never put two ports on one node port. Expected labels are Spegel's
/// (charts/spegel/templates/daemonset.yaml, service.yaml, post-delete-hook.yaml, servicemonitor.yaml).
/// </summary>
public sealed class ChartUpgradeTests
{
    private const string MainLayout = "spegel-main.yaml";
    private const string V07Layout = "spegel-v0.7.4.yaml";

    private static Dictionary<string, string> SpegelSelector(string component, string release = "spegel") => new()
    {
        ["app.kubernetes.io/component"] = component,
        ["app.kubernetes.io/name"] = "spegel",
        ["app.kubernetes.io/instance"] = release,
    };

    [Theory]
    [InlineData("")]
    [MemberData(nameof(ChartTests.ValuesFiles), MemberType = typeof(ChartTests))]
    public async Task SelectorsAndLabelsAreSpegels(string file)
    {
        var rendering = file.Length == 0 ? await ChartRenderer.RenderAsync() : await ChartRenderer.RenderAsync([ChartRenderer.Fixture(file)]);
        var commonLabels = file == "all-features.yaml" ? new Dictionary<string, string> { ["team"] = "platform" } : [];

        var daemonSet = rendering.DaemonSet;
        Assert.Equal(SpegelSelector("spegel"), daemonSet.Spec.Selector.MatchLabels);
        Assert.Equal(SpegelSelector("spegel").Concat(commonLabels), daemonSet.Spec.Template.Metadata.Labels);
        Assert.Equal("spegel", daemonSet.Metadata.Labels["app.kubernetes.io/component"]);
        foreach (var o in rendering.Objects.Concat(rendering.Hooks))
        {
            Assert.Equal("Helm", o.Metadata.Labels["app.kubernetes.io/managed-by"]);
            Assert.Equal("spegel-0.2.0", o.Metadata.Labels["helm.sh/chart"]);
            Assert.All(commonLabels, l => Assert.Equal(l.Value, o.Metadata.Labels[l.Key]));
        }

        Assert.Equal("metrics", rendering.Service("spegel").Metadata.Labels["app.kubernetes.io/component"]);
        foreach (string service in new[] { "spegel", "spegel-registry", "spegel-bootstrap" })
        {
            Assert.Equal(SpegelSelector("spegel"), rendering.Service(service).Spec.Selector);
        }

        var cleanup = rendering.Hook<V1DaemonSet>("spegel-cleanup");
        Assert.Equal(SpegelSelector("cleanup"), cleanup.Spec.Selector.MatchLabels);
        Assert.Equal(SpegelSelector("cleanup").Concat(commonLabels), cleanup.Spec.Template.Metadata.Labels);
        Assert.Equal(SpegelSelector("cleanup"), rendering.Hook<V1Service>("spegel-cleanup").Spec.Selector);
        Assert.Equal("cleanup-wait", rendering.Hook<V1Pod>("spegel-cleanup-wait").Metadata.Labels["app.kubernetes.io/component"]);
        if (file == "all-features.yaml")
        {
            var selector = rendering.Custom("ServiceMonitor").Spec["selector"];
            Assert.Equal("app.kubernetes.io/component: metrics\napp.kubernetes.io/name: spegel\napp.kubernetes.io/instance: spegel", Flatten(selector));
        }
    }

    /// <summary>Spegel's fullname: the release name when it contains the chart name (or nameOverride), else
    /// "release-name", cut to 63 characters without a trailing dash; the selector's instance is the release.</summary>
    [Theory]
    [InlineData("spegel", "", "", "spegel")]
    [InlineData("my-spegel-mirror", "", "", "my-spegel-mirror")]
    [InlineData("mirror", "", "", "mirror-spegel")]
    [InlineData("mirror", "p2p", "", "mirror-p2p")]
    [InlineData("p2p-mirror", "p2p", "", "p2p-mirror")]
    [InlineData("mirror", "", "registry-cache", "registry-cache")]
    [InlineData("a-release-name-that-is-long-enough-to-be-cut-at-sixty-three-ch", "", "", "a-release-name-that-is-long-enough-to-be-cut-at-sixty-three-ch")]
    [InlineData("a-release-name-that-is-long-enough-to-be-cut-after-the-dash-x", "", "", "a-release-name-that-is-long-enough-to-be-cut-after-the-dash-x-s")]
    public async Task NamesFollowSpegelsRules(string release, string nameOverride, string fullnameOverride, string fullname)
    {
        var rendering = await ChartRenderer.RenderAsync(yaml: [$"nameOverride: \"{nameOverride}\"\nfullnameOverride: \"{fullnameOverride}\"\n"], arguments: ["-release", release, "-namespace", "mirrors"]);
        string name = nameOverride.Length > 0 ? nameOverride : "spegel";
        Assert.Equal(fullname, rendering.DaemonSet.Metadata.Name);
        Assert.Equal(new Dictionary<string, string> { ["app.kubernetes.io/component"] = "spegel", ["app.kubernetes.io/name"] = name, ["app.kubernetes.io/instance"] = release }, rendering.DaemonSet.Spec.Selector.MatchLabels);
        Assert.Contains($"--dns-bootstrap-domain={fullname}-bootstrap.mirrors.svc.cluster.local.", rendering.Registry.Args);
        Assert.Contains($"--probe-endpoint={fullname}-cleanup.mirrors.svc.cluster.local.:8080", rendering.Hook<V1Pod>($"{fullname}-cleanup-wait").Spec.Containers.Single().Args);
    }

    /// <summary>Spegel v0.7.x: host port 30020 and NodePort 30021, containerd asks both in that order; the NodePort
    /// Service has topology hints and no traffic policy.</summary>
    [Fact]
    public async Task AV074ValuesFileKeepsTheHostPortLayout()
    {
        var rendering = await ChartRenderer.RenderAsync([ChartRenderer.Fixture(V07Layout)]);
        Assert.Equal(30020, rendering.Registry.Ports.Single(p => p.Name == "registry").HostPort);
        var service = rendering.Service("spegel-registry");
        Assert.Equal("NodePort", service.Spec.Type);
        Assert.Equal(30021, service.Spec.Ports.Single().NodePort);
        Assert.Equal("auto", service.Metadata.Annotations["service.kubernetes.io/topology-mode"]);
        Assert.Null(service.Spec.TrafficDistribution);
        Assert.Null(service.Spec.InternalTrafficPolicy);
        Assert.Equal(["http://$(NODE_IP):30020", "http://$(NODE_IP):30021"], rendering.MirrorTargets);
    }

    /// <summary>Spegel main: its values file (nodePort 30020, no hostPort) over our defaults (hostPort 30020) is main's
    /// layout: no host port, one target on the NodePort, PreferSameNode.</summary>
    [Fact]
    public async Task AMainValuesFileGetsTheNodePortLayoutWithoutCollision()
    {
        var rendering = await ChartRenderer.RenderAsync([ChartRenderer.Fixture(MainLayout)]);
        Assert.All(rendering.DaemonSet.Spec.Template.Spec.Containers.SelectMany(c => c.Ports), p => Assert.Null(p.HostPort));
        var service = rendering.Service("spegel-registry");
        Assert.Equal(30020, service.Spec.Ports.Single().NodePort);
        Assert.Equal("PreferSameNode", service.Spec.TrafficDistribution);
        Assert.Null(service.Spec.InternalTrafficPolicy);
        Assert.Null(service.Metadata.Annotations);
        Assert.Equal(["http://$(NODE_IP):30020"], rendering.MirrorTargets);
    }

    [Fact]
    public async Task InternalTrafficLocalReplacesPreferSameNode()
    {
        var rendering = await ChartRenderer.RenderAsync([ChartRenderer.Fixture(MainLayout)], ["service:\n  registry:\n    internalTrafficLocal: true\n"]);
        var service = rendering.Service("spegel-registry");
        Assert.Equal("Local", service.Spec.InternalTrafficPolicy);
        Assert.Null(service.Spec.TrafficDistribution);
        Assert.Equal(["http://$(NODE_IP):30020"], rendering.MirrorTargets);
    }

    /// <summary>The ways to choose main's layout on our default NodePort 30021: Spegel v0.7.x's switch, a null
    /// hostPort (Helm deletes the default), a zero hostPort.</summary>
    [Theory]
    [InlineData("usePreferSameNodeTrafficDistribution: true")]
    [InlineData("hostPort: null")]
    [InlineData("hostPort: 0")]
    public async Task MainsLayoutCanBeChosenOnAnyNodePort(string setting)
    {
        var rendering = await ChartRenderer.RenderYamlAsync($"service:\n  registry:\n    {setting}\n");
        Assert.Null(rendering.Registry.Ports.Single(p => p.Name == "registry").HostPort);
        var service = rendering.Service("spegel-registry");
        Assert.Equal(30021, service.Spec.Ports.Single().NodePort);
        Assert.Equal("PreferSameNode", service.Spec.TrafficDistribution);
        Assert.Null(service.Metadata.Annotations);
        Assert.Equal(["http://$(NODE_IP):30021"], rendering.MirrorTargets);
    }

    [Fact]
    public async Task TopologyHintsCanBeTurnedOff()
    {
        var rendering = await ChartRenderer.RenderYamlAsync("service:\n  registry:\n    topologyAwareHintsEnabled: false\n    annotations:\n      example.com/a: b\n");
        Assert.Equal(new Dictionary<string, string> { ["example.com/a"] = "b" }, rendering.Service("spegel-registry").Metadata.Annotations);
        Assert.Equal(30020, rendering.Registry.Ports.Single(p => p.Name == "registry").HostPort);
    }

    /// <summary>No values file puts two listeners on one node port, and containerd's targets are exactly the node's
    /// host port (if any) and the NodePort, then the additional targets.</summary>
    [Theory]
    [InlineData("")]
    [MemberData(nameof(ChartTests.ValuesFiles), MemberType = typeof(ChartTests))]
    public async Task NoNodePortIsTakenTwiceAndTargetsFollowTheLayout(string file)
    {
        var rendering = file.Length == 0 ? await ChartRenderer.RenderAsync() : await ChartRenderer.RenderAsync([ChartRenderer.Fixture(file)]);
        var hostPorts = rendering.DaemonSet.Spec.Template.Spec.Containers.SelectMany(c => c.Ports).Where(p => p.HostPort is not null).Select(p => p.HostPort!.Value).ToList();
        var nodePorts = rendering.Objects.OfType<V1Service>().SelectMany(s => s.Spec.Ports).Where(p => p.NodePort is not null).Select(p => p.NodePort!.Value).ToList();
        var all = hostPorts.Concat(nodePorts).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.Single(nodePorts);
        var expected = hostPorts.Concat(nodePorts).Select(p => $"http://$(NODE_IP):{p}").ToList();
        if (file == "all-features.yaml")
        {
            expected.Add("https://mirror.example.com");
        }

        Assert.Equal(expected, rendering.MirrorTargets);
    }

    /// <summary>A custom resource's nested map as "key: value" lines.</summary>
    internal static string Flatten(object node) => node switch
    {
        IDictionary<object, object> map => string.Join("\n", map.SelectMany(p => p.Value is IDictionary<object, object> inner ? Flatten(inner).Split('\n') : [$"{p.Key}: {p.Value}"])),
        _ => node.ToString() ?? string.Empty,
    };
}
