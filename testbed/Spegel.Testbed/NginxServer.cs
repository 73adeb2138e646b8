namespace Spegel.Testbed;

/// <summary>Debian's nginx serving one file at <c>/blob</c> on a loopback port: the baseline for blob throughput.</summary>
public sealed class NginxServer : IAsyncDisposable
{
    private readonly Daemon _daemon;

    private NginxServer(Daemon daemon, string host, int port)
    {
        _daemon = daemon;
        Host = host;
        Port = port;
    }

    public string Host { get; }

    public int Port { get; }

    public string Url => $"http://{Host}:{Port}/blob";

    /// <summary>Starts nginx on <paramref name="host"/> (inside <paramref name="netns"/> when given).</summary>
    public static async Task<NginxServer> StartAsync(string folder, string file, string host = "127.0.0.1", string? netns = null)
    {
        Tools.Require(Tools.Nginx);
        Directory.CreateDirectory(folder);
        int port = netns is null ? Network.FreePort() : 8080;
        string config = Path.Combine(folder, "nginx.conf");
        await File.WriteAllTextAsync(config, $$"""
            daemon off;
            master_process on;
            worker_processes auto;
            user root;
            error_log {{Path.Combine(folder, "error.log")}} warn;
            pid {{Path.Combine(folder, "nginx.pid")}};
            events { worker_connections 256; }
            http {
              access_log off;
              sendfile on;
              tcp_nopush on;
              client_body_temp_path {{folder}};
              proxy_temp_path {{folder}};
              fastcgi_temp_path {{folder}};
              uwsgi_temp_path {{folder}};
              scgi_temp_path {{folder}};
              server {
                listen {{host}}:{{port}};
                location = /blob { alias {{file}}; default_type application/octet-stream; }
              }
            }
            """).ConfigureAwait(false);
        var daemon = netns is null
            ? Daemon.Start(Tools.Nginx, ["-c", config, "-p", folder], Path.Combine(folder, "nginx.log"))
            : Daemon.Start(Tools.Ip, ["netns", "exec", netns, Tools.Nginx, "-c", config, "-p", folder], Path.Combine(folder, "nginx.log"));
        var server = new NginxServer(daemon, host, port);
        await Network.WaitUntilAsync(async () => await Network.StatusAsync($"http://{host}:{port}/blob", netns).ConfigureAwait(false) == 200, TimeSpan.FromSeconds(10), "nginx", daemon.ReadLog).ConfigureAwait(false);
        return server;
    }

    public ValueTask DisposeAsync() => _daemon.DisposeAsync();
}
