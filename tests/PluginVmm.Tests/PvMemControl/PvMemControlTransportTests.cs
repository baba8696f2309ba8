using Xunit;
using static PluginVmm.Tests.PvMemControl.PvMemControlBench;

namespace PluginVmm.Tests.PvMemControl;

/// <summary>The BAR0 transport state machine: Broken → Reset → PercpuInit (Register*) → Ready, and every way out of order.</summary>
public sealed class PvMemControlTransportTests
{
    private const ulong Fresh = 0xEEEE_EEEE_EEEE_EEEE;

    [Fact]
    public void Starts_broken_and_ignores_requests_until_reset()
    {
        var b = new PvMemControlBench();
        Assert.Equal(Error, b.CommandRegister);
        b.PutRequest(Buf, 0, 0, 0, Fresh);
        b.Command(0x8000_0000);
        Assert.Equal(Fresh, b.GetResponse(Buf).Arg1); // untouched: no response written
        Assert.Empty(b.Control.Calls);
    }

    [Fact]
    public void Reset_register_ready_hands_out_connection_ids_from_0x80000000()
    {
        var b = new PvMemControlBench();
        b.Command(Reset);
        Assert.Equal((Ack, 0UL), (b.CommandRegister, b.PayloadRegister));
        b.Payload(Buf);
        b.Command(Register);
        Assert.Equal((Ack, 0x8000_0000UL), (b.CommandRegister, b.PayloadRegister));
        b.Payload(Buf + 0x100);
        b.Command(Register);
        Assert.Equal((Ack, 0x8000_0001UL), (b.CommandRegister, b.PayloadRegister));
        b.Command(Ready);
        Assert.Equal((Ack, 0UL), (b.CommandRegister, b.PayloadRegister));

        // Each connection answers in its own buffer.
        b.PutRequest(Buf + 0x100, 0, 0, 0, 0);
        b.Command(0x8000_0001);
        Assert.Equal(4096UL, b.GetResponse(Buf + 0x100).Value);
        Assert.Equal(new Response(0, 0, 4096, 1, 0), b.Request(0x8000_0000, 0));
    }

    [Theory]
    [InlineData("register before reset")]
    [InlineData("ready before reset")]
    [InlineData("ready twice")]
    [InlineData("register after ready")]
    [InlineData("disconnect")]
    [InlineData("ack as command")]
    [InlineData("error as command")]
    public void Unexpected_commands_break_the_transport_until_the_next_reset(string sequence)
    {
        var b = new PvMemControlBench();
        uint id = 0;
        switch (sequence)
        {
            case "register before reset": b.Payload(Buf); b.Command(Register); break;
            case "ready before reset": b.Command(Ready); break;
            case "ready twice": id = b.Connect(); b.Command(Ready); break;
            case "register after ready": id = b.Connect(); b.Payload(Buf); b.Command(Register); break;
            case "disconnect": id = b.Connect(); b.Command(Disconnect); break;
            case "ack as command": id = b.Connect(); b.Command(Ack); break;
            case "error as command": id = b.Connect(); b.Command(Error); break;
        }
        Assert.Equal((Error, 0UL), (b.CommandRegister, b.PayloadRegister));
        // The map is gone: a request on the old connection gets no answer.
        b.PutRequest(Buf, 0, 0, 0, Fresh);
        b.Command(id == 0 ? 0x8000_0000 : id);
        Assert.Equal(Fresh, b.GetResponse(Buf).Arg1);
        // Ready without Reset stays broken; Reset recovers.
        b.Command(Ready);
        Assert.Equal(Error, b.CommandRegister);
        uint again = b.Connect();
        Assert.Equal((0x8000_0000u, Ack), (again, b.CommandRegister));
        Assert.Equal(0u, b.Request(again, 0).Errno);
    }

    [Theory]
    [InlineData(RamBase - 32)]                     // just below RAM
    [InlineData(RamBase - 1)]                      // straddles the start
    [InlineData(RamBase + RamSize - 31)]           // the last 31 bytes: one short
    [InlineData(RamBase + RamSize)]                // just past the end
    [InlineData(0xFFFF_FFFF_FFFF_FFF0UL)]          // wraps around
    [InlineData(0xFEE0_0000UL)]                    // the LAPIC
    public void Register_of_a_buffer_not_wholly_in_ram_answers_error_and_breaks(ulong buffer)
    {
        var b = new PvMemControlBench();
        b.Command(Reset);
        b.Payload(Buf);
        b.Command(Register);
        b.Payload(buffer);
        b.Command(Register);
        Assert.Equal((Error, 0UL), (b.CommandRegister, b.PayloadRegister));
        b.Command(Ready);
        Assert.Equal(Error, b.CommandRegister);
        Assert.Equal(0, b.Memory.Refused); // the device never touched memory outside RAM: it only asked Contains
    }

    [Fact]
    public void Register_of_the_last_32_bytes_of_ram_is_accepted()
    {
        var b = new PvMemControlBench();
        const ulong last = RamBase + RamSize - 32;
        b.Command(Reset);
        b.Payload(last);
        b.Command(Register);
        Assert.Equal(Ack, b.CommandRegister);
        b.Command(Ready);
        b.PutRequest(last, 0, 0, 0, 0);
        b.Command(0x8000_0000);
        Assert.Equal(4096UL, b.GetResponse(last).Value);
    }

    [Fact]
    public void Registrations_are_capped_so_a_guest_cannot_grow_host_memory()
    {
        var b = new PvMemControlBench();
        b.Command(Reset);
        for (int i = 0; i < 4096; i++)
        {
            b.Payload(Buf); // the Ack overwrote it with the connection id
            b.Command(Register);
            Assert.Equal(Ack, b.CommandRegister);
        }
        Assert.Equal(0x8000_0FFFUL, b.PayloadRegister);
        b.Payload(Buf);
        b.Command(Register);
        Assert.Equal(Error, b.CommandRegister);
    }

    [Fact]
    public void Payload_takes_4_or_8_byte_writes_inside_bytes_0_to_7_only()
    {
        var b = new PvMemControlBench();
        b.Command(Reset);
        b.Write(0, [0x00, 0x08, 0x10, 0x00]);            // low dword 0x00100800
        b.Write(4, [0, 0, 0, 0]);                        // high dword
        b.Write(0, [0xFF]);                              // 1 byte: dropped
        b.Write(2, [0xFF, 0xFF]);                        // 2 bytes: dropped
        b.Write(4, [1, 1, 1, 1, 1, 1, 1, 1]);            // 8 bytes at 4 would spill into the command: dropped
        b.Write(12, [1, 1, 1, 1]);                       // padding: dropped
        b.Write(16, [1, 1, 1, 1]);                       // past the transport: dropped
        b.Command(Register);
        Assert.Equal((Ack, 0x8000_0000UL), (b.CommandRegister, b.PayloadRegister));
        Assert.Equal(new byte[4], b.ReadBar(12, 4));
        Assert.Equal(new byte[8], b.ReadBar(16, 8));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    public void Command_register_takes_only_4_byte_writes(int size)
    {
        var b = new PvMemControlBench();
        var bytes = new byte[size];
        BitConverter.GetBytes(Reset).AsSpan(0, Math.Min(4, size)).CopyTo(bytes);
        b.Write(8, bytes);
        Assert.Equal(Error, b.CommandRegister); // still broken: the Reset was not taken
    }

    [Fact]
    public void Requests_on_unknown_connections_or_non_commands_are_ignored()
    {
        var b = new PvMemControlBench();
        b.Connect();
        foreach (uint value in new uint[] { 0x8000_0001, 0xFFFF_FFFF, 0x1234_5678, 0 })
        {
            b.PutRequest(Buf, 0, 0, 0, Fresh);
            b.Command(value);
            Assert.Equal(Fresh, b.GetResponse(Buf).Arg1);
            Assert.Equal(Ack, b.CommandRegister); // and the transport is not disturbed
        }
    }

    [Fact]
    public void Reads_of_any_size_and_offset_stay_inside_the_transport()
    {
        var b = new PvMemControlBench();
        b.Connect();
        Assert.Equal(BitConverter.GetBytes(Ack), b.ReadBar(8, 4));
        Assert.Equal([BitConverter.GetBytes(Ack)[3], 0, 0, 0, 0, 0, 0, 0], b.ReadBar(11, 8));
        Assert.Equal(new byte[4], b.ReadBar(ulong.MaxValue, 4));
    }
}
