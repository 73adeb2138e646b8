using Spegel.Testbed;

namespace Spegel.IntegrationTests;

/// <summary>When a platform's image test may skip: only for the NuGet errors of that platform's own runtime packs.</summary>
public sealed class ContainerImagesTests
{
    private const string Prefix = "/tmp/x/src/Spegel/Spegel.csproj : error NU1101: Unable to find package ";

    [Fact]
    public void MissingPacksOfThePlatformsOwnRuntimeSkip()
    {
        var failure = new InvalidOperationException($"""
            RUN dotnet restore failed with exit code 1:

              Determining projects to restore...
            {Prefix}Microsoft.NETCore.App.Runtime.linux-arm. No packages exist with this id in source(s): nuget.org
            {Prefix}Microsoft.AspNetCore.App.Runtime.linux-arm. No packages exist with this id in source(s): nuget.org
            {Prefix}Microsoft.NETCore.App.Host.linux-arm. No packages exist with this id in source(s): nuget.org [/tmp/x/src/Spegel/Spegel.csproj]
              Failed to restore /tmp/x/src/Spegel/Spegel.csproj (in 594 ms).
            """);
        Assert.True(ContainerImages.OnlyRuntimePacksMissing(failure, ContainerPlatform.LinuxArmV7));
        // The same errors are not an excuse for another platform.
        Assert.False(ContainerImages.OnlyRuntimePacksMissing(failure, ContainerPlatform.LinuxArm64));
    }

    [Theory]
    // A wrong runtime identifier for ARMv7 (here: soft float) must fail the test, not skip it.
    [InlineData($"{Prefix}Microsoft.NETCore.App.Runtime.linux-armel. No packages exist with this id in source(s): nuget.org")]
    // Any other error beside the missing packs.
    [InlineData($"{Prefix}Microsoft.NETCore.App.Runtime.linux-arm. No packages exist with this id in source(s): nuget.org\n/tmp/x/A.cs(1,1): error CS1002: ; expected")]
    // Another package missing.
    [InlineData($"{Prefix}Tomlyn. No packages exist with this id in source(s): nuget.org")]
    // No error line at all (a timeout, a crash).
    [InlineData("RUN dotnet restore failed with exit code 137:\nKilled")]
    [InlineData("")]
    public void AnyOtherFailureDoesNotSkip(string message) =>
        Assert.False(ContainerImages.OnlyRuntimePacksMissing(new InvalidOperationException(message), ContainerPlatform.LinuxArmV7));
}
