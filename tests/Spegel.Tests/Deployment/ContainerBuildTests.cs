using System.Buffers.Binary;
using Spegel.Testbed;

namespace Spegel.Tests.Deployment;

/// <summary>
/// The parts of the multi-platform build that need no publish: the platform → .NET runtime mapping the Dockerfile and
/// scripts/publish.sh share, how the test build follows buildx's platform rules, the ELF check that tells the
/// binaries apart, and publish.sh's refusals.
/// </summary>
public sealed class ContainerBuildTests
{
    [Theory]
    [InlineData("linux/amd64", "linux-x64")]
    [InlineData("linux/arm64", "linux-arm64")]
    [InlineData("linux/arm64/v8", "linux-arm64")]
    [InlineData("linux/arm/v7", "linux-arm")]
    [InlineData("linux/arm", "linux-arm")]
    public async Task BuildxPlatformsMapToTheirDotnetRuntime(string platform, string rid)
    {
        var arguments = ContainerPlatform.Parse(platform).BuildArguments(ContainerPlatform.Build);
        var result = await Rid(arguments["TARGETARCH"], arguments["TARGETVARIANT"]);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.Equal(rid, result.StandardOutput.Trim());
    }

    [Theory]
    [InlineData("arm", "v6")]
    [InlineData("386", "")]
    [InlineData("riscv64", "")]
    [InlineData("", "")]
    public async Task PlatformsDotnetCannotTargetAreRefusedByName(string arch, string variant)
    {
        var result = await Rid(arch, variant);
        Assert.Equal(1, result.ExitCode);
        Assert.Equal(string.Empty, result.StandardOutput);
        Assert.Contains($"unsupported architecture '{arch}' variant '{variant}'", result.StandardError, StringComparison.Ordinal);
        Assert.Contains("linux/amd64, linux/arm64 and linux/arm/v7", result.StandardError, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("linux/arm", "linux/arm/v7")]
    [InlineData("linux/armhf", "linux/arm/v7")]
    [InlineData("linux/arm/7", "linux/arm/v7")]
    [InlineData("linux/arm/v6", "linux/arm/v6")]
    [InlineData("linux/arm64/v8", "linux/arm64")]
    [InlineData("linux/aarch64", "linux/arm64")]
    [InlineData("Linux/X86_64", "linux/amd64")]
    public void PlatformsAreNormalizedLikeBuildKit(string text, string normalized) =>
        Assert.Equal(normalized, ContainerPlatform.Parse(text).ToString());

    [Theory]
    [InlineData("")]
    [InlineData("linux")]
    [InlineData("linux/")]
    [InlineData("linux//v7")]
    [InlineData("linux/arm/v7/extra")]
    public void MalformedPlatformsAreRejected(string text) =>
        Assert.Contains(text, Assert.Throws<FormatException>(() => ContainerPlatform.Parse(text)).Message, StringComparison.Ordinal);

    [Fact]
    public async Task TheTestBuildGivesRunTheTargetsArgumentsAsBuildxDoes()
    {
        using var context = new TempFolder();
        context.Write("Dockerfile", """
            ARG BASE=example/sdk
            FROM --platform=$BUILDPLATFORM ${BASE}:1 AS build
            ARG TARGETARCH
            ARG TARGETVARIANT
            ARG GREETING=hello
            WORKDIR /w
            RUN echo "$GREETING $TARGETARCH/$TARGETVARIANT [$BUILDARCH]" > /w/out.txt
            FROM example/runtime
            ARG TARGETPLATFORM
            ENV PLATFORM=$TARGETPLATFORM
            COPY --from=build /w/out.txt /app/
            ENTRYPOINT ["/app/out.txt"]
            """);
        using var output = new TempFolder();
        var build = await DockerfileBuild.BuildAsync(context.Path, output.Path, TimeSpan.FromSeconds(30), ContainerPlatform.LinuxArmV7);

        // BUILDARCH was not declared in the stage, so the shell sees none (as in a container).
        Assert.Equal("hello arm/v7 []\n", File.ReadAllText(build.Entrypoint[0]));
        Assert.Equal("linux/arm/v7", build.Environment["PLATFORM"]);
    }

    [Fact]
    public async Task RunInAStageOfAnotherPlatformIsRefusedNotRunNatively()
    {
        using var context = new TempFolder();
        context.Write("Dockerfile", """
            FROM example/sdk AS build
            RUN touch /built
            """);
        using var output = new TempFolder();
        var other = ContainerPlatform.Build == ContainerPlatform.LinuxArm64 ? ContainerPlatform.LinuxAmd64 : ContainerPlatform.LinuxArm64;
        var error = await Assert.ThrowsAsync<NotSupportedException>(() => DockerfileBuild.BuildAsync(context.Path, output.Path, TimeSpan.FromSeconds(30), other));
        Assert.Contains("would run under emulation", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(output.Path, "build", "built")));

        // For this machine's own platform the same stage runs.
        using var native = new TempFolder();
        await DockerfileBuild.BuildAsync(context.Path, native.Path, TimeSpan.FromSeconds(30));
        Assert.True(File.Exists(Path.Combine(native.Path, "build", "built")));
    }

    [Fact]
    public void TheElfHeaderTellsTheThreeTargetsApart()
    {
        // This process's own executable is a real linux-x64 (or, on an ARM machine, ARM) ELF file.
        var self = ElfHeader.Read("/proc/self/exe");
        Assert.True(self.Matches(ContainerPlatform.Build), self.ToString());

        var x64 = ElfHeader.Parse(Header(ElfHeader.Class64, ElfHeader.MachineX86_64, 0));
        var arm64 = ElfHeader.Parse(Header(ElfHeader.Class64, ElfHeader.MachineAarch64, 0));
        var armhf = ElfHeader.Parse(Header(ElfHeader.Class32, ElfHeader.MachineArm, 0x05000400));
        var armel = ElfHeader.Parse(Header(ElfHeader.Class32, ElfHeader.MachineArm, 0x05000200));
        ContainerPlatform[] platforms = [ContainerPlatform.LinuxAmd64, ContainerPlatform.LinuxArm64, ContainerPlatform.LinuxArmV7];
        Assert.Equal([true, false, false], platforms.Select(x64.Matches));
        Assert.Equal([false, true, false], platforms.Select(arm64.Matches));
        Assert.Equal([false, false, true], platforms.Select(armhf.Matches));
        // A soft-float ARM binary would not run on the armhf base image.
        Assert.Equal([false, false, false], platforms.Select(armel.Matches));
    }

    public static TheoryData<string, byte[]> MalformedElf() => new()
    {
        { "empty", [] },
        { "not ELF", "#!/bin/sh\necho hi\n"u8.ToArray() },
        { "truncated", Header(ElfHeader.Class64, ElfHeader.MachineX86_64, 0)[..40] },
        { "truncated", Header(ElfHeader.Class32, ElfHeader.MachineArm, 0)[..50] },
        { "class 3", WithByte(Header(ElfHeader.Class64, ElfHeader.MachineX86_64, 0), 4, 3) },
        { "data encoding 2", WithByte(Header(ElfHeader.Class64, ElfHeader.MachineX86_64, 0), 5, 2) },
    };

    [Theory]
    [MemberData(nameof(MalformedElf))]
    public void MalformedElfHeadersAreRejected(string what, byte[] bytes)
    {
        var error = Assert.Throws<InvalidDataException>(() => ElfHeader.Parse(bytes, "spegel"));
        Assert.StartsWith("spegel ", error.Message, StringComparison.Ordinal);
        Assert.NotEmpty(what);
    }

    [Theory]
    [InlineData("riscv64", "", "unsupported architecture 'riscv64'")]
    [InlineData("amd64", "banana", "VERSION='banana' is not a version")]
    [InlineData("amd64", "v1.2", "VERSION='v1.2' is not a version")]
    [InlineData("amd64", "1.2.3+build.5", "VERSION='1.2.3+build.5' is not a version")]
    public async Task PublishScriptRefusesBadInputBeforeBuilding(string arch, string version, string message)
    {
        using var dist = new TempFolder();
        var result = await ProcessRunner.RunAsync(
            RepositoryFiles.Path("scripts", "publish.sh"), [arch], TimeSpan.FromMinutes(1), new Dictionary<string, string> { ["DIST"] = dist.Path, ["VERSION"] = version });
        Assert.Equal(1, result.ExitCode);
        Assert.Contains(message, result.StandardError, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dist.Path));
    }

    private static Task<CommandResult> Rid(string arch, string variant) =>
        ProcessRunner.RunAsync("sh", [RepositoryFiles.Path("scripts", "dotnet-rid.sh"), arch, variant], TimeSpan.FromSeconds(30));

    private static byte[] Header(int elfClass, int machine, uint flags)
    {
        var header = new byte[elfClass == ElfHeader.Class32 ? 52 : 64];
        "\u007fELF"u8.CopyTo(header);
        header[4] = (byte)elfClass;
        header[5] = 1;
        header[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(16), 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(18), (ushort)machine);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(elfClass == ElfHeader.Class32 ? 36 : 48), flags);
        return header;
    }

    private static byte[] WithByte(byte[] bytes, int index, byte value)
    {
        bytes[index] = value;
        return bytes;
    }
}
