using System.CommandLine;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;
using k8s;
using k8s.Models;
using Spegel.Cli;
using YamlDotNet.Serialization;

namespace Spegel.Tests.Deployment;

/// <summary>
/// What can be checked without helm or a cluster: values against the schema; the default rendering (plain manifests in
/// deploy/kubernetes) as typed Kubernetes objects; every flag the chart passes exists in the CLI and parses; ports agree
/// between values, manifests and the CLI; templates only use values that exist; the dashboard only uses our metrics.
/// </summary>
public sealed partial class ChartTests
{
    private static JsonNode Values() => ToJson(new DeserializerBuilder().Build().Deserialize<object>(RepositoryFiles.Read("charts", "spegel", "values.yaml")))!;

    private static JsonSchema Schema() => JsonSchema.FromText(RepositoryFiles.Read("charts", "spegel", "values.schema.json"));

    [Fact]
    public void DefaultValuesMatchTheSchema()
    {
        var result = Schema().Evaluate(JsonSerializer.SerializeToElement(Values()), new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.True(result.IsValid, JsonSerializer.Serialize(result));
    }

    [Theory]
    [InlineData("spegel", "mirrorResolveRetries", "0")]
    [InlineData("spegel", "logLevel", "\"VERBOSE\"")]
    [InlineData("spegel", "mirrorResolveTimeout", "\"20 ms\"")]
    [InlineData("spegel", "mirroredRegistries", "[\"docker.io\"]")]
    [InlineData("image", "pullPolicy", "\"Sometimes\"")]
    public void BadValuesAreRejectedByTheSchema(string section, string key, string json)
    {
        var values = Values();
        values[section]![key] = JsonNode.Parse(json);
        Assert.False(Schema().Evaluate(JsonSerializer.SerializeToElement(values)).IsValid);
    }

    [Fact]
    public void TheDefaultManifestsAreValidKubernetesObjects()
    {
        var objects = Manifests();
        var daemonSet = Assert.Single(objects.OfType<V1DaemonSet>());
        Assert.Equal("system-node-critical", daemonSet.Spec.Template.Spec.PriorityClassName);
        Assert.Equal("configuration", Assert.Single(daemonSet.Spec.Template.Spec.InitContainers).Args[0]);
        var registry = Assert.Single(daemonSet.Spec.Template.Spec.Containers);
        Assert.Equal("registry", registry.Args[0]);
        Assert.True(registry.SecurityContext.ReadOnlyRootFilesystem);
        Assert.Contains(daemonSet.Spec.Template.Spec.Volumes, v => v.Name == "containerd-content" && v.HostPath.Path == "/var/lib/containerd/io.containerd.content.v1.content");
        Assert.True(registry.VolumeMounts.Single(m => m.Name == "containerd-content").ReadOnlyProperty);
        var services = objects.OfType<V1Service>().ToList();
        Assert.Equal(3, services.Count);
        var bootstrap = services.Single(s => s.Metadata.Name == "spegel-bootstrap");
        Assert.Equal("None", bootstrap.Spec.ClusterIP);
        Assert.True(bootstrap.Spec.PublishNotReadyAddresses);
    }

    [Fact]
    public void EveryFlagTheManifestsPassExistsAndParses()
    {
        var daemonSet = Manifests().OfType<V1DaemonSet>().Single();
        foreach (var container in daemonSet.Spec.Template.Spec.InitContainers.Concat(daemonSet.Spec.Template.Spec.Containers))
        {
            var args = container.Args.Select(a => a.Replace("$(NODE_IP)", "10.0.0.5", StringComparison.Ordinal)).ToArray();
            var root = SpegelCli.Build(out _);
            var parse = root.Parse(args);
            Assert.Empty(parse.Errors);
            if (args[0] == "registry")
            {
                var errors = new List<string>();
                var command = new RegistryCommand();
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
    public void PortsAgreeBetweenValuesManifestsAndTheCli()
    {
        var values = Values()["service"]!;
        var daemonSet = Manifests().OfType<V1DaemonSet>().Single();
        var ports = daemonSet.Spec.Template.Spec.Containers.Single().Ports.ToDictionary(p => p.Name);
        Assert.Equal(values["registry"]!["port"]!.GetValue<int>(), ports["registry"].ContainerPort);
        Assert.Equal(values["registry"]!["hostPort"]!.GetValue<int>(), ports["registry"].HostPort);
        Assert.Equal(values["router"]!["port"]!.GetValue<int>(), ports["router"].ContainerPort);
        Assert.Equal(values["metrics"]!["port"]!.GetValue<int>(), ports["metrics"].ContainerPort);
        var nodePort = Manifests().OfType<V1Service>().Single(s => s.Spec.Type == "NodePort").Spec.Ports.Single();
        Assert.Equal(values["registry"]!["nodePort"]!.GetValue<int>(), nodePort.NodePort);

        // The CLI's defaults are the chart's.
        var flags = new RegistryCommand().Flags.ToDictionary(f => f.Name);
        Assert.Equal($":{ports["registry"].ContainerPort}", flags["--registry-addr"].DefaultText);
        Assert.Equal($":{ports["router"].ContainerPort}", flags["--router-addr"].DefaultText);
        Assert.Equal($":{ports["metrics"].ContainerPort}", flags["--metrics-addr"].DefaultText);
        var init = daemonSet.Spec.Template.Spec.InitContainers.Single().Args;
        Assert.Contains($"http://$(NODE_IP):{values["registry"]!["hostPort"]}", init);
        Assert.Contains($"http://$(NODE_IP):{values["registry"]!["nodePort"]}", init);
    }

    [Fact]
    public void TemplatesUseOnlyExistingValuesAndFlags()
    {
        var values = Values();
        SpegelCli.Build(out var flagsByCommand);
        var known = flagsByCommand.Values.SelectMany(f => f).SelectMany(f => f.Aliases.Append(f.Name)).ToHashSet();
        var chartFlags = new HashSet<string>();
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
                Assert.Contains(match.Value, known);
                chartFlags.Add(match.Value);
            }
        }

        // The plain manifests pass the same flags as the chart (minus the optional list flags).
        var manifestFlags = FlagPattern().Matches(RepositoryFiles.Read("deploy", "kubernetes", "spegel.yaml")).Select(m => m.Value).ToHashSet();
        Assert.Equal(chartFlags.Except(["--mirrored-registries", "--registry-filters", "--addr", "--probe-endpoint"]).Order(), manifestFlags.Order());
    }

    [Fact]
    public void TheDashboardOnlyUsesMetricsWeExport()
    {
        var exported = typeof(Spegel.Telemetry.SpegelMetrics).GetFields(BindingFlags.Static | BindingFlags.Public)
            .Select(f => ((Prometheus.Collector)f.GetValue(null)!).Name).ToHashSet();
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

    private static List<IKubernetesObject> Manifests() =>
        KubernetesYaml.LoadAllFromString(RepositoryFiles.Read("deploy", "kubernetes", "spegel.yaml")).OfType<IKubernetesObject>().ToList();

    private static JsonNode? ToJson(object? yaml) => yaml switch
    {
        null => null,
        Dictionary<object, object> map => new JsonObject(map.Select(p => KeyValuePair.Create(p.Key.ToString()!, ToJson(p.Value)))),
        List<object> list => new JsonArray(list.Select(ToJson).ToArray()),
        string s when s is "true" or "false" => JsonValue.Create(s == "true"),
        string s when int.TryParse(s, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int i) => JsonValue.Create(i),
        string s => JsonValue.Create(s),
        _ => JsonValue.Create(yaml.ToString()),
    };

    [GeneratedRegex(@"\.Values\.([A-Za-z0-9_.]+)")]
    private static partial Regex ValuesPath();

    [GeneratedRegex(@"(?<![\w-])--[a-z][a-z0-9-]+")]
    private static partial Regex FlagPattern();

    [GeneratedRegex(@"\b(spegel_[a-z_]+|http_[a-z_]+)\b")]
    private static partial Regex MetricName();
}
