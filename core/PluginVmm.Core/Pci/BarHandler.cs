namespace PluginVmm.Core.Pci;

/// <summary>
/// Bus handler of one BAR: forwards accesses to the device's ReadBar/WriteBar only while the device decodes the
/// BAR's space and is not fenced; otherwise reads return all ones and writes are dropped (a master abort).
/// </summary>
internal sealed class BarHandler(PciRoot root, PciFunction fn, int index, ulong size) : IBusRangeHandler
{
    public void Read(ulong offset, Span<byte> data)
    {
        if (!InBar(offset, data.Length) || !fn.IsDecoding(index))
        {
            data.Fill(0xFF);
            return;
        }
        Exception? failure = null;
        lock (fn.Lock)
        {
            if (fn.Fenced) data.Fill(0xFF);
            else
            {
                try
                {
                    fn.Device.ReadBar(index, offset, data);
                }
                catch (Exception e)
                {
                    failure = e;
                    data.Fill(0xFF);
                }
            }
        }
        if (failure is not null) root.FenceAfterFault(fn, $"ReadBar({index}, 0x{offset:x}) threw {failure.GetType().Name}: {failure.Message}");
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (!InBar(offset, data.Length) || !fn.IsDecoding(index)) return;
        Exception? failure = null;
        lock (fn.Lock)
        {
            if (fn.Fenced) return;
            try
            {
                fn.Device.WriteBar(index, offset, data);
            }
            catch (Exception e)
            {
                failure = e;
            }
        }
        if (failure is not null) root.FenceAfterFault(fn, $"WriteBar({index}, 0x{offset:x}) threw {failure.GetType().Name}: {failure.Message}");
    }

    private bool InBar(ulong offset, int length) => offset < size && (ulong)length <= size - offset;
}
