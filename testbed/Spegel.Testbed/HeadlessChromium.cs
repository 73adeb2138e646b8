namespace Spegel.Testbed;

/// <summary>Debian's Chromium, headless, driven from the command line: a page's DOM after its scripts ran, and a screenshot.</summary>
public static class HeadlessChromium
{
    private static IEnumerable<string> Flags(string profile) =>
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", $"--user-data-dir={profile}", "--virtual-time-budget=20000",
    ];

    /// <summary>The serialized DOM once the page (and what it fetched) settled.</summary>
    public static async Task<string> DumpDomAsync(string url)
    {
        Tools.Require(Tools.Chromium);
        string profile = Directory.CreateTempSubdirectory("chromium-").FullName;
        try
        {
            var result = await ProcessRunner.RunAsync(Tools.Chromium, [.. Flags(profile), "--dump-dom", url], TimeSpan.FromMinutes(2)).ConfigureAwait(false);
            result.EnsureSuccess("chromium --dump-dom");
            return result.StandardOutput.Length > 0
                ? result.StandardOutput
                : throw new InvalidOperationException($"chromium rendered nothing for {url}:\n{result.StandardError}");
        }
        finally
        {
            Directory.Delete(profile, recursive: true);
        }
    }

    public static async Task ScreenshotAsync(string url, string path)
    {
        Tools.Require(Tools.Chromium);
        string profile = Directory.CreateTempSubdirectory("chromium-").FullName;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            (await ProcessRunner.RunAsync(Tools.Chromium, [.. Flags(profile), "--window-size=1280,1800", $"--screenshot={path}", url], TimeSpan.FromMinutes(2)).ConfigureAwait(false))
                .EnsureSuccess("chromium --screenshot");
        }
        finally
        {
            Directory.Delete(profile, recursive: true);
        }
    }
}
