using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace PluginVmm.Sdk.Memory;

/// <summary>
/// Whole positional transfers between a file and guest ranges (a disk request's data buffers): through
/// <see cref="IGuestMemoryFileIo"/> when the memory has it (preadv/pwritev of up to <see cref="IGuestMemoryFileIo.MaxRanges"/>
/// ranges per system call, no intermediate copy), span by span with <see cref="RandomAccess"/> otherwise. Every range
/// is checked against guest RAM before any byte moves: one outside RAM throws <see cref="GuestMemoryException"/>.
/// </summary>
public static class GuestFileIo
{
    /// <summary>
    /// Reads the file from <paramref name="offset"/> into <paramref name="ranges"/> until they are full or the file
    /// ends; returns the bytes read.
    /// </summary>
    public static long ReadAt(IGuestMemory memory, SafeFileHandle file, ReadOnlySpan<GuestRange> ranges, long offset)
    {
        CheckOffset(offset);
        CheckRanges(memory, ranges);
        if (memory is IGuestMemoryFileIo io) return Vectored(io, file, ranges, offset, write: false);
        long done = 0;
        foreach (var r in ranges)
        {
            var span = memory.GetSpan(r.Address, r.Length);
            int got = 0;
            while (got < span.Length)
            {
                int n = RandomAccess.Read(file, span[got..], offset + done + got);
                if (n == 0) return done + got;
                got += n;
            }
            done += got;
        }
        return done;
    }

    /// <summary>Writes all of <paramref name="ranges"/> to the file at <paramref name="offset"/>.</summary>
    public static void WriteAt(IGuestMemory memory, SafeFileHandle file, ReadOnlySpan<GuestRange> ranges, long offset)
    {
        CheckOffset(offset);
        CheckRanges(memory, ranges);
        if (memory is IGuestMemoryFileIo io)
        {
            Vectored(io, file, ranges, offset, write: true);
            return;
        }
        foreach (var r in ranges)
        {
            RandomAccess.Write(file, memory.GetSpan(r.Address, r.Length), offset);
            offset += r.Length;
        }
    }

    // IGuestMemoryFileIo takes a negative offset for "the file position" (readv/writev): a positional transfer must
    // never become one.
    private static void CheckOffset(long offset) => ArgumentOutOfRangeException.ThrowIfNegative(offset);

    private static void CheckRanges(IGuestMemory memory, ReadOnlySpan<GuestRange> ranges)
    {
        foreach (var r in ranges)
            if (r.Length < 0 || !memory.Contains(r.Address, (ulong)r.Length)) throw new GuestMemoryException(r.Address, (ulong)Math.Max(r.Length, 0));
    }

    // One system call per MaxRanges ranges; a short transfer (a signal, a file that ends) continues from where it
    // stopped, in a pooled copy of the ranges so the caller's stay as they were.
    private static long Vectored(IGuestMemoryFileIo io, SafeFileHandle file, ReadOnlySpan<GuestRange> ranges, long offset, bool write)
    {
        var work = ArrayPool<GuestRange>.Shared.Rent(ranges.Length);
        try
        {
            ranges.CopyTo(work);
            int first = 0;
            long done = 0;
            while (first < ranges.Length)
            {
                if (work[first].Length == 0) { first++; continue; }
                var batch = work.AsSpan(first, Math.Min(ranges.Length - first, io.MaxRanges));
                long n = write ? io.WriteToFile(file, batch, offset + done) : io.ReadFromFile(file, batch, offset + done);
                if (n <= 0)
                {
                    if (write) throw new IOException($"write at {offset + done} made no progress");
                    break;   // end of file
                }
                done += n;
                while (n > 0 && first < ranges.Length)
                {
                    var r = work[first];
                    if (n >= r.Length)
                    {
                        n -= r.Length;
                        first++;
                    }
                    else
                    {
                        work[first] = new GuestRange(r.Address + (ulong)n, r.Length - (int)n);
                        n = 0;
                    }
                }
            }
            return done;
        }
        finally
        {
            ArrayPool<GuestRange>.Shared.Return(work);
        }
    }
}
