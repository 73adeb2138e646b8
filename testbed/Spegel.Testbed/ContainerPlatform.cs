namespace Spegel.Testbed;

/// <summary>
/// A container platform <c>os/arch[/variant]</c>, normalized the way BuildKit normalizes <c>--platform</c>
/// (<c>linux/arm</c> is <c>linux/arm/v7</c>, <c>linux/arm64/v8</c> is <c>linux/arm64</c>), with the automatic build
/// arguments (<c>TARGETARCH</c>, <c>BUILDPLATFORM</c>, …) a Dockerfile sees for it.
/// </summary>
public sealed record ContainerPlatform
{
    private ContainerPlatform(string os, string architecture, string variant)
    {
        Os = os;
        Architecture = architecture;
        Variant = variant;
    }

    public string Os { get; }

    public string Architecture { get; }

    /// <summary>Empty when the platform has none (amd64, arm64).</summary>
    public string Variant { get; }

    public static ContainerPlatform LinuxAmd64 { get; } = new("linux", "amd64", string.Empty);

    public static ContainerPlatform LinuxArm64 { get; } = new("linux", "arm64", string.Empty);

    public static ContainerPlatform LinuxArmV7 { get; } = new("linux", "arm", "v7");

    /// <summary>This machine's platform: the one the build stages run on without emulation.</summary>
    public static ContainerPlatform Build => System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => LinuxAmd64,
        System.Runtime.InteropServices.Architecture.Arm64 => LinuxArm64,
        System.Runtime.InteropServices.Architecture.Arm => LinuxArmV7,
        var other => throw new PlatformNotSupportedException($"no container platform for {other}"),
    };

    public static ContainerPlatform Parse(string text)
    {
        string[] parts = text.Split('/');
        if (parts.Length is < 2 or > 3 || parts.Any(p => p.Length == 0))
        {
            throw new FormatException($"'{text}' is not a platform of the form os/arch[/variant]");
        }

        string os = parts[0].ToLowerInvariant();
        string architecture = parts[1].ToLowerInvariant() switch
        {
            "x86_64" or "x86-64" => "amd64",
            "aarch64" => "arm64",
            "armhf" => "arm",
            var a => a,
        };
        string variant = parts.Length == 3 ? parts[2].ToLowerInvariant() : string.Empty;
        variant = (architecture, variant) switch
        {
            ("arm64", "8" or "v8") => string.Empty,
            ("arm", "" or "7") => "v7",
            ("arm", "5" or "6" or "8") => "v" + variant,
            _ => variant,
        };
        return new ContainerPlatform(os, architecture, variant);
    }

    /// <summary>The automatic platform arguments of a build for this target on <paramref name="build"/>.</summary>
    public IReadOnlyDictionary<string, string> BuildArguments(ContainerPlatform build) => new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["TARGETPLATFORM"] = ToString(),
        ["TARGETOS"] = Os,
        ["TARGETARCH"] = Architecture,
        ["TARGETVARIANT"] = Variant,
        ["BUILDPLATFORM"] = build.ToString(),
        ["BUILDOS"] = build.Os,
        ["BUILDARCH"] = build.Architecture,
        ["BUILDVARIANT"] = build.Variant,
    };

    public override string ToString() => Variant.Length == 0 ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";
}
