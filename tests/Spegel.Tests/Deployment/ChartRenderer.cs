using k8s;
using k8s.Models;
using Spegel.Testbed;

namespace Spegel.Tests.Deployment;

/// <summary>
/// Renders charts/spegel as <c>helm template</c> would, with tools/chart-render: our own renderer on Helm's building
/// blocks (Go text/template, sprig, sigs.k8s.io/yaml, gojsonschema), built from Debian's packages by
/// scripts/build-chart-renderer.sh (./test.sh runs scripts/install-deps.sh, which installs them and builds it).
/// </summary>
internal static class ChartRenderer
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan RenderTimeout = TimeSpan.FromMinutes(1);
    private static readonly Lazy<Task<string>> Binary = new(BuildAsync);

    public static string Fixture(string name) => RepositoryFiles.Path("tests", "Spegel.Tests", "Deployment", "ChartValues", name);

    /// <summary>Runs the renderer on the chart with the given extra arguments; the caller judges the exit code.</summary>
    public static async Task<CommandResult> RunAsync(params string[] arguments)
    {
        string binary = await Binary.Value;
        string[] all = ["-chart", RepositoryFiles.Path("charts", "spegel"), .. arguments];
        return await ProcessRunner.RunAsync(binary, all, RenderTimeout);
    }

    /// <summary>Renders with values files (paths) and, in order after them, values given as YAML text.</summary>
    public static async Task<Rendering> RenderAsync(IEnumerable<string>? files = null, IEnumerable<string>? yaml = null, IEnumerable<string>? arguments = null)
    {
        using var folder = new TempFolder();
        var args = new List<string> { "-release", "spegel", "-namespace", "spegel" };
        foreach (string file in files ?? [])
        {
            args.AddRange(["-f", file]);
        }

        int index = 0;
        foreach (string text in yaml ?? [])
        {
            string path = folder.Combine($"values-{index++}.yaml");
            await File.WriteAllTextAsync(path, text);
            args.AddRange(["-f", path]);
        }

        args.AddRange(arguments ?? []);
        var result = await RunAsync([.. args]);
        result.EnsureSuccess("chart-render " + string.Join(' ', args));
        return new Rendering(result.StandardOutput);
    }

    public static Task<Rendering> RenderYamlAsync(params string[] yaml) => RenderAsync(yaml: yaml);

    /// <summary>The error printed for values the chart must refuse (fails the test when they render).</summary>
    public static async Task<string> RejectionAsync(string yaml)
    {
        using var folder = new TempFolder();
        string path = folder.Combine("values.yaml");
        await File.WriteAllTextAsync(path, yaml);
        var result = await RunAsync("-f", path);
        Assert.True(result.ExitCode != 0, $"rendered although it should have been refused:\n{yaml}");
        return result.StandardError;
    }

    private static async Task<string> BuildAsync()
    {
        var build = await ProcessRunner.RunAsync("/bin/bash", [RepositoryFiles.Path("scripts", "build-chart-renderer.sh")], BuildTimeout);
        build.EnsureSuccess("scripts/build-chart-renderer.sh (run ./scripts/install-deps.sh first)");
        return RepositoryFiles.Path("artifacts", "chart-render", "chart-render");
    }
}

/// <summary>A rendering as typed Kubernetes objects (strict: a misspelt field is an error); hooks apart.</summary>
internal sealed class Rendering
{
    private static readonly Dictionary<string, Type> CustomResources = new()
    {
        ["autoscaling.k8s.io/v1/VerticalPodAutoscaler"] = typeof(CustomResource),
        ["grafana.integreatly.org/v1beta1/GrafanaDashboard"] = typeof(CustomResource),
        ["monitoring.coreos.com/v1/ServiceMonitor"] = typeof(CustomResource),
    };

    public Rendering(string text)
    {
        Text = text;
        var all = KubernetesYaml.LoadAllFromString(text, CustomResources, strict: true).Cast<IKubernetesObject<V1ObjectMeta>>().ToList();
        Hooks = all.Where(o => o.Metadata.Annotations?.ContainsKey("helm.sh/hook") == true).ToList();
        Objects = all.Except(Hooks).ToList();
    }

    public string Text { get; }

    /// <summary>The release's objects, without the hooks.</summary>
    public IReadOnlyList<IKubernetesObject<V1ObjectMeta>> Objects { get; }

    /// <summary>The uninstall hook's objects.</summary>
    public IReadOnlyList<IKubernetesObject<V1ObjectMeta>> Hooks { get; }

    public V1DaemonSet DaemonSet => Assert.Single(Objects.OfType<V1DaemonSet>());

    public V1Container Registry => Assert.Single(DaemonSet.Spec.Template.Spec.Containers, c => c.Name == "registry");

    public V1Container Configuration => Assert.Single(DaemonSet.Spec.Template.Spec.InitContainers, c => c.Name == "configuration");

    public V1Service Service(string name) => Assert.Single(Objects.OfType<V1Service>(), s => s.Metadata.Name == name);

    public CustomResource Custom(string kind) => Assert.Single(Objects.OfType<CustomResource>(), o => o.Kind == kind);

    public T Hook<T>(string name)
        where T : IKubernetesObject<V1ObjectMeta> => Assert.Single(Hooks.OfType<T>(), o => o.Metadata.Name == name);

    /// <summary>The mirror targets the configuration init container passes (the values after --mirror-targets).</summary>
    public IReadOnlyList<string> MirrorTargets
    {
        get
        {
            var args = Configuration.Args;
            return args.SkipWhile(a => a != "--mirror-targets").Skip(1).TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal)).ToList();
        }
    }
}

/// <summary>A custom resource the Kubernetes client has no model for: its spec as plain YAML nodes.</summary>
internal sealed class CustomResource : IKubernetesObject<V1ObjectMeta>
{
    public string ApiVersion { get; set; } = string.Empty;

    public string Kind { get; set; } = string.Empty;

    public V1ObjectMeta Metadata { get; set; } = new();

    public Dictionary<string, object> Spec { get; set; } = [];
}
