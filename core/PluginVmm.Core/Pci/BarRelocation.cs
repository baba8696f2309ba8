using Microsoft.Extensions.Logging;
using PluginVmm.Sdk.Pci;

namespace PluginVmm.Core.Pci;

/// <summary>
/// Carries out the BAR moves a device's config write reported, as one transaction: afterwards config space, the
/// bus mapping, the allocator and every resource of the BAR agree — at the new address, or at the old one — or
/// the device is fenced. This is the cloud-hypervisor bug class the project exists for (#7938, #8203): there a
/// BAR written outside the allocatable range left config space updated while the move failed, the rollback picked
/// the BAR by address (the wrong one when two collide), never covered the ROM BAR, and a failure after the
/// allocation left allocator and bus disagreeing.
/// <para><b>Steps</b> (each completed step pushes its inverse; any failure — refused validation, an exception at
/// any step, including <see cref="IPciDevice.MoveBar"/> — runs the inverses in reverse order and then
/// <see cref="IPciDevice.RestoreBarAddr"/>):</para>
/// <list type="number">
/// <item>Validate each move against the core's own record (never the device's idea of the old address): the new
/// base is naturally aligned to the BAR size, and the whole new range lies in a window legal for the BAR's kind
/// (I/O: the PIO window; 32-bit and ROM: the 32-bit hole; 64-bit: the 64-bit area or the 32-bit hole). RAM, the
/// LAPIC/IOAPIC, ECAM and anything beyond phys_bits are outside every window.</item>
/// <item>Allocator: release the old ranges of the whole batch, then reserve every new range. Overlap with any
/// reserved range — other devices' BARs, this device's other BARs — fails here.</item>
/// <item>Bus: unmap the old ranges, map the new ones.</item>
/// <item>Resources registered through <see cref="BarResources"/> (memory slots, ioeventfds): withdraw, place at
/// the new base.</item>
/// <item><see cref="IPciDevice.MoveBar"/> for each move (undone by a reverse MoveBar).</item>
/// </list>
/// A move to the current address is a no-op. Refused moves are logged at warning level with the BAR, the reason
/// and "keeping old BAR". Then the BAR registers are read back: a device whose config space does not report what
/// the core maps (e.g. a third-party <see cref="IPciDevice"/> that ignores RestoreBarAddr), a device callback that
/// throws outside MoveBar, or a rollback that could not be completed, fences the device (see
/// <see cref="PciRoot"/>); the VM keeps running.
/// <para><b>Memory Space Enable policy</b> (implemented by the SDK's <see cref="PciConfiguration"/>): a device
/// reports moves only while decoding of the BAR's space is enabled (COMMAND bit 1 for memory and ROM BARs, bit 0
/// for I/O BARs). BARs written while decoding is off are reported together when the guest enables decoding. The
/// low dword of a 64-bit BAR alone is not a move: it waits for the high dword, which Linux always writes after the
/// low one (with decoding off around the pair). Size probes (all address bits ones) are never moves. While
/// decoding is off the BAR keeps its bus mapping and its reservation at the old address; the core's handlers drop
/// the accesses (reads return all ones) because they check the decode bits. Memory slots and ioeventfds stay
/// registered at the old address while decoding is off (KVM does not look at COMMAND); a guest touching the old
/// range with decoding off reaches that memory, which is harmless and disappears with the next move.</para>
/// <para><b>Batches, and the trade-off against cloud-hypervisor #8572.</b> Because nothing moves while decoding
/// is off, the old reservation stays until enable. A batch is therefore validated as a whole: all old ranges of
/// the batch are released before any new one is reserved, so a guest that swaps two BARs of one device in one
/// disabled window succeeds. If the batch as a whole fails, each move is retried alone and only the moves that
/// fail alone are refused. What stays refused is #8572's cross-device sequence (function 1's BAR moved away with
/// its decoding off, function 0's BAR moved onto function 1's old address and enabled first): function 1's old
/// range is still reserved, so function 0's move is refused and it keeps its old address. The guest then sees its
/// write undone rather than a device that overlaps another — consistent, never corrupt. Unmapping eagerly on a
/// write with decoding off (#8572's proposal) would accept that sequence but needs the device to report moves
/// with decoding off, which this SDK deliberately does not do.</para>
/// Called with the PCI root's lock and the device's lock held.
/// </summary>
internal sealed class BarRelocation(BarWindows windows, IBarMapper mapper, ILogger logger, Action<PciFunction, string> fence)
{
    private sealed record Planned(BarRecord Record, BarReprogrammingParams Move, AddressRange NewRange);

    /// <summary>Thrown inside the transaction for a refusal that is not an exception of a callee.</summary>
    private sealed class RefusedException(string reason) : Exception(reason);

    /// <summary>Carries out <paramref name="reported"/> for <paramref name="fn"/>; never throws.</summary>
    public void Apply(PciFunction fn, IReadOnlyList<BarReprogrammingParams> reported)
    {
        if (reported.Count == 0 || fn.Fenced) return;
        var batch = new List<Planned>();
        var refused = new List<(BarReprogrammingParams Move, string Reason)>();
        var touched = new List<BarRecord>();

        // The last move reported for a BAR wins (a device may list a BAR twice); old/kind/length come from our record.
        var order = new List<int>();
        var last = new Dictionary<int, BarReprogrammingParams>();
        foreach (var m in reported)
        {
            if (!last.ContainsKey(m.Index)) order.Add(m.Index);
            last[m.Index] = m;
        }
        foreach (int index in order)
        {
            var m = last[index];
            if (!PciBarIndex.IsValid(index) || fn.Bars[index] is not { } rec)
            {
                refused.Add((m, "the device declares no such BAR"));
                continue;
            }
            touched.Add(rec);
            var move = new BarReprogrammingParams(index, rec.Spec.Kind, rec.Base, m.NewBase, rec.Spec.Size);
            if (move.NewBase == move.OldBase) continue;
            if (Validate(rec, move, out var newRange) is { } reason) refused.Add((move, reason));
            else batch.Add(new Planned(rec, move, newRange));
        }

        if (batch.Count > 0 && TryCommit(fn, batch) is { } failure)
        {
            if (fn.Fenced) return;
            if (batch.Count == 1)
            {
                refused.Add((batch[0].Move, failure));
            }
            else
            {
                logger.LogDebug("{Device}: moving {Count} BARs together failed ({Reason}); trying them one by one", fn.Name, batch.Count, failure);
                foreach (var p in batch)
                {
                    if (TryCommit(fn, [p]) is { } single) refused.Add((p.Move, single));
                    if (fn.Fenced) return;
                }
            }
        }

        foreach (var (move, reason) in refused)
        {
            logger.LogWarning("{Device}: guest moved {Bar} — refused: {Reason}; keeping old BAR", fn.Label, move, reason);
            try
            {
                fn.Device.RestoreBarAddr(move);
            }
            catch (Exception e)
            {
                fence(fn, $"RestoreBarAddr({move}) threw {e.GetType().Name}: {e.Message}");
                return;
            }
        }
        Verify(fn, touched);
    }

    /// <summary>Alignment and window checks; returns the reason for refusing, or null.</summary>
    private string? Validate(BarRecord rec, BarReprogrammingParams move, out AddressRange newRange)
    {
        newRange = default;
        if (move.NewBase % rec.Spec.Size != 0) return $"0x{move.NewBase:x} is not aligned to the BAR size 0x{rec.Spec.Size:x}";
        if (!AddressRange.TryFromBaseSize(move.NewBase, rec.Spec.Size, out newRange)) return $"0x{move.NewBase:x} + 0x{rec.Spec.Size:x} wraps past 2^64";
        if (windows.WindowFor(rec.Spec.Kind, newRange) is null)
        {
            var legal = string.Join(" or ", windows.LegalFor(rec.Spec.Kind).Select(a => $"{a.Name} {a.Window}"));
            return $"{newRange} is outside the windows for {rec.Spec.Kind} BARs ({legal})";
        }
        return null;
    }

    /// <summary>Moves the whole batch or nothing. Returns null on success, else why it failed (fencing the device
    /// when even the rollback failed).</summary>
    private string? TryCommit(PciFunction fn, IReadOnlyList<Planned> batch)
    {
        var undo = new Stack<(string What, Action Action)>();
        string step = "validating";
        try
        {
            step = "releasing the old ranges";
            foreach (var p in batch)
            {
                var rec = p.Record;
                var (oldRange, oldAllocator, owner) = (rec.Range, rec.Allocator, Owner(fn, rec));
                if (!oldAllocator.Free(oldRange)) throw new RefusedException($"{rec.Name}'s range {oldRange} is not reserved (core bookkeeping)");
                undo.Push(($"re-reserve {oldRange}", () => Require(oldAllocator.TryReserve(oldRange, owner))));
            }
            step = "reserving the new ranges";
            foreach (var p in batch)
            {
                var target = windows.WindowFor(p.Record.Spec.Kind, p.NewRange)!;
                if (target.TryReserve(p.NewRange, Owner(fn, p.Record)) is { } error) throw new RefusedException(error);
                undo.Push(($"release {p.NewRange}", () => Require(target.Free(p.NewRange) ? null : "not reserved")));
            }

            step = "unmapping the old bus ranges";
            foreach (var p in batch)
            {
                var rec = p.Record;
                if (rec.Mapped is not { } old) continue;
                mapper.Unmap(rec.Space, old);
                rec.Mapped = null;
                undo.Push(($"map {old} again", () => { mapper.Map(rec.Space, old, rec.Handler); rec.Mapped = old; }));
            }
            step = "mapping the new bus ranges";
            foreach (var p in batch)
            {
                var rec = p.Record;
                mapper.Map(rec.Space, p.NewRange, rec.Handler);
                rec.Mapped = p.NewRange;
                undo.Push(($"unmap {p.NewRange}", () => { mapper.Unmap(rec.Space, p.NewRange); rec.Mapped = null; }));
            }

            if (fn.Resources is { } resources)
            {
                step = "withdrawing the BAR's resources";
                foreach (var p in batch)
                {
                    int index = p.Record.Index;
                    ulong oldBase = p.Move.OldBase;
                    resources.Withdraw(index);
                    undo.Push(($"place resources at 0x{oldBase:x}", () => resources.Place(index, oldBase)));
                }
                step = "placing the BAR's resources at the new address";
                foreach (var p in batch)
                {
                    int index = p.Record.Index;
                    resources.Place(index, p.Move.NewBase);
                    undo.Push(($"withdraw resources from 0x{p.Move.NewBase:x}", () => resources.Withdraw(index)));
                }
            }

            step = "the device's MoveBar";
            foreach (var p in batch)
            {
                var move = p.Move;
                fn.Device.MoveBar(move);
                var back = move with { OldBase = move.NewBase, NewBase = move.OldBase };
                undo.Push(($"MoveBar({back})", () => fn.Device.MoveBar(back)));
            }
        }
        catch (Exception e)
        {
            string reason = e is RefusedException ? e.Message : $"{step} failed: {e.GetType().Name}: {e.Message}";
            if (batch.Count > 1 || e is not RefusedException) reason = $"{string.Join(", ", batch.Select(p => p.Record.Name))}: {reason}";
            var broken = new List<string>();
            while (undo.Count > 0)
            {
                var (what, action) = undo.Pop();
                try
                {
                    action();
                }
                catch (Exception u)
                {
                    broken.Add($"{what}: {u.GetType().Name}: {u.Message}");
                }
            }
            if (broken.Count > 0) fence(fn, $"rolling back a failed BAR move ({reason}) failed: {string.Join("; ", broken)}");
            return reason;
        }

        foreach (var p in batch)
        {
            p.Record.Base = p.Move.NewBase;
            p.Record.Allocator = windows.WindowFor(p.Record.Spec.Kind, p.NewRange)!;
        }
        return null;
    }

    /// <summary>Reads the BARs back from the device and checks the core's own state; fences on any disagreement.</summary>
    private void Verify(PciFunction fn, IEnumerable<BarRecord> touched)
    {
        foreach (var rec in touched)
        {
            if (fn.Fenced) return;
            ulong reported;
            try
            {
                reported = fn.ReadBarAddressFromConfig(rec);
            }
            catch (Exception e)
            {
                fence(fn, $"reading {rec.Name} back threw {e.GetType().Name}: {e.Message}");
                return;
            }
            if (reported != rec.Base)
            {
                fence(fn, $"config space reports {rec.Name} at 0x{reported:x} but the core maps it at 0x{rec.Base:x}");
                return;
            }
            if (Inconsistency(fn, rec) is { } problem)
            {
                fence(fn, problem);
                return;
            }
        }
    }

    /// <summary>Allocator, bus and resources must all hold the BAR's committed range. Returns what differs, or null.</summary>
    internal static string? Inconsistency(PciFunction fn, BarRecord rec)
    {
        if (!rec.Allocator.IsAllocated(rec.Range)) return $"{rec.Name}: {rec.Range} is not reserved in {rec.Allocator.Name}";
        if (rec.Mapped != rec.Range) return $"{rec.Name}: the bus maps {rec.Mapped?.ToString() ?? "nothing"} instead of {rec.Range}";
        if (fn.Resources is { } r && !r.IsPlacedAt(rec.Index, rec.Base))
            return $"{rec.Name}: resources are not all registered at 0x{rec.Base:x}";
        return null;
    }

    internal static string Owner(PciFunction fn, BarRecord rec) => $"{fn.Name} {rec.Name}";

    private static void Require(string? error)
    {
        if (error is not null) throw new InvalidOperationException(error);
    }
}
