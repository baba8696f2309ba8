// The vmm host runs on Linux only (KVM, /proc, POSIX signals, UNIX file modes).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
