using System.Runtime.InteropServices;

namespace Spegel.Testbed;

public static partial class Native
{
    public const int SigInt = 2;
    public const int SigTerm = 15;
    public const int SigStop = 19;
    public const int SigCont = 18;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);
}
