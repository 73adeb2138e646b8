using System.Text.Json;
using System.Text.RegularExpressions;

namespace Spegel.Testbed;

/// <summary>
/// Builds the repository's <c>Dockerfile</c> for one target platform without a container engine (there is none here),
/// the way <c>docker buildx build --platform</c> would: each stage's root is a folder, <c>COPY</c> copies from the build
/// context honouring <c>.dockerignore</c> (or from an earlier stage), <c>RUN</c> runs the command with <c>sh</c> in the
/// stage's working folder with absolute paths mapped into the stage and the stage's <c>ARG</c>s and <c>ENV</c> in its
/// environment (so the shell substitutes <c>$TARGETARCH</c> as it does in a container), and <c>ENV</c>/<c>ENTRYPOINT</c>
/// of the last stage describe how to run the result. The base images are not pulled: a build stage uses this machine's
/// .NET SDK, the runtime stage is only the files the Dockerfile copies into it. <c>RUN</c> is refused in a stage of
/// another platform than this machine's (buildx would emulate it; only <c>FROM --platform=$BUILDPLATFORM</c> stages can
/// run here). Supports the instructions our Dockerfile uses and fails on any other, so the test notices when it grows.
/// </summary>
public sealed partial class DockerfileBuild
{
    private readonly string _context;
    private readonly string _root;
    private readonly List<string> _ignored;
    private readonly Dictionary<string, string> _stages = new(StringComparer.Ordinal);
    private readonly IReadOnlyDictionary<string, string> _buildArguments;

    private DockerfileBuild(string context, string root, ContainerPlatform platform)
    {
        _context = context;
        _root = root;
        Platform = platform;
        _buildArguments = platform.BuildArguments(ContainerPlatform.Build);
        string ignoreFile = Path.Combine(context, ".dockerignore");
        _ignored = File.Exists(ignoreFile)
            ? File.ReadAllLines(ignoreFile).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).Select(l => l.TrimEnd('/')).ToList()
            : [];
    }

    /// <summary>The target platform (<c>--platform</c>).</summary>
    public ContainerPlatform Platform { get; }

    /// <summary>The last stage's root folder.</summary>
    public string FinalRoot { get; private set; } = string.Empty;

    /// <summary>The last stage's <c>ENV</c>.</summary>
    public Dictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);

    /// <summary>The last stage's <c>ENTRYPOINT</c>, its program mapped into <see cref="FinalRoot"/>.</summary>
    public IReadOnlyList<string> Entrypoint { get; private set; } = [];

    /// <summary>Builds <c>Dockerfile</c> of <paramref name="context"/> for <paramref name="platform"/> (default: this machine's).</summary>
    public static async Task<DockerfileBuild> BuildAsync(string context, string root, TimeSpan runTimeout, ContainerPlatform? platform = null)
    {
        var build = new DockerfileBuild(context, root, platform ?? ContainerPlatform.Build);
        await build.RunAsync(File.ReadAllText(Path.Combine(context, "Dockerfile")), runTimeout).ConfigureAwait(false);
        return build;
    }

    private async Task RunAsync(string dockerfile, TimeSpan runTimeout)
    {
        string stage = string.Empty;
        string workdir = "/";
        var globalArguments = new Dictionary<string, string>(_buildArguments, StringComparer.Ordinal);
        var stageArguments = new Dictionary<string, string>(StringComparer.Ordinal);
        var stagePlatform = Platform;
        foreach (string instruction in Instructions(dockerfile))
        {
            int space = instruction.IndexOf(' ', StringComparison.Ordinal);
            string keyword = instruction[..space].ToUpperInvariant();
            string rest = instruction[(space + 1)..].Trim();
            if (stage.Length == 0 && keyword is not ("FROM" or "ARG"))
            {
                throw new InvalidDataException($"Dockerfile instruction {keyword} before the first FROM");
            }

            switch (keyword)
            {
                case "ARG":
                    // Before the first FROM an ARG is for FROM lines only; in a stage it makes the value visible to the
                    // stage's instructions and RUN environment. A build argument (here: the automatic platform ones)
                    // beats an in-stage default, which beats the global value.
                    var (argument, value) = ParseArgument(rest);
                    var scope = stage.Length == 0 ? globalArguments : stageArguments;
                    scope[argument] = _buildArguments.TryGetValue(argument, out string? given) ? given
                        : value ?? (globalArguments.TryGetValue(argument, out string? global) ? global : string.Empty);
                    break;
                case "FROM":
                    string[] from = Expand(rest, globalArguments).Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    stagePlatform = Platform;
                    int image = 0;
                    for (; image < from.Length - 1 && from[image].StartsWith("--", StringComparison.Ordinal); image++)
                    {
                        stagePlatform = from[image].StartsWith("--platform=", StringComparison.Ordinal)
                            ? ContainerPlatform.Parse(from[image]["--platform=".Length..])
                            : throw new NotSupportedException($"FROM flag {from[image]} is not supported by the test build");
                    }

                    string name = from.Length == image + 3 && from[image + 1].Equals("AS", StringComparison.OrdinalIgnoreCase) ? from[image + 2] : $"stage{_stages.Count}";
                    stage = Path.Combine(_root, name);
                    Directory.CreateDirectory(stage);
                    _stages[name] = stage;
                    FinalRoot = stage;
                    workdir = "/";
                    Environment.Clear();
                    stageArguments.Clear();
                    break;
                case "WORKDIR":
                    workdir = Expand(rest, StageVariables(stageArguments));
                    Directory.CreateDirectory(Map(stage, workdir));
                    break;
                case "COPY":
                    Copy(stage, workdir, Expand(rest, StageVariables(stageArguments)));
                    break;
                case "RUN":
                    if (stagePlatform != ContainerPlatform.Build)
                    {
                        throw new NotSupportedException(
                            $"RUN {rest}: this stage is for {stagePlatform} and would run under emulation; the test build runs RUN only in stages FROM --platform=$BUILDPLATFORM ({ContainerPlatform.Build})");
                    }

                    // No substitution here: the shell expands $VARIABLES from the environment, as in a container.
                    string command = string.Join(' ', rest.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(t => t.StartsWith('/') ? Map(stage, t) : t));
                    var result = await ProcessRunner.RunAsync("sh", ["-c", command], runTimeout, StageVariables(stageArguments), workingDirectory: Map(stage, workdir)).ConfigureAwait(false);
                    result.EnsureSuccess($"RUN {rest}");
                    break;
                case "ENV":
                    var variables = StageVariables(stageArguments);
                    foreach (string pair in rest.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    {
                        string[] kv = pair.Split('=', 2);
                        Environment[kv[0]] = Expand(kv[1], variables);
                    }

                    break;
                case "ENTRYPOINT":
                    var entrypoint = JsonSerializer.Deserialize<List<string>>(rest) ?? throw new InvalidDataException("ENTRYPOINT must be a JSON array");
                    entrypoint[0] = Map(stage, entrypoint[0]);
                    Entrypoint = entrypoint;
                    break;
                case "USER":
                    break;
                default:
                    throw new NotSupportedException($"Dockerfile instruction {keyword} is not supported by the test build");
            }
        }
    }

    /// <summary>What a stage's instructions see: its ARGs, overridden by its ENV.</summary>
    private Dictionary<string, string> StageVariables(Dictionary<string, string> stageArguments)
    {
        var variables = new Dictionary<string, string>(stageArguments, StringComparer.Ordinal);
        foreach (var (key, value) in Environment)
        {
            variables[key] = value;
        }

        return variables;
    }

    private static (string Name, string? Default) ParseArgument(string text)
    {
        if (text.Contains(' ', StringComparison.Ordinal))
        {
            throw new NotSupportedException($"ARG {text}: one argument per ARG in the test build");
        }

        string[] parts = text.Split('=', 2);
        return (parts[0], parts.Length == 2 ? parts[1] : null);
    }

    /// <summary>Dockerfile substitution of <c>$NAME</c> and <c>${NAME}</c> (unset is empty); modifiers are not supported.</summary>
    private static string Expand(string text, IReadOnlyDictionary<string, string> variables)
    {
        if (text.Contains("${", StringComparison.Ordinal) && UnsupportedSubstitution().IsMatch(text))
        {
            throw new NotSupportedException($"'{text}': only $NAME and ${{NAME}} substitutions are supported by the test build");
        }

        return Substitution().Replace(text, m => variables.TryGetValue(m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value, out string? value) ? value : string.Empty);
    }

    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex Substitution();

    [GeneratedRegex(@"\$\{(?![A-Za-z_][A-Za-z0-9_]*\})")]
    private static partial Regex UnsupportedSubstitution();

    private void Copy(string stage, string workdir, string arguments)
    {
        var parts = arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
        string? fromStage = null;
        if (parts[0].StartsWith("--from=", StringComparison.Ordinal))
        {
            fromStage = _stages[parts[0]["--from=".Length..]];
            parts.RemoveAt(0);
        }

        string destination = parts[^1].StartsWith('/') ? Map(stage, parts[^1]) : Path.Combine(Map(stage, workdir), parts[^1]);
        foreach (string source in parts[..^1])
        {
            string path = fromStage is null ? Path.Combine(_context, source) : Map(fromStage, source);
            if (Directory.Exists(path))
            {
                CopyFolder(path, destination, fromStage is null ? Path.GetRelativePath(_context, path) : null);
            }
            else
            {
                string target = parts[^1].EndsWith('/') || parts.Count > 2 ? Path.Combine(destination, Path.GetFileName(path)) : destination;
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(path, target, overwrite: true);
            }
        }
    }

    private void CopyFolder(string source, string destination, string? contextRelative)
    {
        Directory.CreateDirectory(destination);
        foreach (var entry in new DirectoryInfo(source).EnumerateFileSystemInfos())
        {
            string? relative = contextRelative is null ? null : Path.Combine(contextRelative, entry.Name);
            if (relative is not null && IsIgnored(relative))
            {
                continue;
            }

            string target = Path.Combine(destination, entry.Name);
            if (entry is DirectoryInfo)
            {
                CopyFolder(entry.FullName, target, relative);
            }
            else
            {
                File.Copy(entry.FullName, target, overwrite: true);
            }
        }
    }

    /// <summary>The patterns our <c>.dockerignore</c> uses: <c>**/name</c> (at any depth) and <c>name</c> (at the top).</summary>
    private bool IsIgnored(string relative)
    {
        string[] segments = relative.Split('/');
        foreach (string pattern in _ignored)
        {
            if (pattern.StartsWith("**/", StringComparison.Ordinal) ? segments[^1] == pattern[3..] : relative == pattern)
            {
                return true;
            }
        }

        return false;
    }

    private static string Map(string stage, string path) => Path.Combine(stage, path.TrimStart('/'));

    /// <summary>Instructions with continuation lines joined and comments dropped.</summary>
    private static IEnumerable<string> Instructions(string dockerfile)
    {
        string pending = string.Empty;
        foreach (string raw in dockerfile.Split('\n'))
        {
            string line = raw.Trim();
            if (line.StartsWith('#') || (line.Length == 0 && pending.Length == 0))
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                pending += line[..^1] + " ";
                continue;
            }

            string instruction = (pending + line).Trim();
            pending = string.Empty;
            if (instruction.Length > 0)
            {
                yield return instruction;
            }
        }
    }
}
