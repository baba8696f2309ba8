namespace PluginVmm.Sdk.Interrupts;

/// <summary>What a device may ask of the core's interrupt layer.</summary>
public interface IInterruptController
{
    /// <summary>Creates a group of <paramref name="count"/> MSI vectors, all masked.</summary>
    IMsiVectorGroup CreateMsiGroup(int count);
}
