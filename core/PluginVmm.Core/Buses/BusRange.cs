namespace PluginVmm.Core.Buses;

/// <summary>One registration: [<see cref="Base"/>, <see cref="Base"/> + <see cref="Length"/>) (end exclusive).</summary>
public readonly record struct BusRange(ulong Base, ulong Length, IBusHandler Handler)
{
    /// <summary>Last address covered (inclusive); never overflows because registrations cannot wrap.</summary>
    public ulong Last => Base + (Length - 1);

    /// <summary>True when [address, address + size) lies wholly inside this range.</summary>
    public bool Covers(ulong address, ulong size) =>
        address >= Base && size <= Length && address - Base <= Length - size;

    /// <inheritdoc/>
    public override string ToString() => $"[0x{Base:x}, 0x{Base:x}+0x{Length:x}) {Handler.GetType().Name}";
}
