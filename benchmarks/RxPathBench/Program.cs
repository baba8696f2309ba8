using System.Diagnostics;
using Microsoft.Extensions.Logging;
using PluginVmm.Core.Memory;
using PluginVmm.Plugins.VirtioNet;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Testing;
using PluginVmm.Sdk.Virtio;

// virtio-net's receive thread against a backend that hands over a packet the moment it is asked (no poll, no read
// system call: only the header is written), while this thread plays a Linux driver that posts 256 page-sized
// mergeable buffers and reposts each one it gets back. What is left is the device's own work per packet: taking
// chains, building the ranges, returning them on the used ring, the interrupt decision.
//   dotnet run -c Release --project benchmarks/RxPathBench [PACKETS] [PACKET_BYTES]
int packets = args.Length > 0 ? int.Parse(args[0]) : 200_000;
int packetBytes = args.Length > 1 ? int.Parse(args[1]) : 12 + 32768;
const int BufferSize = 4096, Buffers = 256;
const ulong BufferBase = 0x100000;

using var memory = GuestMemory.Create(16 << 20);
var backend = new InstantBackend(packetBytes);
var log = new ConsoleLog();
var context = new TestDeviceContext(memory) { Name = "bench0", Logger = log };
using var transport = new VirtioPciTransport(new VirtioNetDevice(backend, [0x52, 0x54, 0, 0x12, 0x34, 0x56], log), context, 0x02, 0);
var driver = new VirtioPciDriver(transport, memory, context.FakeResources);
if (!driver.Negotiate(ulong.MaxValue)) throw new InvalidOperationException("features refused");
driver.EnableMsix();
var rx = driver.SetupQueue(0, Buffers, 0x1000, 1).Queue;
driver.SetupQueue(1, 16, 0x8000, 2);
var heads = new Dictionary<ushort, ulong>();
for (int i = 0; i < Buffers; i++) heads[rx.Submit(new GuestBuffer(BufferBase + (ulong)(i * BufferSize), BufferSize, true))] = BufferBase + (ulong)(i * BufferSize);
driver.DriverOk();

// The device's reset line at the end carries the receive thread's busy time (readable -> interrupt decision).
var cpu = Process.GetCurrentProcess();
var wall = Stopwatch.StartNew();
var cpuStart = cpu.TotalProcessorTime;
backend.Start(packets);
long returned = 0, expected = (long)packets * ((packetBytes + BufferSize - 1) / BufferSize);
while (returned < expected)
{
    if (!rx.TryGetUsed(out var head, out _))
    {
        if ((driver.Status & VirtioStatus.DeviceNeedsReset) != 0) throw new InvalidOperationException("the device failed");
        if (wall.ElapsedMilliseconds > 600_000) throw new TimeoutException($"{returned} of {expected} buffers came back");
        Thread.SpinWait(20);
        continue;
    }
    returned++;
    rx.Submit(new GuestBuffer(heads[head], BufferSize, true));
    driver.Kick(0);   // every time: this thread's cost is not what is measured (the receive thread's CPU time is)
}
wall.Stop();
double rxCpuMs = ReceiveThreadCpuMs();
cpu.Refresh();
double cpuMs = (cpu.TotalProcessorTime - cpuStart).TotalMilliseconds;
Console.WriteLine($"rx path: {packets} packets of {packetBytes} bytes over {BufferSize}-byte mergeable buffers, {returned} buffers returned, {backend.Buffered} packets through the device's own buffer (guest behind)");
Console.WriteLine($"  wall {wall.Elapsed.TotalMilliseconds:F0} ms = {wall.Elapsed.TotalMilliseconds * 1e6 / packets:F0} ns/packet " +
    $"({wall.Elapsed.TotalMilliseconds * 1e6 / returned:F0} ns/buffer); process CPU {cpuMs:F0} ms (both threads)");
Console.WriteLine($"  GCs: gen0 {GC.CollectionCount(0)}, gen1 {GC.CollectionCount(1)}, gen2 {GC.CollectionCount(2)}; {GC.GetTotalAllocatedBytes() / packets} bytes allocated per packet; pause {GC.GetTotalPauseDuration().TotalMilliseconds:F0} ms");
Console.WriteLine($"  receive thread CPU {rxCpuMs:F0} ms = {rxCpuMs * 1e6 / packets:F0} ns/packet ({rxCpuMs * 1e6 / returned:F0} ns/buffer): the device's cost");

// utime + stime of the device's receive thread ("virtio-net io"), from /proc: its CPU time without the time it
// waited for this thread to post buffers.
static double ReceiveThreadCpuMs()
{
    foreach (var task in Directory.GetDirectories("/proc/self/task"))
    {
        if (File.ReadAllText(Path.Combine(task, "comm")).Trim() != "virtio-net io") continue;
        var stat = File.ReadAllText(Path.Combine(task, "stat"));
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11]) + long.Parse(fields[12])) * 10.0;   // fields 14 and 15 of stat(5), 100 Hz ticks
    }
    throw new InvalidOperationException("no receive thread");
}

// Hands the receive thread `count` packets of `length` bytes as fast as it asks, writing only the 12-byte header.
sealed class InstantBackend(int length) : INetBackend
{
    private long _left;
    private long _delivered;

    public long Delivered => Interlocked.Read(ref _delivered);

    public void Start(long count) => Interlocked.Exchange(ref _left, count);

    public bool WaitReadable(int timeoutMs)
    {
        if (Interlocked.Read(ref _left) > 0) return true;
        Thread.Sleep(1);
        return false;
    }

    // The device reads into its own buffer when the guest has posted less than the largest packet (here: when it
    // consumes faster than this thread reposts); counted, since that path copies the packet.
    public long Buffered => Interlocked.Read(ref _buffered);

    private long _buffered;

    public int Read(Span<byte> buffer)
    {
        buffer[..12].Clear();
        buffer[1] = 1;
        Interlocked.Increment(ref _buffered);
        Interlocked.Decrement(ref _left);
        Interlocked.Increment(ref _delivered);
        return length;
    }

    public int Read(IGuestMemory memory, ReadOnlySpan<GuestRange> buffers)
    {
        Span<byte> header = stackalloc byte[12];
        header[1] = 1;   // gso_type TCPV4, as most packets of a TCP stream
        memory.Write(buffers[0].Address, header);
        Interlocked.Decrement(ref _left);
        Interlocked.Increment(ref _delivered);
        return length;
    }

    public void Write(ReadOnlySpan<byte> packet)
    {
    }

    public void SetOffload(uint tunFlags)
    {
    }

    public void Dispose()
    {
    }
}

// Warnings and errors of the device and its transport on stderr (a failed device says why).
sealed class ConsoleLog : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel)) Console.Error.WriteLine($"{logLevel}: {formatter(state, exception)} {exception}");
    }
}
