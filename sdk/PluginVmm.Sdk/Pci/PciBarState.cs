namespace PluginVmm.Sdk.Pci;

/// <summary>
/// Config-space state of one BAR. Keeps apart what the guest wrote (<see cref="Requested"/>) and what the core
/// maps (<see cref="Committed"/>): moves are the difference between the two, so a failed move is undone by
/// setting <see cref="Requested"/> back, and nothing is ever matched by address.
/// </summary>
internal sealed class PciBarState(PciBarSpec spec)
{
    public PciBarSpec Spec { get; } = spec;

    /// <summary>Address the guest programmed (size-aligned: bits below the size are hardwired zero).</summary>
    public ulong Requested { get; set; }

    /// <summary>Address the core has mapped; changed only by assignment and a committed move.</summary>
    public ulong Committed { get; set; }

    /// <summary>The low dword (or the only dword) reads back the size mask after an all-ones write.</summary>
    public bool ProbingLow { get; set; }

    /// <summary>The high dword of a 64-bit BAR reads back the size mask.</summary>
    public bool ProbingHigh { get; set; }

    /// <summary>The low dword of a 64-bit BAR was written and the high dword not yet.</summary>
    public bool LowPending { get; set; }

    /// <summary>Bits of the low dword that can hold an address for this BAR type (any size).</summary>
    private uint TypeAddressBits => Spec.Kind switch
    {
        PciBarKind.Io => 0xFFFF_FFFCu,
        PciBarKind.Rom => 0xFFFF_F800u,
        _ => 0xFFFF_FFF0u,
    };

    /// <summary>Writable address bits: the type's address bits above the size (natural alignment is built in).</summary>
    public ulong AddressMask => ~(Spec.Size - 1) & (Spec.Kind == PciBarKind.Memory64
        ? 0xFFFF_FFFF_FFFF_FFF0UL
        : TypeAddressBits);

    /// <summary>Read-only low bits of the low dword: I/O flag, 64-bit type, prefetchable.</summary>
    public uint TypeBits => Spec.Kind switch
    {
        PciBarKind.Io => 0x1u,
        PciBarKind.Memory32 => Spec.Prefetchable ? 0x8u : 0x0u,
        PciBarKind.Memory64 => 0x4u | (Spec.Prefetchable ? 0x8u : 0x0u),
        _ => 0u,
    };

    public uint ReadLow(uint romEnableBit)
    {
        ulong value = ProbingLow ? AddressMask : Requested;
        return (uint)(value & AddressMask) | TypeBits | romEnableBit;
    }

    public uint ReadHigh()
    {
        ulong value = ProbingHigh ? AddressMask : Requested;
        return (uint)((value & AddressMask) >> 32);
    }

    /// <summary>Applies a full new low-dword value. All address bits one is a size probe, not an address.</summary>
    public void WriteLow(uint value, bool fullDword)
    {
        // A probe sets every address bit the BAR type has (so 0xFFFFFFF0 counts, as OpenBSD writes it).
        if (fullDword && (value & TypeAddressBits) == TypeAddressBits)
        {
            ProbingLow = true;
            return;
        }
        ProbingLow = false;
        Requested = (Requested & 0xFFFF_FFFF_0000_0000UL) | (value & AddressMask & 0xFFFF_FFFFUL);
        if (Spec.Kind == PciBarKind.Memory64) LowPending = true;
    }

    /// <summary>Applies a full new high-dword value of a 64-bit BAR.</summary>
    public void WriteHigh(uint value, bool fullDword)
    {
        uint addressBits = (uint)(AddressMask >> 32);
        LowPending = false;
        if (fullDword && value == 0xFFFF_FFFFu)
        {
            ProbingHigh = true;
            return;
        }
        ProbingHigh = false;
        Requested = ((ulong)(value & addressBits) << 32) | (Requested & 0xFFFF_FFFFUL);
    }

    public void ResetTo(ulong address)
    {
        Requested = address & AddressMask;
        Committed = address & AddressMask;
        ProbingLow = ProbingHigh = LowPending = false;
    }
}
