// vmm drives KVM: it runs on Linux only, which also makes Unix-only file APIs (launcher mode bits) plain calls.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
