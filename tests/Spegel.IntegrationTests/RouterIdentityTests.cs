using System.Text.Json;
using Spegel.Testbed;

namespace Spegel.IntegrationTests;

/// <summary><c>--data-dir</c> keeps the node identity across restarts, in Spegel's file format.</summary>
[Collection(SingleNodeCollection.Name)]
public sealed class RouterIdentityTests(SingleNodeFixture fixture)
{
    [Fact]
    public async Task TheIdentityPersistsWithDataDirAndIsNewWithout()
    {
        string dataDir = Path.Combine(fixture.Root, "data");
        string first = await PeerIdOfARunAsync(["--data-dir", dataDir], "id1");
        string second = await PeerIdOfARunAsync(["--data-dir", dataDir], "id2");
        string third = await PeerIdOfARunAsync([], "id3");
        Assert.Equal(first, second);
        Assert.NotEqual(first, third);
        Assert.StartsWith("12D3KooW", first, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dataDir, "private.key")));
    }

    private async Task<string> PeerIdOfARunAsync(IEnumerable<string> extra, string name)
    {
        await using var spegel = await SpegelProcess.StartAsync(
            Path.Combine(fixture.Root, $"spegel-{name}.log"), $"127.0.0.1:{Network.FreePort()}",
            ["--containerd-sock", fixture.NodeA.Socket, "--bootstrap-kind", "static", "--containerd-content-path", string.Empty, .. extra]);
        return PeerIdInLog(spegel.Daemon.ReadLog());
    }

    /// <summary>The peer ID that spegel's router logged at start.</summary>
    internal static string PeerIdInLog(string log)
    {
        foreach (string line in log.Split('\n').Where(l => l.Contains("\"eventId\":1009", StringComparison.Ordinal)))
        {
            using var json = JsonDocument.Parse(line);
            return json.RootElement.GetProperty("peerId").GetString()!;
        }

        throw new InvalidOperationException("no router line in the log");
    }
}
