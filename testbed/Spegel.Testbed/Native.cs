using System.Runtime.InteropServices;

namespace Spegel.Testbed;

public static partial class Native
{
    public const int SigInt = 2;
    public const int SigTerm = 15;
    public const int SigStop = 19;
    public const int SigCont = 18;

    /// <summary>CLONE_NEWNET: <see cref="SetNs"/> into a network namespace.</summary>
    public const int CloneNewNet = 0x40000000;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    /// <summary>Moves the calling thread into the namespace open at <paramref name="fd"/>.</summary>
    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    public static partial int SetNs(int fd, int nstype);
}
