// The .NET side of tests/tests/runtime_dotnet.rs: compiled with Mono's mcs,
// run on the .NET Core 3.1 runtime of the dotnetcore2 wheel. Runs the cases
// given as arguments, in order, in one process, and prints one JSON line per
// case to stderr. stderr, not stdout: rampart writes its event lines to
// stderr before a denied call returns, so the lines of case N are exactly
// those between the result lines of case N-1 and N (Console.Error flushes
// every write). A first line {"case":"_start"} marks the end of the
// runtime's startup.
//
// A case is one argument, its fields separated by tabs: NAME OP ARGS...
//   read PATH             File.ReadAllText(PATH)
//   write PATH TEXT       File.WriteAllText(PATH, TEXT)
//   connect HOST PORT     new TcpClient().Connect(HOST, PORT): an IP literal is
//                         parsed (no name lookup), a name goes through Dns
//   spawn PROG ARGS...    Process.Start(PROG, ARGS) without a shell, stdout and exit code
//   spawn_scrubbed PROG ARGS...   the same with the child's environment cleared and
//                         LD_PRELOAD="", RAMPART_MODE=off, RAMPART_POLICY=/dev/null
// Result: {"case":NAME,"ok":true,"value":...} or {"case":NAME,"ok":false,"exc":CLASS,
//   "msg":MSG,"chain":[TYPE, its base types...],"hresult":N,"native":N|null,"socket_error":NAME|null}

using System;
using System.ComponentModel;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;

class Cases
{
    static void Main(string[] args)
    {
        // Everything before this line is the runtime starting.
        Console.Error.WriteLine("{\"case\":\"_start\"}");
        foreach (string arg in args)
        {
            string[] f = arg.Split('\t');
            string result;
            try
            {
                string[] rest = new string[f.Length - 2];
                Array.Copy(f, 2, rest, 0, rest.Length);
                result = "\"ok\":true,\"value\":" + Run(f[1], rest);
            }
            catch (Exception e)
            {
                string native = "null";
                string socketError = "null";
                Win32Exception w = e as Win32Exception;
                if (w != null) native = w.NativeErrorCode.ToString();
                SocketException s = e as SocketException;
                if (s != null) socketError = Str(s.SocketErrorCode.ToString());
                StringBuilder chain = new StringBuilder();
                for (Type t = e.GetType(); t != null; t = t.BaseType)
                {
                    chain.Append(chain.Length == 0 ? "" : ",").Append(Str(t.FullName));
                }
                result = "\"ok\":false,\"exc\":" + Str(e.GetType().FullName) + ",\"msg\":" + Str(e.Message)
                    + ",\"chain\":[" + chain + "]"
                    + ",\"hresult\":" + e.HResult + ",\"native\":" + native + ",\"socket_error\":" + socketError;
            }
            Console.Error.WriteLine("{\"case\":" + Str(f[0]) + "," + result + "}");
        }
    }

    static string Run(string op, string[] a)
    {
        switch (op)
        {
            case "read":
                return Str(File.ReadAllText(a[0]));
            case "write":
                File.WriteAllText(a[0], a[1]);
                return "null";
            case "connect":
            {
                int port = int.Parse(a[1]);
                using (TcpClient c = new TcpClient())
                {
                    IPAddress ip;
                    if (IPAddress.TryParse(a[0], out ip)) c.Connect(ip, port);
                    else c.Connect(a[0], port);
                    // One byte, so the test can tell this connection from any other.
                    c.GetStream().WriteByte((byte)'d');
                }
                return "null";
            }
            case "spawn":
            case "spawn_scrubbed":
            {
                StringBuilder line = new StringBuilder();
                for (int i = 1; i < a.Length; i++)
                {
                    if (i > 1) line.Append(' ');
                    // Process.Start splits Arguments like a Windows command line.
                    line.Append('"').Append(a[i].Replace("\\", "\\\\").Replace("\"", "\\\"")).Append('"');
                }
                ProcessStartInfo info = new ProcessStartInfo(a[0], line.ToString());
                info.UseShellExecute = false;
                info.RedirectStandardOutput = true;
                if (op == "spawn_scrubbed")
                {
                    // What code trying to run a child unprotected would do.
                    info.EnvironmentVariables.Clear();
                    info.EnvironmentVariables["LD_PRELOAD"] = "";
                    info.EnvironmentVariables["RAMPART_MODE"] = "off";
                    info.EnvironmentVariables["RAMPART_POLICY"] = "/dev/null";
                }
                // stderr stays ours: that is where the block line of a denied exec goes.
                using (Process p = Process.Start(info))
                {
                    string stdout = p.StandardOutput.ReadToEnd();
                    p.WaitForExit();
                    return "{\"stdout\":" + Str(stdout) + ",\"code\":" + p.ExitCode + "}";
                }
            }
            default:
                throw new ArgumentException("unknown op " + op);
        }
    }

    static string Str(string s)
    {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        foreach (char ch in s)
        {
            if (ch == '"' || ch == '\\') b.Append('\\').Append(ch);
            else if (ch < 0x20) b.Append(string.Format("\\u{0:x4}", (int)ch));
            else b.Append(ch);
        }
        return b.Append('"').ToString();
    }
}
