using System.Buffers.Binary;

namespace Spegel.Testbed;

/// <summary>
/// The few fields of an ELF file header that say which CPU a binary is for: class (32/64-bit), machine and, for ARM,
/// the flags that carry the EABI version and the hard-float ABI. Enough to tell linux-x64, linux-arm64 and linux-arm
/// (armhf) builds apart, so a test of an emulated run cannot pass with a binary for the wrong architecture.
/// </summary>
public sealed record ElfHeader(int Class, int Machine, uint Flags)
{
    public const int Class32 = 1;
    public const int Class64 = 2;
    public const int MachineArm = 40;
    public const int MachineX86_64 = 62;
    public const int MachineAarch64 = 183;

    /// <summary>EF_ARM_ABI_FLOAT_HARD: the binary passes floating-point arguments in VFP registers (armhf).</summary>
    public const uint ArmHardFloat = 0x400;

    /// <summary>EF_ARM_EABIMASK: the ARM EABI version, in the top byte of the flags.</summary>
    public const uint ArmEabiMask = 0xFF000000;

    private const int Header32Length = 52;
    private const int Header64Length = 64;

    public static ElfHeader Read(string path)
    {
        using var file = File.OpenRead(path);
        var buffer = new byte[Header64Length];
        int read = file.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        return Parse(buffer.AsSpan(0, read), path);
    }

    public static ElfHeader Parse(ReadOnlySpan<byte> header, string what = "input")
    {
        if (header.Length < 16 || !header[..4].SequenceEqual("\u007fELF"u8))
        {
            throw new InvalidDataException($"{what} is not an ELF file (no \\x7fELF magic)");
        }

        int elfClass = header[4];
        int length = elfClass switch
        {
            Class32 => Header32Length,
            Class64 => Header64Length,
            _ => throw new InvalidDataException($"{what} has ELF class {elfClass}; expected 1 (32-bit) or 2 (64-bit)"),
        };
        if (header[5] != 1)
        {
            throw new InvalidDataException($"{what} has ELF data encoding {header[5]}; only little-endian (1) is expected on Linux x64/ARM");
        }

        if (header.Length < length)
        {
            throw new InvalidDataException($"{what} is truncated: {header.Length} bytes of a {length}-byte ELF header");
        }

        int machine = BinaryPrimitives.ReadUInt16LittleEndian(header[18..]);
        // e_flags follows e_version, e_entry, e_phoff and e_shoff, whose last three are word-sized.
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(header[(elfClass == Class32 ? 36 : 48)..]);
        return new ElfHeader(elfClass, machine, flags);
    }

    /// <summary>Whether this is the header of a Linux binary for <paramref name="platform"/> (for ARMv7: EABI 5, hard float).</summary>
    public bool Matches(ContainerPlatform platform) => platform.ToString() switch
    {
        "linux/amd64" => Class == Class64 && Machine == MachineX86_64,
        "linux/arm64" => Class == Class64 && Machine == MachineAarch64,
        "linux/arm/v7" => Class == Class32 && Machine == MachineArm && (Flags & ArmHardFloat) != 0 && (Flags & ArmEabiMask) == 0x05000000,
        _ => throw new NotSupportedException($"no ELF expectation for {platform}"),
    };

    public override string ToString() => $"ELF class {Class}, machine {Machine}, flags 0x{Flags:x8}";
}
