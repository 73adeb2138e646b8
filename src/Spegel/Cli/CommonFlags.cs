using Microsoft.Extensions.Logging;
using Spegel.Hosting;

namespace Spegel.Cli;

/// <summary>Flags used by several subcommands (each command gets its own instances).</summary>
internal static class CommonFlags
{
    public const string DefaultRegistryConfigPath = "/etc/containerd/certs.d";
    public const string DefaultBasicAuthDir = "/etc/secrets/basic-auth";

    public static Flag<LogLevel> LogLevel() => new(
        "--log-level", "LOG_LEVEL", "Minimum log level: DEBUG, INFO, WARN or ERROR.",
        Microsoft.Extensions.Logging.LogLevel.Information, "INFO", FlagShape.Single, FlagParsers.Enum(SpegelLogging.Levels));

    public static Flag<string> RegistryConfigPath(string description) => new(
        "--containerd-registry-config-path", "CONTAINERD_REGISTRY_CONFIG_PATH", description,
        DefaultRegistryConfigPath, DefaultRegistryConfigPath, FlagShape.Single, FlagParsers.String);

    public static Flag<IReadOnlyList<string>> MirroredRegistries(string description) => new(
        "--mirrored-registries", "MIRRORED_REGISTRIES", description, [], string.Empty, FlagShape.List, FlagParsers.Strings);

    public static Flag<string> BasicAuthDir() => new(
        "--basic-auth-dir", "BASIC_AUTH_DIR", "Folder with the files username and password for Basic auth between containerd and the mirror, used byte for byte as Spegel does (either alone works; both missing or empty: no auth).",
        DefaultBasicAuthDir, DefaultBasicAuthDir, FlagShape.Single, FlagParsers.String);
}
