namespace PluginVmm.Core.Memory;

/// <summary>e820 / hvm_memmap_table_entry types.</summary>
public enum E820Type : uint
{
    /// <summary>Usable RAM.</summary>
    Ram = 1,
    /// <summary>Reserved (device windows such as ECAM).</summary>
    Reserved = 2,
    /// <summary>ACPI reclaimable.</summary>
    Acpi = 3,
    /// <summary>ACPI NVS.</summary>
    Nvs = 4,
    /// <summary>Unusable.</summary>
    Unusable = 5,
}

/// <summary>One memory-map entry.</summary>
public readonly record struct E820Entry(ulong Address, ulong Size, E820Type Type);

/// <summary>Builds the guest memory map that boot protocols hand to the kernel.</summary>
public static class E820Map
{
    /// <summary>
    /// RAM [0, 0xA0000), RAM from 1 MiB to the end of low RAM, every region above 4 GiB as RAM, and the ECAM
    /// window as reserved (Linux checks MMCONFIG against e820). The 0xA0000-0xFFFFF legacy area is left out.
    /// </summary>
    public static IReadOnlyList<E820Entry> Build(IReadOnlyList<GuestMemoryRegion> ram)
    {
        var map = new List<E820Entry>();
        foreach (var r in ram)
        {
            if (r.GuestAddress == 0)
            {
                map.Add(new E820Entry(0, Math.Min(r.Size, MemoryLayout.LowMemoryEnd), E820Type.Ram));
                if (r.End > MemoryLayout.HighMemoryStart)
                    map.Add(new E820Entry(MemoryLayout.HighMemoryStart, r.End - MemoryLayout.HighMemoryStart, E820Type.Ram));
            }
            else
            {
                map.Add(new E820Entry(r.GuestAddress, r.Size, E820Type.Ram));
            }
        }
        map.Add(new E820Entry(MemoryLayout.EcamStart, MemoryLayout.EcamSize, E820Type.Reserved));
        map.Sort((a, b) => a.Address.CompareTo(b.Address));
        return map;
    }

    /// <summary>The same map as the tuple list <c>LinuxBzImageLoader.Load</c> takes.</summary>
    public static IReadOnlyList<(ulong Address, ulong Size, uint Type)> AsTuples(IReadOnlyList<E820Entry> map) =>
        map.Select(e => (e.Address, e.Size, (uint)e.Type)).ToList();
}
