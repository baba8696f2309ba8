using Microsoft.Extensions.Logging;
using PluginVmm.Core.Interop;
using PluginVmm.Sdk.Interrupts;

namespace PluginVmm.Core.Kvm;

/// <summary>One device's vectors (see <see cref="MsiInterruptController"/>). Guest-driven calls never throw.</summary>
internal sealed class MsiVectorGroup : IMsiVectorGroup
{
    private sealed class Vector
    {
        public EventFd? Fd;
        public uint? Gsi;
        public bool Bound;   // irqfd registered and route installed
    }

    private readonly MsiInterruptController _owner;
    private readonly Vector[] _vectors;
    private readonly object _lock = new();
    private bool _disposed;

    public MsiVectorGroup(MsiInterruptController owner, int count)
    {
        _owner = owner;
        _vectors = new Vector[count];
        for (int i = 0; i < count; i++) _vectors[i] = new Vector();
    }

    public int Count => _vectors.Length;

    public void Update(int vector, MsiMessage message, bool masked)
    {
        if ((uint)vector >= (uint)_vectors.Length) return;
        lock (_lock)
        {
            if (_disposed || !_owner.Enabled) return;
            var v = _vectors[vector];
            try
            {
                var vm = _owner.Vm;
                if (masked)
                {
                    Unbind(v);
                    return;
                }
                v.Fd ??= new EventFd();
                v.Gsi ??= vm.AllocateMsiGsi();
                vm.SetMsiRoute(v.Gsi.Value, message.Address, message.Data);
                if (!v.Bound)
                {
                    vm.AddIrqfd(v.Fd, v.Gsi.Value);
                    v.Bound = true;
                }
            }
            catch (Exception e)
            {
                // A guest-programmed route KVM refuses leaves the vector silent rather than failing the VM.
                _owner.Logger.LogWarning(e, "MSI vector {Vector}: route 0x{Address:x}/0x{Data:x} not installed", vector, message.Address, message.Data);
            }
        }
    }

    public void Trigger(int vector)
    {
        if ((uint)vector >= (uint)_vectors.Length) return;
        var v = _vectors[vector];
        if (!v.Bound) return;
        try { v.Fd?.Signal(); }
        catch (Exception e) when (e is ErrnoException or ObjectDisposedException) { }
    }

    public int? EventFd(int vector)
    {
        if ((uint)vector >= (uint)_vectors.Length) return null;
        lock (_lock)
        {
            if (_disposed || !_owner.Enabled) return null;
            return (_vectors[vector].Fd ??= new EventFd()).Fd;
        }
    }

    private void Unbind(Vector v)
    {
        if (!v.Bound || v.Fd is null || v.Gsi is null) return;
        _owner.Vm.RemoveIrqfd(v.Fd, v.Gsi.Value);
        _owner.Vm.RemoveMsiRoute(v.Gsi.Value);
        v.Bound = false;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var v in _vectors)
            {
                try
                {
                    Unbind(v);
                    if (v.Gsi is { } g) _owner.Vm.FreeMsiGsi(g);
                }
                catch (Exception e) when (e is ErrnoException or ObjectDisposedException) { }
                v.Fd?.Dispose();
            }
        }
    }
}
