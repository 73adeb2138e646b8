using System.Text.Json;

namespace Spegel.Testbed;

/// <summary>
/// Builds the repository's <c>Dockerfile</c> without a container engine (there is none here): each stage's root is a
/// folder, <c>COPY</c> copies from the build context honouring <c>.dockerignore</c> (or from an earlier stage),
/// <c>RUN</c> runs the command with <c>sh</c> in the stage's working folder with absolute paths mapped into the stage,
/// and <c>ENV</c>/<c>ENTRYPOINT</c> of the last stage describe how to run the result. The base images are not pulled:
/// the build stage uses this machine's .NET SDK, the runtime stage is only the files the Dockerfile copies into it.
/// Supports the instructions our Dockerfile uses and fails on any other, so the test notices when it grows.
/// </summary>
public sealed class DockerfileBuild
{
    private readonly string _context;
    private readonly string _root;
    private readonly List<string> _ignored;
    private readonly Dictionary<string, string> _stages = new(StringComparer.Ordinal);

    private DockerfileBuild(string context, string root)
    {
        _context = context;
        _root = root;
        string ignoreFile = Path.Combine(context, ".dockerignore");
        _ignored = File.Exists(ignoreFile)
            ? File.ReadAllLines(ignoreFile).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).Select(l => l.TrimEnd('/')).ToList()
            : [];
    }

    /// <summary>The last stage's root folder.</summary>
    public string FinalRoot { get; private set; } = string.Empty;

    /// <summary>The last stage's <c>ENV</c>.</summary>
    public Dictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);

    /// <summary>The last stage's <c>ENTRYPOINT</c>, its program mapped into <see cref="FinalRoot"/>.</summary>
    public IReadOnlyList<string> Entrypoint { get; private set; } = [];

    public static async Task<DockerfileBuild> BuildAsync(string context, string root, TimeSpan runTimeout)
    {
        var build = new DockerfileBuild(context, root);
        await build.RunAsync(File.ReadAllText(Path.Combine(context, "Dockerfile")), runTimeout).ConfigureAwait(false);
        return build;
    }

    private async Task RunAsync(string dockerfile, TimeSpan runTimeout)
    {
        string stage = string.Empty;
        string workdir = "/";
        foreach (string instruction in Instructions(dockerfile))
        {
            int space = instruction.IndexOf(' ', StringComparison.Ordinal);
            string keyword = instruction[..space].ToUpperInvariant();
            string rest = instruction[(space + 1)..].Trim();
            switch (keyword)
            {
                case "FROM":
                    string[] from = rest.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    string name = from.Length == 3 && from[1].Equals("AS", StringComparison.OrdinalIgnoreCase) ? from[2] : $"stage{_stages.Count}";
                    stage = Path.Combine(_root, name);
                    Directory.CreateDirectory(stage);
                    _stages[name] = stage;
                    FinalRoot = stage;
                    workdir = "/";
                    Environment.Clear();
                    break;
                case "WORKDIR":
                    workdir = rest;
                    Directory.CreateDirectory(Map(stage, workdir));
                    break;
                case "COPY":
                    Copy(stage, workdir, rest);
                    break;
                case "RUN":
                    string command = string.Join(' ', rest.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(t => t.StartsWith('/') ? Map(stage, t) : t));
                    var result = await ProcessRunner.RunAsync("sh", ["-c", command], runTimeout, workingDirectory: Map(stage, workdir)).ConfigureAwait(false);
                    result.EnsureSuccess($"RUN {rest}");
                    break;
                case "ENV":
                    foreach (string pair in rest.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    {
                        string[] kv = pair.Split('=', 2);
                        Environment[kv[0]] = kv[1];
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
