using System.Runtime.CompilerServices;

// All native calls are [LibraryImport] with blittable arguments only; no runtime marshalling stubs.
[assembly: DisableRuntimeMarshalling]
