namespace Spegel.Testbed;

/// <summary>Debian's nginx serving one file at <c>/blob</c> on a loopback port: the baseline for blob throughput.</summary>
public sealed class NginxServer : IAsyncDisposable
{
    private readonly Daemon _daemon;

    private NginxServer(Daemon daemon, int port)
    {
        _daemon = daemon;
        Port = port;
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}/blob";

    public static async Task<NginxServer> StartAsync(string folder, string file)
    {
        Tools.Require(Tools.Nginx);
        Directory.CreateDirectory(folder);
        int port = Network.FreePort();
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
                listen 127.0.0.1:{{port}};
                location = /blob { alias {{file}}; default_type application/octet-stream; }
              }
            }
            """).ConfigureAwait(false);
        var daemon = Daemon.Start(Tools.Nginx, ["-c", config, "-p", folder], Path.Combine(folder, "nginx.log"));
        var server = new NginxServer(daemon, port);
        await Network.WaitUntilAsync(async () => await Network.StatusAsync($"http://127.0.0.1:{port}/blob").ConfigureAwait(false) == 200, TimeSpan.FromSeconds(10), "nginx", daemon.ReadLog).ConfigureAwait(false);
        return server;
    }

    public ValueTask DisposeAsync() => _daemon.DisposeAsync();
}
