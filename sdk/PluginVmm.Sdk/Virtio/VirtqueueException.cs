namespace PluginVmm.Sdk.Virtio;

/// <summary>
/// The driver broke the virtqueue contract (a descriptor loop, a chain longer than the queue, a bad indirect
/// table, ring memory outside RAM, an avail index that ran ahead by more than the queue size). The transport
/// answers it by setting DEVICE_NEEDS_RESET and stopping the device.
/// </summary>
public sealed class VirtqueueException(string message) : Exception(message);
