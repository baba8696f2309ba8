using Microsoft.Extensions.Logging;

namespace PluginVmm.Sdk.Diagnostics;

/// <summary>
/// A warning logged the first time a condition occurs and then only counted, so a guest that loops on an
/// unsupported register cannot flood the log.
/// </summary>
public sealed class OnceWarning(ILogger logger, string message)
{
    private int _count;

    /// <summary>How many times <see cref="Hit"/> was called.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Records one occurrence; logs <c>message</c> (with <paramref name="detail"/>) on the first.</summary>
    public void Hit(string detail = "")
    {
        if (Interlocked.Increment(ref _count) == 1)
            logger.LogWarning("{Message}{Detail}", message, detail.Length == 0 ? "" : " (" + detail + ")");
    }
}
