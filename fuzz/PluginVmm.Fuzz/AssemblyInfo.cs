// The harness runs where the vmm host runs: Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
