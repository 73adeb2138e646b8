using System.CommandLine;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;
using k8s.Models;
using Spegel.Cli;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Spegel.Tests.Deployment;

/// <summary>
/// The chart as a whole: values against the schema (Spegel's values files included); the rendering as typed
/// Kubernetes objects; every flag the chart passes exists in the CLI and parses; ports agree between values, the
/// rendering and the CLI; templates only use values that exist; the dashboard only uses our metrics; the plain
/// manifests in deploy/kubernetes are the current default rendering.
/// </summary>
public sealed partial class ChartTests
{
    public static TheoryData<string> ValuesFiles => new() { "spegel-main.yaml", "spegel-v0.7.4.yaml", "all-features.yaml" };

    internal static JsonNode ReadYaml(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return stream.Documents.Count == 0 ? new JsonObject() : ToJson(stream.Documents[0].RootNode) ?? new JsonObject();
    }

    private static JsonNode Values() => ReadYaml(RepositoryFiles.Read("charts", "spegel", "values.yaml"));

    private static JsonSchema Schema() => JsonSchema.FromText(RepositoryFiles.Read("charts", "spegel", "values.schema.json"));

    [Fact]
    public void DefaultValuesMatchTheSchema()
    {
        var result = Schema().Evaluate(JsonSerializer.SerializeToElement(Values()), new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.True(result.IsValid, JsonSerializer.Serialize(result));
    }

    /// <summary>Every key of Spegel's values files (main and v0.7.4, written out in ChartValues/) is one we take.</summary>
    [Theory]
    [MemberData(nameof(ValuesFiles))]
    public void SpegelsValuesFilesMatchTheSchema(string file)
    {
        var values = Coalesce(ReadYaml(File.ReadAllText(ChartRenderer.Fixture(file))), Values());
        var result = Schema().Evaluate(JsonSerializer.SerializeToElement(values), new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.True(result.IsValid, JsonSerializer.Serialize(result));
    }

    /// <summary>
    /// Our own values, each an opt-in feature Spegel has no counterpart for, off by default (empty), so a Spegel values
    /// file renders as with Spegel's chart: <c>swarmKeySecretName</c>, the libp2p private network (issue 11).
    /// </summary>
    private static readonly string[] Extensions = ["swarmKeySecretName"];

    /// <summary>values.yaml has exactly the keys of Spegel's main and v0.7.4 values files together: none missing,
    /// none of our own that a Spegel user could not know, but for the <see cref="Extensions"/>, which are off.</summary>
    [Fact]
    public void OurValuesHaveExactlySpegelsKeys()
    {
        var ours = Values();
        var spegel = new SortedSet<string>(StringComparer.Ordinal);
        foreach (string file in new[] { "spegel-main.yaml", "spegel-v0.7.4.yaml" })
        {
            spegel.UnionWith(KeyPaths(ReadYaml(File.ReadAllText(ChartRenderer.Fixture(file))), ours, string.Empty));
        }

        Assert.All(Extensions, key => Assert.DoesNotContain(key, spegel));
        Assert.All(Extensions, key => Assert.Equal(string.Empty, ours[key]!.GetValue<string>()));
        spegel.UnionWith(Extensions);
        Assert.Equal(spegel, new SortedSet<string>(KeyPaths(ours, ours, string.Empty), StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("spegel", "mirrorResolveRetries", "0")]
    [InlineData("spegel", "logLevel", "\"VERBOSE\"")]
    [InlineData("spegel", "mirrorResolveTimeout", "\"20 ms\"")]
    [InlineData("spegel", "mirroredRegistries", "[\"docker.io\"]")]
    [InlineData("image", "pullPolicy", "\"Sometimes\"")]
    [InlineData("image", "registry", "\"ghcr.io\"")]
    [InlineData("grafanaDashboard", "mode", "\"Operator\"")]
    [InlineData("networkPolicy", "enable", "true")]
    [InlineData("serviceAccount", "create", "false")]
    [InlineData("livenessProbe", "path", "\"/livez\"")]
    [InlineData("commonLabels", "tier", "1")]
    public void BadValuesAreRejectedByTheSchema(string section, string key, string json)
    {
        var values = Values();
        values[section]![key] = JsonNode.Parse(json);
        Assert.False(Schema().Evaluate(JsonSerializer.SerializeToElement(values)).IsValid);
    }

    [Fact]
    public async Task TheDefaultRenderingIsValidKubernetesObjects()
    {
        var rendering = await ChartRenderer.RenderAsync();
        var daemonSet = rendering.DaemonSet;
        Assert.Equal("spegel", daemonSet.Metadata.Name);
        Assert.Equal("system-node-critical", daemonSet.Spec.Template.Spec.PriorityClassName);
        Assert.Equal("configuration", Assert.Single(daemonSet.Spec.Template.Spec.InitContainers).Args[0]);
        var registry = Assert.Single(daemonSet.Spec.Template.Spec.Containers);
        Assert.Equal("registry", registry.Args[0]);
        Assert.True(registry.SecurityContext.ReadOnlyRootFilesystem);
        Assert.Equal("128Mi", registry.Resources.Limits["memory"].ToString());
        Assert.Equal(new Dictionary<string, string> { ["kubernetes.io/os"] = "linux" }, daemonSet.Spec.Template.Spec.NodeSelector);
        Assert.Contains(daemonSet.Spec.Template.Spec.Volumes, v => v.Name == "containerd-content" && v.HostPath.Path == "/var/lib/containerd/io.containerd.content.v1.content");
        Assert.Contains(daemonSet.Spec.Template.Spec.Volumes, v => v.Name == "containerd-sock" && v.HostPath.Type == "Socket");
        Assert.True(registry.VolumeMounts.Single(m => m.Name == "containerd-content").ReadOnlyProperty);
        Assert.Equal(["spegel", "spegel-bootstrap", "spegel-registry"], rendering.Objects.OfType<V1Service>().Select(s => s.Metadata.Name).Order());
        var bootstrap = rendering.Service("spegel-bootstrap");
        Assert.Equal("None", bootstrap.Spec.ClusterIP);
        Assert.True(bootstrap.Spec.PublishNotReadyAddresses);
        Assert.Equal("spegel", Assert.Single(rendering.Objects.OfType<V1ServiceAccount>()).Metadata.Name);
        Assert.Equal(3, rendering.Hooks.Count);
    }

    /// <summary>Every container the chart runs (hooks included) gets arguments our CLI takes, for every values file.</summary>
    [Theory]
    [InlineData("")]
    [MemberData(nameof(ValuesFiles))]
    public async Task EveryFlagTheChartPassesExistsAndParses(string file)
    {
        var rendering = file.Length == 0 ? await ChartRenderer.RenderAsync() : await ChartRenderer.RenderAsync([ChartRenderer.Fixture(file)]);
        var pod = rendering.DaemonSet.Spec.Template.Spec;
        var containers = pod.InitContainers.Where(c => c.Name == "configuration").Concat(pod.Containers)
            .Concat(rendering.Hooks.OfType<V1DaemonSet>().SelectMany(d => d.Spec.Template.Spec.Containers))
            .Concat(rendering.Hooks.OfType<V1Pod>().SelectMany(p => p.Spec.Containers))
            .ToList();
        Assert.Equal(["configuration", "registry", "cleanup", "cleanup-wait"], containers.Select(c => c.Args[0]));
        foreach (var container in containers)
        {
            var args = container.Args.Select(a => a.Replace("$(NODE_IP)", "192.0.2.5", StringComparison.Ordinal)).ToArray();
            var parse = SpegelCli.Build(out _).Parse(args);
            Assert.True(parse.Errors.Count == 0, $"{string.Join(' ', args)}: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
            if (args[0] == "registry")
            {
                var errors = new List<string>();
                var command = new RegistryCommand(environment: new Dictionary<string, string>()); // the rendered args alone
                var rootCommand = new RootCommand();
                rootCommand.Subcommands.Add(command.Build());
                var settings = command.Bind(rootCommand.Parse(args), errors);
                Assert.Empty(errors);
                Assert.Equal(5000, settings!.RegistryAddr.Port);
                Assert.Equal(Hosting.BootstrapKind.Dns, settings.BootstrapKind);
            }
        }
    }

    [Fact]
    public async Task PortsAgreeBetweenValuesTheRenderingAndTheCli()
    {
        var values = Values()["service"]!;
        var rendering = await ChartRenderer.RenderAsync();
        var ports = rendering.Registry.Ports.ToDictionary(p => p.Name);
        Assert.Equal((int)values["registry"]!["port"]!.GetValue<long>(), ports["registry"].ContainerPort);
        Assert.Equal((int)values["registry"]!["hostPort"]!.GetValue<long>(), ports["registry"].HostPort);
        Assert.Equal((int)values["router"]!["port"]!.GetValue<long>(), ports["router-tcp"].ContainerPort);
        Assert.Equal((int)values["router"]!["port"]!.GetValue<long>(), ports["router-quic"].ContainerPort);
        Assert.Equal("UDP", ports["router-quic"].Protocol);
        Assert.Equal((int)values["metrics"]!["port"]!.GetValue<long>(), ports["metrics"].ContainerPort);
        Assert.Equal((int)values["registry"]!["nodePort"]!.GetValue<long>(), rendering.Service("spegel-registry").Spec.Ports.Single().NodePort);

        // The CLI's defaults are the chart's.
        var flags = new RegistryCommand().Flags.ToDictionary(f => f.Name);
        Assert.Equal($":{ports["registry"].ContainerPort}", flags["--registry-addr"].DefaultText);
        Assert.Equal($":{ports["router-tcp"].ContainerPort}", flags["--router-addr"].DefaultText);
        Assert.Equal($":{ports["metrics"].ContainerPort}", flags["--metrics-addr"].DefaultText);
    }

    [Fact]
    public void TemplatesUseOnlyExistingValuesAndFlags()
    {
        var values = Values();
        SpegelCli.Build(out var flagsByCommand);
        var known = flagsByCommand.Values.SelectMany(f => f).SelectMany(f => f.Aliases.Append(f.Name)).ToHashSet();
        foreach (string file in Directory.EnumerateFiles(RepositoryFiles.Path("charts", "spegel", "templates")))
        {
            string text = File.ReadAllText(file);
            foreach (Match match in ValuesPath().Matches(text))
            {
                JsonNode? node = values;
                foreach (string part in match.Groups[1].Value.Split('.'))
                {
                    node = node?[part];
                }

                Assert.True(node is not null, $"{Path.GetFileName(file)} uses .Values.{match.Groups[1].Value}, which values.yaml lacks");
            }

            foreach (Match match in FlagPattern().Matches(text))
            {
                Assert.True(known.Contains(match.Value), $"{Path.GetFileName(file)} passes {match.Value}, which the CLI lacks");
            }
        }
    }

    [Fact]
    public void TheDashboardOnlyUsesMetricsWeExport()
    {
        var instruments = new Spegel.Telemetry.SpegelInstruments();
        var exported = typeof(Spegel.Telemetry.SpegelInstruments).GetProperties(BindingFlags.Instance | BindingFlags.Public)
            .Select(p => p.GetValue(instruments)).OfType<Prometheus.Collector>().Select(c => c.Name).ToHashSet();
        Assert.Contains("spegel_mirror_requests_total", exported); // positive control
        using var dashboard = JsonDocument.Parse(RepositoryFiles.Read("charts", "spegel", "files", "grafana-dashboard.json"));
        foreach (var panel in dashboard.RootElement.GetProperty("panels").EnumerateArray())
        {
            foreach (var target in panel.GetProperty("targets").EnumerateArray())
            {
                foreach (Match metric in MetricName().Matches(target.GetProperty("expr").GetString()!))
                {
                    string name = Regex.Replace(metric.Value, "_(bucket|sum|count)$", string.Empty);
                    Assert.Contains(name, exported);
                }
            }
        }
    }

    /// <summary>deploy/kubernetes/spegel.yaml is what scripts/render-manifests.sh makes of the current chart.</summary>
    [Fact]
    public async Task ThePlainManifestsAreTheCurrentDefaultRendering()
    {
        var result = await ChartRenderer.RunAsync("-release", "spegel", "-namespace", "spegel", "-release-service", "kustomize", "-no-hooks");
        result.EnsureSuccess("chart-render");
        string file = RepositoryFiles.Read("deploy", "kubernetes", "spegel.yaml");
        string body = file[file.IndexOf("---\n", StringComparison.Ordinal)..];
        Assert.True(body == result.StandardOutput, "deploy/kubernetes/spegel.yaml is stale: run scripts/render-manifests.sh");
        var plain = new Rendering(body);
        Assert.Empty(plain.Hooks);
        Assert.Equal("kustomize", plain.DaemonSet.Metadata.Labels["app.kubernetes.io/managed-by"]);
    }

    /// <summary>A user's values laid over the defaults as Helm does: tables merged key by key, a null deletes.</summary>
    internal static JsonNode Coalesce(JsonNode user, JsonNode defaults)
    {
        var result = user.DeepClone().AsObject();
        foreach (var (key, value) in defaults.AsObject())
        {
            if (!result.TryGetPropertyValue(key, out var mine))
            {
                result[key] = value?.DeepClone();
            }
            else if (mine is null)
            {
                result.Remove(key);
            }
            else if (mine is JsonObject && value is JsonObject)
            {
                result[key] = Coalesce(mine, value);
            }
        }

        return result;
    }

    /// <summary>Key paths of <paramref name="node"/>, descending only where our values.yaml has a table of its own
    /// (free-form maps such as labels, resources or annotations are one key).</summary>
    private static IEnumerable<string> KeyPaths(JsonNode node, JsonNode? ours, string prefix)
    {
        foreach (var (key, value) in node.AsObject())
        {
            var inOurs = ours?[key];
            if (value is JsonObject && inOurs is JsonObject { Count: > 0 } && key is not ("resources" or "nodeSelector" or "securityContext"))
            {
                foreach (string path in KeyPaths(value, inOurs, $"{prefix}{key}."))
                {
                    yield return path;
                }
            }
            else
            {
                yield return prefix + key;
            }
        }
    }

    /// <summary>YAML to JSON as Helm reads values: plain scalars are null, booleans or numbers where they look like
    /// one; quoted scalars are always strings.</summary>
    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(p => KeyValuePair.Create(((YamlScalarNode)p.Key).Value!, ToJson(p.Value)))),
        YamlSequenceNode list => new JsonArray(list.Children.Select(ToJson).ToArray()),
        YamlScalarNode { Style: not ScalarStyle.Plain } quoted => JsonValue.Create(quoted.Value),
        YamlScalarNode { Value: null or "" or "~" or "null" } => null,
        YamlScalarNode { Value: "true" or "false" } flag => JsonValue.Create(flag.Value == "true"),
        YamlScalarNode scalar when long.TryParse(scalar.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long i) => JsonValue.Create(i),
        YamlScalarNode scalar when double.TryParse(scalar.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => JsonValue.Create(d),
        YamlScalarNode scalar => JsonValue.Create(scalar.Value),
        _ => throw new InvalidDataException($"unexpected YAML node {node.NodeType}"),
    };

    [GeneratedRegex(@"\.Values\.([A-Za-z0-9_.]+)")]
    private static partial Regex ValuesPath();

    [GeneratedRegex(@"(?<![\w-])--[a-z][a-z0-9-]+")]
    private static partial Regex FlagPattern();

    [GeneratedRegex(@"\b(spegel_[a-z_]+|http_[a-z_]+)\b")]
    private static partial Regex MetricName();
}
