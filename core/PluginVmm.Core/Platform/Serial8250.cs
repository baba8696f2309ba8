namespace PluginVmm.Core.Platform;

/// <summary>
/// A 16450-class UART (COM1 at 0x3F8, IRQ 4) with output only: THR bytes go to a stream; LSR always reports the
/// transmitter empty so polled output (early printk, the Linux console) never waits. IER/LCR/DLAB, scratch and
/// MCR loopback behave enough for Linux's 8250 probe. With IER.THRI set it raises IRQ 4 (edge) whenever the
/// transmitter becomes empty, which interrupt-driven tty output needs. Register offsets from the base.
/// </summary>
public sealed class Serial8250 : Buses.IBusHandler
{
    /// <summary>COM1 base port.</summary>
    public const ushort Com1Base = 0x3F8;

    /// <summary>COM1 ISA IRQ.</summary>
    public const uint Com1Irq = 4;

    private const byte IerThri = 0x02, LcrDlab = 0x80, McrLoop = 0x10;
    private const byte LsrThre = 0x20, LsrTemt = 0x40;
    private const byte IirNone = 0x01, IirThri = 0x02;

    private readonly object _lock = new();
    private readonly Stream _output;
    private readonly Action<bool>? _irqPulse;
    private byte _ier, _lcr = 0x03, _mcr = 0x08, _scr, _dll = 0x0C, _dlm;
    private bool _thriPending;

    /// <summary>Creates the UART. <paramref name="raiseIrq"/> pulses the IRQ line (null: no interrupts).</summary>
    public Serial8250(Stream output, Action<bool>? raiseIrq = null)
    {
        _output = output;
        _irqPulse = raiseIrq;
    }

    /// <inheritdoc/>
    public void Read(ulong offset, Span<byte> data)
    {
        if (data.IsEmpty) return;
        data.Clear();
        lock (_lock) data[0] = ReadRegister((int)(offset & 7));
    }

    /// <inheritdoc/>
    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return;
        bool raise;
        lock (_lock) raise = WriteRegister((int)(offset & 7), data[0]);
        if (raise) _irqPulse?.Invoke(true);
    }

    private byte ReadRegister(int reg)
    {
        bool dlab = (_lcr & LcrDlab) != 0;
        switch (reg)
        {
            case 0: return dlab ? _dll : (byte)0;  // no input
            case 1: return dlab ? _dlm : _ier;
            case 2:
                if (_thriPending) { _thriPending = false; return IirThri; }  // reading IIR acknowledges THRE
                return IirNone;
            case 3: return _lcr;
            case 4: return _mcr;
            case 5: return LsrThre | LsrTemt;
            case 6:
                if ((_mcr & McrLoop) != 0)
                {
                    // Loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD (the Linux probe checks for 0x90 after MCR 0x1A).
                    return (byte)(((_mcr & 0x02) << 3) | ((_mcr & 0x01) << 5) | ((_mcr & 0x04) << 4) | ((_mcr & 0x08) << 4));
                }
                return 0xB0;  // DCD, DSR, CTS: a cable is attached
            default: return _scr;
        }
    }

    // Returns true when the IRQ should be pulsed.
    private bool WriteRegister(int reg, byte value)
    {
        bool dlab = (_lcr & LcrDlab) != 0;
        switch (reg)
        {
            case 0:
                if (dlab) { _dll = value; return false; }
                if ((_mcr & McrLoop) == 0) Emit(value);
                // The byte leaves at once, so the transmitter is empty again.
                return _thriPending = (_ier & IerThri) != 0;
            case 1:
                if (dlab) { _dlm = value; return false; }
                bool enabling = (value & IerThri) != 0 && (_ier & IerThri) == 0;
                _ier = (byte)(value & 0x0F);
                if (enabling) return _thriPending = true;
                if ((_ier & IerThri) == 0) _thriPending = false;
                return false;
            case 2: return false;  // FCR: no FIFOs
            case 3: _lcr = value; return false;
            case 4: _mcr = (byte)(value & 0x1F); return false;
            case 7: _scr = value; return false;
            default: return false; // LSR/MSR are read-only
        }
    }

    private void Emit(byte b)
    {
        try
        {
            _output.WriteByte(b);
            if (b == (byte)'\n') _output.Flush();
        }
        catch (IOException) { }          // a closed console must not stop the guest
        catch (ObjectDisposedException) { }
    }

    /// <summary>Flushes buffered output.</summary>
    public void Flush()
    {
        lock (_lock)
        {
            try { _output.Flush(); } catch (IOException) { } catch (ObjectDisposedException) { }
        }
    }
}
