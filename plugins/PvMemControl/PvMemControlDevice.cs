using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using PluginVmm.Sdk.Diagnostics;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using static PluginVmm.Plugins.PvMemControl.PvMemControlProtocol;

namespace PluginVmm.Plugins.PvMemControl;

/// <summary>
/// pvmemcontrol's PCI function. BAR0 is the 16-byte transport: payload at 0..7 (4- or 8-byte writes), command
/// register at 8..11 (4-byte writes only). A transport command drives <see cref="PvMemControlTransport"/>; a
/// connection id (bit 31 set) written while Ready makes the device read the 32-byte request from that connection's
/// buffer, execute it (<see cref="PvMemControlRequests"/>) and write the 32-byte response over it, synchronously in
/// the vCPU exit. Malformed accesses are dropped and counted.
/// </summary>
internal sealed class PvMemControlDevice : PciDevice
{
    private readonly IDeviceContext _context;
    private readonly PvMemControlTransport _transport;
    private readonly PvMemControlRequests _requests;
    private readonly OnceWarning _badAccess, _badConnection, _broken;

    public PvMemControlDevice(IDeviceContext context) : base(BuildConfiguration())
    {
        _context = context;
        _transport = new PvMemControlTransport(context.Memory);
        _requests = new PvMemControlRequests(context.Memory, context.MemoryControl);
        _badAccess = new OnceWarning(context.Logger, $"{context.Name}: malformed BAR0 write dropped");
        _badConnection = new OnceWarning(context.Logger, $"{context.Name}: request on an unknown connection or before Ready dropped");
        _broken = new OnceWarning(context.Logger, $"{context.Name}: transport broken by an unexpected command; the guest must Reset");
        if (context.MemoryControl is null)
            context.Logger.LogWarning("{Name}: the host offers no guest-memory control; requests other than Info answer ENOSYS", context.Name);
    }

    private static PciConfiguration BuildConfiguration()
    {
        var config = new PciConfiguration(0x1AE0, 0x0087, classCode: 0x08, subclass: 0x80, revision: 1,
            subsystemVendorId: 0x1AE0, subsystemId: 0x011F);
        config.AddBar(new PciBarSpec(0, TransportSize, PciBarKind.Memory32));
        return config;
    }

    public override void ReadBar(int index, ulong offset, Span<byte> data)
    {
        if (index == 0) _transport.Read(offset, data);
        else data.Clear();
    }

    public override void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data)
    {
        if (index != 0) { _badAccess.Hit($"BAR{index}"); return; }
        if (offset != CommandOffset)
        {
            if (!_transport.WritePayload(offset, data)) _badAccess.Hit($"{data.Length} bytes at +0x{offset:x}");
            return;
        }
        if (data.Length != 4) { _badAccess.Hit($"{data.Length}-byte command write"); return; }
        uint value = BinaryPrimitives.ReadUInt32LittleEndian(data);
        if (value is Reset or Register or Ready or Disconnect or Ack or Error)
        {
            _transport.RunCommand(value);
            if (_transport.IsBroken) _broken.Hit($"command 0x{value:x8}");
        }
        else if (_transport.TryGetBuffer(value, out ulong buffer)) Serve(buffer);
        else _badConnection.Hit($"0x{value:x8}");
    }

    private void Serve(ulong buffer)
    {
        // Registration checked the buffer, but read and write through the bounds-checked calls anyway.
        Span<byte> message = stackalloc byte[MessageSize];
        if (!_context.Memory.TryRead(buffer, message)) { _badConnection.Hit($"buffer 0x{buffer:x} unreadable"); return; }
        var response = _requests.Execute(
            BinaryPrimitives.ReadUInt64LittleEndian(message),
            BinaryPrimitives.ReadUInt64LittleEndian(message[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(message[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(message[24..]));
        response.WriteTo(message);
        _context.Memory.TryWrite(buffer, message);
    }
}
