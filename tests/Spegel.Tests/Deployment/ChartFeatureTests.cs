using System.Text.Json;
using k8s.Models;

namespace Spegel.Tests.Deployment;

/// <summary>
/// Spegel's optional chart features render as in Spegel's chart (NetworkPolicy, VerticalPodAutoscaler, Grafana
/// dashboard in both modes, liveness probe, extra init containers and volumes, the uninstall hook), and values the
/// chart does not take are refused with a message instead of being ignored.
/// </summary>
public sealed class ChartFeatureTests
{
    private static Task<Rendering> AllFeaturesAsync(params string[] arguments) =>
        ChartRenderer.RenderAsync([ChartRenderer.Fixture("all-features.yaml")], arguments: arguments);

    [Fact]
    public async Task DefaultsRenderNoOptionalObjectsAndNoLivenessProbe()
    {
        var rendering = await ChartRenderer.RenderAsync(arguments: ["-api-versions", "autoscaling.k8s.io/v1"]);
        Assert.Equal(["DaemonSet", "Service", "Service", "Service", "ServiceAccount"], rendering.Objects.Select(o => o.Kind).Order());
        Assert.Null(rendering.Registry.LivenessProbe);
        Assert.Equal("/readyz", rendering.Registry.ReadinessProbe.HttpGet.Path);
        Assert.Equal("/readyz", rendering.Registry.StartupProbe.HttpGet.Path);
        Assert.Equal(60, rendering.Registry.StartupProbe.FailureThreshold);
    }

    [Fact]
    public async Task TheNetworkPolicyLetsOnlySpegelPodsReachTheRouter()
    {
        var policy = Assert.Single((await AllFeaturesAsync()).Objects.OfType<V1NetworkPolicy>());
        var spegelPods = new Dictionary<string, string>
        {
            ["app.kubernetes.io/component"] = "spegel",
            ["app.kubernetes.io/name"] = "spegel",
            ["app.kubernetes.io/instance"] = "spegel",
        };
        Assert.Equal(spegelPods, policy.Spec.PodSelector.MatchLabels);
        Assert.Equal(["Ingress"], policy.Spec.PolicyTypes);
        Assert.Equal(2, policy.Spec.Ingress.Count);
        var router = policy.Spec.Ingress[0];
        Assert.Equal(spegelPods, Assert.Single(router.FromProperty).PodSelector.MatchLabels);
        Assert.Equal(["5001/TCP", "5001/UDP"], router.Ports.Select(p => $"{p.Port}/{p.Protocol}"));
        var open = policy.Spec.Ingress[1];
        Assert.Null(open.FromProperty);
        Assert.Equal(["5000/TCP", "9090/TCP"], open.Ports.Select(p => $"{p.Port}/{p.Protocol}"));
    }

    [Fact]
    public async Task TheVerticalPodAutoscalerTargetsTheRegistryWhereTheApiIsServed()
    {
        Assert.DoesNotContain((await AllFeaturesAsync()).Objects, o => o.Kind == "VerticalPodAutoscaler");
        var vpa = (await AllFeaturesAsync("-api-versions", "autoscaling.k8s.io/v1")).Custom("VerticalPodAutoscaler");
        Assert.Equal("kind: DaemonSet\napiVersion: apps/v1\nname: spegel".Split('\n').Order(), ChartUpgradeTests.Flatten(vpa.Spec["targetRef"]).Split('\n').Order());
        var policy = ((List<object>)((IDictionary<object, object>)vpa.Spec["resourcePolicy"])["containerPolicies"]).Cast<IDictionary<object, object>>().Single();
        Assert.Equal("registry", policy["containerName"]);
        Assert.Equal("RequestsOnly", policy["controlledValues"]);
        Assert.Equal("memory: 512Mi", ChartUpgradeTests.Flatten(policy["maxAllowed"]));
        Assert.Equal("cpu: 50m", ChartUpgradeTests.Flatten(policy["minAllowed"]));
        Assert.Equal("minReplicas: 1\nupdateMode: Initial", ChartUpgradeTests.Flatten(vpa.Spec["updatePolicy"]));
        Assert.Equal("custom-recommender", ((IDictionary<object, object>)((List<object>)vpa.Spec["recommenders"]).Single())["name"]);
    }

    [Fact]
    public async Task TheGrafanaOperatorGetsAGrafanaDashboard()
    {
        var dashboard = (await AllFeaturesAsync()).Custom("GrafanaDashboard");
        Assert.Equal("grafana.integreatly.org/v1beta1", dashboard.ApiVersion);
        Assert.Equal("grafana", dashboard.Metadata.Labels["dashboards"]);
        Assert.Equal("Spegel", dashboard.Metadata.Annotations["grafana_folder"]);
        Assert.True(bool.Parse(dashboard.Spec["allowCrossNamespaceImport"].ToString()!));
        Assert.Equal("5m", dashboard.Spec["resyncPeriod"]);
        Assert.Equal("Mirrors", dashboard.Spec["folder"]);
        Assert.Equal("dashboards: grafana", ChartUpgradeTests.Flatten(dashboard.Spec["instanceSelector"]));
        using var json = JsonDocument.Parse((string)dashboard.Spec["json"]);
        Assert.True(json.RootElement.GetProperty("panels").GetArrayLength() > 0);
    }

    [Fact]
    public async Task TheSidecarGetsAConfigMapWithTheDashboard()
    {
        var rendering = await ChartRenderer.RenderYamlAsync("grafanaDashboard:\n  enabled: true\n  labels:\n    grafana_dashboard: \"1\"\n");
        var map = Assert.Single(rendering.Objects.OfType<V1ConfigMap>());
        Assert.Equal("spegel-dashboard", map.Metadata.Name);
        Assert.Equal("1", map.Metadata.Labels["grafana_dashboard"]);
        using var json = JsonDocument.Parse(map.Data["spegel.json"]);
        Assert.Equal(RepositoryFiles.Read("charts", "spegel", "files", "grafana-dashboard.json").TrimEnd(), map.Data["spegel.json"]);
    }

    [Fact]
    public async Task TheLivenessProbeIsOnlyThereWhenEnabled()
    {
        var rendering = await AllFeaturesAsync();
        Assert.Equal("/livez", rendering.Registry.LivenessProbe.HttpGet.Path);
        Assert.Equal("registry", rendering.Registry.LivenessProbe.HttpGet.Port.Value);
    }

    [Fact]
    public async Task ExtraInitContainersRunFirstAndExtraVolumesAreMounted()
    {
        var pod = (await AllFeaturesAsync()).DaemonSet.Spec.Template.Spec;
        Assert.Equal(["prepare-node", "configuration"], pod.InitContainers.Select(c => c.Name));
        Assert.Equal("/etc/example", pod.Volumes.Single(v => v.Name == "host-etc").HostPath.Path);
        Assert.Equal("basic-auth", pod.Volumes.Single(v => v.Secret is not null).Name);
        Assert.Equal(["private-registry"], pod.ImagePullSecrets.Select(s => s.Name));
    }

    /// <summary>As Spegel main: extra init containers run even when Spegel writes no mirror configuration (and then
    /// there is no uninstall hook to undo it).</summary>
    [Fact]
    public async Task ExtraInitContainersRunWithoutMirrorConfiguration()
    {
        var rendering = await ChartRenderer.RenderAsync([ChartRenderer.Fixture("all-features.yaml")], ["spegel:\n  containerdMirrorAdd: false\n"]);
        Assert.Equal(["prepare-node"], rendering.DaemonSet.Spec.Template.Spec.InitContainers.Select(c => c.Name));
        Assert.DoesNotContain(rendering.DaemonSet.Spec.Template.Spec.Volumes, v => v.Name == "containerd-config");
        Assert.Empty(rendering.Hooks);

        var plain = await ChartRenderer.RenderYamlAsync("spegel:\n  containerdMirrorAdd: false\n");
        Assert.Null(plain.DaemonSet.Spec.Template.Spec.InitContainers);
    }

    /// <summary>Spegel's uninstall hook: the cleanup pods can pull a private image and run under the pod security
    /// context; the headless Service lists them before they are ready; the wait pod stops at once.</summary>
    [Fact]
    public async Task TheUninstallHookIsSpegels()
    {
        var rendering = await AllFeaturesAsync();
        var cleanup = rendering.Hook<V1DaemonSet>("spegel-cleanup");
        Assert.Equal("post-delete", cleanup.Metadata.Annotations["helm.sh/hook"]);
        Assert.Equal("0", cleanup.Metadata.Annotations["helm.sh/hook-weight"]);
        var pod = cleanup.Spec.Template.Spec;
        Assert.Equal(["private-registry"], pod.ImagePullSecrets.Select(s => s.Name));
        Assert.Equal("RuntimeDefault", pod.SecurityContext.SeccompProfile.Type);
        Assert.Equal("system-node-critical", pod.PriorityClassName);
        Assert.Equal(3, pod.Tolerations.Count);
        var container = Assert.Single(pod.Containers);
        Assert.Equal(["cleanup", "--containerd-registry-config-path=/etc/containerd/certs.d", "--addr=:8080"], container.Args);
        Assert.Equal("/readyz", container.ReadinessProbe.HttpGet.Path);
        Assert.Equal("readiness", container.ReadinessProbe.HttpGet.Port.Value);
        Assert.Equal(8080, container.Ports.Single(p => p.Name == "readiness").ContainerPort);
        Assert.Equal("/etc/containerd/certs.d", pod.Volumes.Single().HostPath.Path);

        var service = rendering.Hook<V1Service>("spegel-cleanup");
        Assert.Equal("None", service.Spec.ClusterIP);
        Assert.True(service.Spec.PublishNotReadyAddresses);
        Assert.Equal("yes", service.Metadata.Annotations["example.com/cleanup"]);
        Assert.Equal(8080, service.Spec.Ports.Single().Port);

        var wait = rendering.Hook<V1Pod>("spegel-cleanup-wait");
        Assert.Equal("1", wait.Metadata.Annotations["helm.sh/hook-weight"]);
        Assert.Equal(0, wait.Spec.TerminationGracePeriodSeconds);
        Assert.Equal("Never", wait.Spec.RestartPolicy);
        Assert.Equal(["private-registry"], wait.Spec.ImagePullSecrets.Select(s => s.Name));
        Assert.Equal(["cleanup-wait", "--probe-endpoint=spegel-cleanup.spegel.svc.cluster.local.:8080"], wait.Spec.Containers.Single().Args);
        Assert.All(rendering.Hooks, h => Assert.Equal("before-hook-creation,hook-succeeded", h.Metadata.Annotations["helm.sh/hook-delete-policy"]));
    }

    /// <summary>
    /// Ours (issue 11): <c>swarmKeySecretName</c> mounts the Secret's <c>swarm.key</c> (only that key, not
    /// world-readable) into the registry container and passes it to <c>--router-swarm-key-path</c>; without it
    /// (the default) there is no such flag, volume or mount, so the router stays on Spegel's open network.
    /// </summary>
    [Fact]
    public async Task ASwarmKeySecretPutsTheRouterInAPrivateNetworkAndNoneLeavesItOpen()
    {
        var rendering = await ChartRenderer.RenderYamlAsync("swarmKeySecretName: spegel-swarm-key\n");
        var pod = rendering.DaemonSet.Spec.Template.Spec;
        Assert.Contains("--router-swarm-key-path=/etc/secrets/swarm-key/swarm.key", rendering.Registry.Args);
        var volume = pod.Volumes.Single(v => v.Name == "swarm-key");
        Assert.Equal("spegel-swarm-key", volume.Secret.SecretName);
        Assert.Equal(Convert.ToInt32("440", 8), volume.Secret.DefaultMode);
        Assert.Equal(["swarm.key:swarm.key"], volume.Secret.Items.Select(i => $"{i.Key}:{i.Path}"));
        var mount = rendering.Registry.VolumeMounts.Single(m => m.Name == "swarm-key");
        Assert.Equal("/etc/secrets/swarm-key", mount.MountPath);
        Assert.True(mount.ReadOnlyProperty);
        Assert.All(pod.InitContainers, c => Assert.DoesNotContain(c.VolumeMounts ?? [], m => m.Name == "swarm-key"));

        foreach (var open in new[] { await ChartRenderer.RenderAsync(), await AllFeaturesAsync() })
        {
            Assert.DoesNotContain(open.Registry.Args, a => a.StartsWith("--router-swarm-key-path", StringComparison.Ordinal));
            Assert.DoesNotContain(open.DaemonSet.Spec.Template.Spec.Volumes, v => v.Name == "swarm-key");
        }
    }

    /// <summary>A key the chart does not know (a typo, or a value of another chart) is refused, naming the key, as
    /// `helm install/upgrade` does with values.schema.json; so are values the chart cannot honour.</summary>
    [Theory]
    [InlineData("foo: bar\n", "(root): Additional property foo is not allowed")]
    [InlineData("networkPolicy:\n  enable: true\n", "networkPolicy: Additional property enable is not allowed")]
    [InlineData("serviceAccount:\n  create: false\n", "serviceAccount: Additional property create is not allowed")]
    [InlineData("service:\n  registry:\n    hostport: 30020\n", "service.registry: Additional property hostport is not allowed")]
    [InlineData("spegel:\n  logLevel: TRACE\n", "spegel.logLevel")]
    [InlineData("spegel:\n  mirrorResolveRetries: 0\n", "spegel.mirrorResolveRetries")]
    [InlineData("grafanaDashboard:\n  mode: Operator\n", "grafanaDashboard.mode")]
    [InlineData("verticalPodAutoscaler:\n  recommenders: [{name: a}, {name: b}]\n", "verticalPodAutoscaler.recommenders")]
    [InlineData("extraVolumes:\n  - hostPath: {path: /x}\n", "extraVolumes.0: name is required")]
    [InlineData("swarmKeySecretName: true\n", "swarmKeySecretName: Invalid type. Expected: string, given: boolean")]
    [InlineData("commonLabels:\n  tier: 1\n", "commonLabels.tier: Invalid type. Expected: string, given: integer")]
    [InlineData("grafanaDashboard:\n  enabled: true\n  mode: GrafanaOperator\n", "grafanaDashboard.grafanaOperator.matchLabels: set the labels of the Grafana instance(s)")]
    public async Task ValuesTheChartDoesNotTakeAreRefusedWithAMessage(string yaml, string message)
    {
        Assert.Contains(message, await ChartRenderer.RejectionAsync(yaml), StringComparison.Ordinal);
    }
}
