// The Java side of tests/tests/runtime_java.rs: runs the cases given as
// arguments, in order, in one JVM, and prints one JSON line per case to
// stderr. stderr, not stdout: rampart writes its event lines to stderr
// before a denied call returns, so the lines of case N are exactly those
// between the result lines of case N-1 and N (System.err flushes on println).
// A first line {"case":"_start"} marks the end of the JVM's startup.
//
// A case is one argument, its fields separated by tabs: NAME OP ARGS...
//   read PATH             Files.newInputStream(PATH), whole content
//   write PATH TEXT       new FileOutputStream(PATH), writes TEXT
//   connect HOST PORT     new Socket().connect(HOST:PORT), the JDK resolves HOST
//   spawn PROG ARGS...    new ProcessBuilder(PROG, ARGS...).start(), stdout and exit code
//   spawn_scrubbed PROG ARGS...   the same with the child's environment cleared and
//                         LD_PRELOAD="", RAMPART_MODE=off, RAMPART_POLICY=/dev/null
// Result: {"case":NAME,"ok":true,"value":...} or
//         {"case":NAME,"ok":false,"exc":CLASS,"msg":MSG,"chain":[CLASS, its superclasses...],
//          "cause":CLASS|null,"cause_msg":MSG|null}

import java.io.FileOutputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

public class Cases {
    public static void main(String[] args) {
        // Everything before this line is the JVM starting.
        System.err.println("{\"case\":\"_start\"}");
        for (String arg : args) {
            String[] f = arg.split("\t", -1);
            String name = f[0];
            String result;
            try {
                result = "\"ok\":true,\"value\":" + run(f[1], Arrays.copyOfRange(f, 2, f.length));
            } catch (Throwable e) {
                Throwable c = e.getCause();
                StringBuilder chain = new StringBuilder();
                for (Class<?> k = e.getClass(); k != null; k = k.getSuperclass()) {
                    chain.append(chain.length() == 0 ? "" : ",").append(str(k.getName()));
                }
                result = "\"ok\":false,\"exc\":" + str(e.getClass().getName()) + ",\"msg\":" + str(e.getMessage())
                        + ",\"chain\":[" + chain + "]"
                        + ",\"cause\":" + (c == null ? "null" : str(c.getClass().getName()))
                        + ",\"cause_msg\":" + (c == null ? "null" : str(c.getMessage()));
            }
            System.err.println("{\"case\":" + str(name) + "," + result + "}");
        }
    }

    static String run(String op, String[] a) throws Exception {
        switch (op) {
            case "read":
                try (InputStream in = Files.newInputStream(Paths.get(a[0]))) {
                    return str(new String(in.readAllBytes(), StandardCharsets.UTF_8));
                }
            case "write":
                try (FileOutputStream out = new FileOutputStream(a[0])) {
                    out.write(a[1].getBytes(StandardCharsets.UTF_8));
                }
                return "null";
            case "connect":
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress(a[0], Integer.parseInt(a[1])), 5000);
                    // One byte, so the test can tell this connection from any other.
                    s.getOutputStream().write('j');
                }
                return "null";
            case "spawn":
            case "spawn_scrubbed": {
                List<String> cmd = new ArrayList<>(Arrays.asList(a));
                // The child's stderr is ours: that is where a block line written by
                // jspawnhelper (the JDK's exec helper) or the child goes.
                ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT);
                if (op.equals("spawn_scrubbed")) {
                    // What code trying to run a child unprotected would do.
                    pb.environment().clear();
                    pb.environment().put("LD_PRELOAD", "");
                    pb.environment().put("RAMPART_MODE", "off");
                    pb.environment().put("RAMPART_POLICY", "/dev/null");
                }
                Process p = pb.start();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                int code = p.waitFor();
                return "{\"stdout\":" + str(out) + ",\"code\":" + code + "}";
            }
            default:
                throw new IllegalArgumentException("unknown op " + op);
        }
    }

    static String str(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            if (ch == '"' || ch == '\\') b.append('\\').append(ch);
            else if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
            else b.append(ch);
        }
        return b.append('"').toString();
    }
}
