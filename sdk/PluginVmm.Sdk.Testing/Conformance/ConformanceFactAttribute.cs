using System.Reflection;
using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace PluginVmm.Sdk.Testing.Conformance;

/// <summary>
/// A fact of a conformance base class (<see cref="PciDeviceConformanceTests"/>). It is skipped, with the reason
/// shown by the test runner, when the concrete test class declares a static property
/// <c>public static string? UnavailableReason</c> that returns non-null at discovery time — for a device that
/// needs something this machine lacks (a host PCI device for passthrough, a privilege).
/// </summary>
[XunitTestCaseDiscoverer("PluginVmm.Sdk.Testing.Conformance.ConformanceFactDiscoverer", "PluginVmm.Sdk.Testing")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class ConformanceFactAttribute : FactAttribute
{
}

/// <summary>Discovers <see cref="ConformanceFactAttribute"/> facts, skipping them when the test class says why it cannot run.</summary>
/// <param name="diagnosticMessageSink">xunit's diagnostics sink.</param>
public sealed class ConformanceFactDiscoverer(IMessageSink diagnosticMessageSink) : IXunitTestCaseDiscoverer
{
    /// <summary>Name of the static property a test class declares to skip its conformance facts.</summary>
    public const string UnavailableReasonProperty = "UnavailableReason";

    /// <inheritdoc/>
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        var display = discoveryOptions.MethodDisplayOrDefault();
        var displayOptions = discoveryOptions.MethodDisplayOptionsOrDefault();
        string? reason = UnavailableReason(testMethod.TestClass.Class.ToRuntimeType());
        if (reason is not null)
            return [new XunitSkippedDataRowTestCase(diagnosticMessageSink, display, displayOptions, testMethod, reason)];
        return [new XunitTestCase(diagnosticMessageSink, display, displayOptions, testMethod)];
    }

    /// <summary>The reason <paramref name="testClass"/> (or its nearest base declaring one) gives, or null.</summary>
    public static string? UnavailableReason(Type? testClass)
    {
        for (var type = testClass; type is not null; type = type.BaseType)
        {
            var property = type.GetProperty(UnavailableReasonProperty, BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly);
            if (property?.PropertyType == typeof(string)) return (string?)property.GetValue(null);
        }
        return null;
    }
}
