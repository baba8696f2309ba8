using SharpFuzz;

namespace PluginVmm.Fuzz;

/// <summary>
/// AFL++ harness for the guest-input targets of issue 7 (fuzz/README.md):
/// <c>PluginVmm.Fuzz TARGET</c> runs under afl-fuzz (one input from standard input per run, SharpFuzz's
/// out-of-process mode); <c>PluginVmm.Fuzz TARGET FILE...</c> replays inputs (a crash from AFL, the seed corpus) and
/// prints what each did. A broken invariant is an exception that leaves the harness: AFL records it as a crash.
/// Targets: pci (1: config space and BAR relocation), virtio (3: virtqueues of virtio-block and virtio-net),
/// config (5: vmm.toml bytes).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length < 1 || args[0] is not ("pci" or "virtio" or "config"))
        {
            Console.Error.WriteLine("usage: PluginVmm.Fuzz pci|virtio|config [INPUT...]   (no INPUT: read inputs from AFL++)");
            return 2;
        }
        string work = Directory.CreateTempSubdirectory("pluginvmm-fuzz-").FullName;
        try
        {
            Action<byte[]> run = Target(args[0], work);
            if (args.Length == 1)
            {
                Fuzzer.OutOfProcess.Run(stream =>
                {
                    using var buffer = new MemoryStream();
                    stream.CopyTo(buffer);
                    run(buffer.ToArray());
                });
                return 0;
            }
            int failed = 0;
            foreach (string file in args[1..])
            {
                try
                {
                    run(File.ReadAllBytes(file));
                    Console.WriteLine($"{file}: ok");
                }
                catch (Exception e)
                {
                    failed++;
                    Console.WriteLine($"{file}: {e.GetType().Name}: {e.Message}");
                }
            }
            return failed == 0 ? 0 : 1;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static Action<byte[]> Target(string name, string work)
    {
        switch (name)
        {
            case "pci":
                string disk = Path.Combine(work, "disk.img");
                File.WriteAllBytes(disk, new byte[64 << 10]);
                return input => PciTarget.Run(input, disk);
            case "virtio":
                string image = Path.Combine(work, "image.img");
                return input => VirtioTarget.Run(input, image);
            default:
                // The files the seeds name (bzImage, initrd.img, disk.img), in the work directory deleted at exit.
                foreach (string file in new[] { "bzImage", "initrd.img", "disk.img" }) File.WriteAllText(Path.Combine(work, file), file);
                return input => PluginVmm.Tests.Fuzz.ConfigInputProperties.CheckBytes(input, work);
        }
    }
}
