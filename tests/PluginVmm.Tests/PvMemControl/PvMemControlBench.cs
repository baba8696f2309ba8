using System.Buffers.Binary;
using PluginVmm.Plugins.PvMemControl;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Testing;

namespace PluginVmm.Tests.PvMemControl;

/// <summary>
/// The pvmemcontrol device created through its plugin entry point over 1 MiB of in-process guest RAM at 0x100000,
/// with a recording memory control, and a guest-side driver of its BAR0 transport.
/// </summary>
internal sealed class PvMemControlBench
{
    public const uint Reset = 0x060F_E6D2, Register = 0x0E35_9539, Ready = 0x0CA8_D227, Disconnect = 0x030F_5DA0,
        Ack = 0x03CF_5196, Error = 0x01FB_A249;

    public const ulong RamBase = 0x10_0000, RamSize = 0x10_0000, Buf = RamBase + 0x800;

    public sealed record Response(uint Errno, uint Code, ulong Value, ulong Arg0, ulong Arg1);

    public PvMemControlBench(bool withControl = true)
    {
        Memory = new InMemoryGuestMemory((int)RamSize, RamBase);
        Control = new FakeGuestMemoryControl(Memory);
        Context = new TestDeviceContext(Memory) { Name = "pvmemcontrol0", MemoryControl = withControl ? Control : null };
        Device = new PvMemControlPlugin().Create(new NoOptions(), Context);
    }

    public InMemoryGuestMemory Memory { get; }

    public FakeGuestMemoryControl Control { get; }

    public TestDeviceContext Context { get; }

    public IPciDevice Device { get; }

    public void Write(ulong offset, ReadOnlySpan<byte> data) => Device.WriteBar(0, offset, data);

    public void Payload(ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Write(0, b);
    }

    public void Command(uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        Write(8, b);
    }

    public uint CommandRegister => BinaryPrimitives.ReadUInt32LittleEndian(ReadBar(8, 4));

    public ulong PayloadRegister => BinaryPrimitives.ReadUInt64LittleEndian(ReadBar(0, 8));

    public byte[] ReadBar(ulong offset, int length)
    {
        var b = new byte[length];
        Device.ReadBar(0, offset, b);
        return b;
    }

    /// <summary>Reset, one Register of <paramref name="buffer"/>, Ready; returns the connection id.</summary>
    public uint Connect(ulong buffer = Buf)
    {
        Command(Reset);
        Payload(buffer);
        Command(Register);
        uint id = (uint)PayloadRegister;
        Command(Ready);
        return id;
    }

    public void PutRequest(ulong buffer, ulong function, ulong address, ulong length, ulong arg)
    {
        var b = Memory.GetSpan(buffer, 32);
        BinaryPrimitives.WriteUInt64LittleEndian(b, function);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], address);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], length);
        BinaryPrimitives.WriteUInt64LittleEndian(b[24..], arg);
    }

    public Response GetResponse(ulong buffer)
    {
        var b = Memory.GetSpan(buffer, 32);
        return new Response(BinaryPrimitives.ReadUInt32LittleEndian(b), BinaryPrimitives.ReadUInt32LittleEndian(b[4..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[8..]), BinaryPrimitives.ReadUInt64LittleEndian(b[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[24..]));
    }

    /// <summary>Writes a request into <see cref="Buf"/>, rings <paramref name="connection"/> and returns the response.</summary>
    public Response Request(uint connection, ulong function, ulong address = 0, ulong length = 0, ulong arg = 0)
    {
        PutRequest(Buf, function, address, length, arg);
        Command(connection);
        return GetResponse(Buf);
    }
}
