namespace Spegel.Testbed;

/// <summary>
/// Runs a Linux binary built for another CPU under QEMU's user-mode emulator (Debian's qemu-user-static), called
/// directly rather than through binfmt_misc, which a container or CI machine may not have. The guest's dynamic loader,
/// libc, libstdc++ and libgcc come from Debian's cross-compiler runtime packages (<c>libc6-arm64-cross</c>, …), the
/// same libraries the chiseled runtime-deps image provides.
/// </summary>
public sealed record QemuUser(string Emulator, string Sysroot)
{
    /// <summary>
    /// Set for emulated .NET processes only; on a real ARM node the image runs with the runtime's defaults.
    /// <para><c>DOTNET_EnableWriteXorExecute=0</c>: with W^X (the default since .NET 7) the runtime writes code through
    /// one mapping of a memfd and executes it through another. QEMU detects self-modifying code by write-protecting the
    /// guest pages it has translated, at the address it executes from; a write through the other mapping goes unseen,
    /// so a patched stub can keep running its stale translation. Emulated .NET processes are known to crash that way
    /// (dotnet/runtime#94909; QEMU is not a platform .NET supports). Short runs here worked with W^X on too (same
    /// output and time), but the test should not depend on that luck.</para>
    /// <para><c>DOTNET_GCHeapHardLimit</c>: emulated, the GC's up-front reservation ends up backed by memory
    /// (<c>spegel version</c> peaked at 1.7 GB resident under qemu-aarch64 against 21 MB natively); with a limit the GC
    /// sizes its reservation from the limit (about 140 MB resident, and a third faster). These commands need a few MB.</para>
    /// </summary>
    public static IReadOnlyDictionary<string, string> DotnetEnvironment { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["DOTNET_EnableWriteXorExecute"] = "0",
        ["DOTNET_GCHeapHardLimit"] = "0x10000000",
    };

    /// <summary>The emulator for <paramref name="platform"/>; null when it runs natively on this machine.</summary>
    public static QemuUser? For(ContainerPlatform platform)
    {
        if (platform == ContainerPlatform.Build)
        {
            return null;
        }

        return platform.ToString() switch
        {
            "linux/arm64" => new QemuUser(Tools.QemuAarch64, "/usr/aarch64-linux-gnu"),
            "linux/arm/v7" => new QemuUser(Tools.QemuArm, "/usr/arm-linux-gnueabihf"),
            _ => throw new NotSupportedException($"no user-mode emulator set up for {platform} on {ContainerPlatform.Build}"),
        };
    }

    /// <summary>Throws a message that says how to install what is missing.</summary>
    public void Require()
    {
        Tools.Require(Emulator);
        if (!Directory.Exists(Sysroot))
        {
            throw new InvalidOperationException(
                $"missing {Sysroot} (the guest's libc): run ./test.sh (it installs Debian's libc6-*-cross, libstdc++6-*-cross and libgcc-s1-*-cross)");
        }
    }

    /// <summary>The command line that runs <paramref name="command"/> (a guest binary and its arguments) under the emulator.</summary>
    public IReadOnlyList<string> Wrap(IEnumerable<string> command) => [Emulator, "-L", Sysroot, .. command];
}
