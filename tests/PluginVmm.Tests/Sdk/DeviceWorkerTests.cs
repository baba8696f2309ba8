using Microsoft.Extensions.Logging;
using PluginVmm.Core.Hosting;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Tests.Pci.Fakes;
using Xunit;

namespace PluginVmm.Tests.Sdk;

public sealed class DeviceWorkerTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);   // a bound for a hang, not a speed claim

    [Fact]
    public void An_exception_from_the_work_is_logged_and_reported_and_escapes_nowhere()
    {
        var logger = new CapturingLogger();
        string? reported = null;
        using var worker = DeviceWorker.Start("widget0", "poller", _ => throw new InvalidOperationException("backend gone"), logger, r => reported = r);

        Assert.True(worker.Join(Long));
        Assert.False(worker.IsRunning);
        Assert.Equal("worker 'poller' threw InvalidOperationException: backend gone", reported);
        Assert.Contains(logger.At(LogLevel.Error), m => m.Contains("widget0") && m.Contains("backend gone"));
    }

    [Fact]
    public void Dispose_cancels_the_work_and_a_cancellation_is_not_a_fault()
    {
        var logger = new CapturingLogger();
        string? reported = null;
        var started = new ManualResetEventSlim();
        var worker = DeviceWorker.Start("widget0", "timer", stop =>
        {
            started.Set();
            Task.Delay(Timeout.Infinite, stop).Wait(stop);
        }, logger, r => reported = r);
        Assert.True(started.Wait(Long));

        worker.Dispose();

        Assert.False(worker.IsRunning);
        Assert.Null(reported);
        Assert.Empty(logger.At(LogLevel.Error));
    }

    [Fact]
    public void A_failing_fault_handler_is_logged_too_and_the_thread_still_ends()
    {
        var logger = new CapturingLogger();
        using var worker = DeviceWorker.Start("widget0", "poller", _ => throw new IOException("read failed"), logger,
            _ => throw new InvalidOperationException("handler broke"));

        Assert.True(worker.Join(Long));
        Assert.Equal(2, logger.At(LogLevel.Error).Count());
    }

    [Fact]
    public void The_default_context_StartWorker_runs_the_work_on_a_named_thread()
    {
        var context = new PluginVmm.Sdk.Testing.TestDeviceContext(new PluginVmm.Sdk.Testing.InMemoryGuestMemory(4096));
        string? name = null;
        using var worker = ((IDeviceContext)context).StartWorker("probe", _ => name = Thread.CurrentThread.Name);

        Assert.True(worker.Join(Long));
        Assert.Equal($"{context.Name} probe", name);
    }

    [Fact]
    public void An_exception_outside_plugins_is_reported_without_blaming_one()
    {
        var message = UnhandledExceptionReport.Describe(new InvalidOperationException("boom"), "vcpu0");

        Assert.Equal("error: fatal: unhandled InvalidOperationException: boom on thread 'vcpu0'; the VMM stops (exit code 1).", message);
        Assert.Null(UnhandledExceptionReport.PluginOf(new InvalidOperationException("boom")));
    }
}
