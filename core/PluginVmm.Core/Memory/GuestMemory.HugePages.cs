using System.Globalization;

namespace PluginVmm.Core.Memory;

// How much of guest RAM the host backs with transparent huge pages (AnonHugePages in /proc/self/smaps): a guest
// whose RAM stays in 4 KiB pages runs with 4 KiB nested page table entries, and every TLB miss costs more. Logged at
// VM exit with --log-level Debug, so a slow guest can be told from a fragmented host (or THP "never").
public sealed partial class GuestMemory
{
    /// <summary>Bytes of guest RAM in huge pages now; null when /proc/self/smaps cannot be read.</summary>
    public long? HugePageBytes()
    {
        try
        {
            long total = 0;
            bool inside = false;
            foreach (var line in File.ReadLines("/proc/self/smaps"))
            {
                int dash = line.IndexOf('-');
                int space = line.IndexOf(' ');
                if (dash > 0 && space > dash && ulong.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, null, out ulong start)
                    && ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, null, out ulong end))
                {
                    // A mapping's header line: ours when it lies inside one region (the kernel may split a region's mapping).
                    inside = _regions.Any(r => start >= (ulong)r.HostAddress && end <= (ulong)r.HostAddress + r.Size);
                }
                else if (inside && line.StartsWith("AnonHugePages:", StringComparison.Ordinal))
                {
                    var kb = line.AsSpan("AnonHugePages:".Length).Trim();
                    if (kb.EndsWith("kB")) kb = kb[..^2].Trim();
                    if (long.TryParse(kb, out long value)) total += value * 1024;
                }
            }
            return total;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
