//! End to end: the real Node.js 20 (`node` on PATH) under `rampart run` with
//! librampart.so preloaded. The fixture (tests/runtimes/node/cases.js) runs
//! every case of a suite in one process; each test here asserts one case
//! exactly: what Node returned or threw (`error.code === 'EACCES'`), the
//! event lines written during the case, and (for the whole run) that nothing
//! else changed on disk or reached the loopback peers.
//!
//! `rampart run` sets `UV_USE_IO_URING=0`: libuv's io_uring file I/O would
//! bypass every file hook (the `fs.promises` and callback cases rely on it).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use rampart_event::EventType::{Alert, Block};
use rampart_tests::runtimes_common::{
    ALLOWED_DATA, Entry, PeerLog, Peers, SECRET_DATA, Sandbox, TempDir, Transcript, Want, assert_events,
    assert_quiet_outside_cases, base_file_rules, fixture_config, policy_json, realpath, run_fixture,
};
use rampart_tests::{rampart_run, write_policy};
use serde_json::{Value, json};

const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/runtimes/node");
const TIMEOUT: Duration = Duration::from_secs(40);

/// The real `node` binary (symlinks resolved: the process rule names it).
const INSTALL_NODE: &str = "install Node.js 20 (`apt-get install nodejs` from the NodeSource repository, \
                            deb.nodesource.com/node_20.x)";

fn node() -> &'static str {
    static NODE: OnceLock<String> = OnceLock::new();
    NODE.get_or_init(|| {
        let probe = "console.log(require('fs').realpathSync(process.execPath)); console.log(process.versions.node)";
        let out = std::process::Command::new("node")
            .args(["-e", probe])
            .output()
            .unwrap_or_else(|e| panic!("node is not on PATH ({e}): {INSTALL_NODE}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        let major = lines.get(1).and_then(|v| v.split('.').next()).and_then(|m| m.parse::<u32>().ok());
        assert!(
            out.status.success() && major.is_some_and(|m| m >= 20),
            "node must be Node.js >= 20, {INSTALL_NODE}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        lines[0].to_owned()
    })
}

/// One finished node run.
struct Suite {
    t: Transcript,
    root: String,
    /// Each case's JSON line, without `case` and `pid`.
    out: BTreeMap<String, Value>,
    pid: u32,
    stray: Vec<String>,
    initial: BTreeMap<String, Entry>,
    after: BTreeMap<String, Entry>,
    peers: PeerLog,
    ports: BTreeMap<&'static str, u16>,
}

const SH: &str = "/usr/bin/dash";
const ECHO: &str = "/usr/bin/echo";
const TRUE: &str = "/usr/bin/true";
/// The program no policy here allows.
const UNAME: &str = "/usr/bin/uname";

impl Suite {
    fn run(suite: &str, mode: Option<&str>) -> Suite {
        let node = node();
        let sandbox = Sandbox::new(&format!("node-{suite}"));
        let peers = Peers::new();
        // Links to programs, for the exec-through-a-symlink cases.
        let mut initial = sandbox.initial_snapshot();
        for (name, program) in [("tool", UNAME), ("ok", TRUE)] {
            std::os::unix::fs::symlink(program, sandbox.root().join("allowed").join(name)).expect("symlink");
            initial.insert(format!("allowed/{name}"), Entry::Link(program.into()));
        }
        let mut file = base_file_rules();
        // The fixture and its package.json (which ends Node's search for a
        // package scope there, instead of in every parent directory).
        file.push(format!("r {}/**", realpath(FIXTURE_DIR)));
        file.extend(sandbox.rules());
        let process = [node, SH, ECHO, TRUE].map(String::from);
        let policy_dir = TempDir::new(&format!("node-{suite}-policy"));
        let policy = write_policy(policy_dir.path(), &policy_json("block", &file, &peers.rules(), &process));

        let mut cmd = rampart_run(Some(&policy), mode);
        cmd.env_remove("NODE_OPTIONS")
            .arg(node)
            .args([&format!("{FIXTURE_DIR}/cases.js"), suite, &fixture_config(&sandbox, &peers)])
            .current_dir(sandbox.root());
        let t = run_fixture(&mut cmd, TIMEOUT);
        eprintln!("node suite {suite}: {:?} wall", t.wall);

        let mut out = BTreeMap::new();
        let mut stray = Vec::new();
        let mut pid = 0;
        for line in t.stdout.lines() {
            match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(mut m)) if m.contains_key("case") => {
                    let name = m.remove("case").and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
                    pid = m.remove("pid").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
                    out.insert(name, Value::Object(m));
                }
                _ => stray.push(line.to_owned()),
            }
        }
        Suite {
            root: sandbox.path(""),
            out,
            pid,
            stray,
            initial,
            after: sandbox.snapshot(),
            peers: peers.drain(),
            ports: BTreeMap::from([
                ("tcp_allowed", peers.tcp_allowed_port()),
                ("tcp_denied", peers.tcp_denied_port()),
                ("udp_allowed", peers.udp_allowed_port()),
                ("udp_denied", peers.udp_denied_port()),
            ]),
            t,
        }
    }

    fn path(&self, rel: &str) -> String {
        format!("{}/{rel}", self.root)
    }

    fn out(&self, case: &str) -> &Value {
        self.out.get(case).unwrap_or_else(|| {
            panic!("case {case} printed no result\nstdout:\n{}\nstderr:\n{}", self.t.stdout, self.t.raw_stderr)
        })
    }

    fn check(&self, case: &str, want_out: Value, want_events: &[Want]) {
        assert_eq!(self.out(case), &want_out, "case {case}: result differs\ncase stderr:\n{}", self.t.case(case).text);
        assert_events(self.t.case(case), want_events);
    }

    fn check_run(&self, cases: usize, after: BTreeMap<String, Entry>, peers: PeerLog) {
        assert_eq!(self.t.code, Some(0), "node failed\nstdout:\n{}\nstderr:\n{}", self.t.stdout, self.t.raw_stderr);
        assert!(self.t.exit.is_some(), "the fixture did not finish:\n{}", self.t.raw_stderr);
        assert_eq!(self.out.len(), cases, "cases reported: {:?}", self.out.keys());
        assert_eq!(self.t.cases.len(), cases, "cases started: {:?}", self.t.cases.iter().map(|c| &c.name));
        assert!(self.stray.is_empty(), "stray stdout lines: {:?}", self.stray);
        assert_quiet_outside_cases(&self.t, &[Block, Alert]);
        assert_eq!(self.after, after, "the sandbox changed unexpectedly");
        assert_eq!(self.peers, peers, "what reached the loopback peers");
        for (name, out) in &self.out {
            assert!(out.get("unexpected").is_none(), "case {name} threw outside its attempt: {out}");
        }
    }

    fn port(&self, which: &str) -> u16 {
        self.ports[which]
    }
}

fn block() -> &'static Suite {
    static S: OnceLock<Suite> = OnceLock::new();
    S.get_or_init(|| Suite::run("block", None))
}

fn alert() -> &'static Suite {
    static S: OnceLock<Suite> = OnceLock::new();
    S.get_or_init(|| Suite::run("alert", Some("alert")))
}

/// A libuv EACCES error as the fixture reports it (`path` only for fs and spawn).
fn eacces(syscall: &str, path: Option<&str>) -> Value {
    let mut v = json!({"ok": false, "error": "Error", "code": "EACCES", "errno": -13, "syscall": syscall});
    if let Some(p) = path {
        v["path"] = json!(p);
    }
    v
}

fn ok(value: Value) -> Value {
    json!({"ok": true, "value": value})
}

// --- files -------------------------------------------------------------------

#[test]
fn node_open_sync_allowed() {
    block().check("open_sync_allowed", ok(json!(ALLOWED_DATA)), &[]);
}

#[test]
fn node_open_sync_denied() {
    let s = block();
    let x = s.path("secret/x");
    s.check("open_sync_denied", eacces("open", Some(&x)), &[Want::file(Block, &x, "r").pid(s.pid)]);
}

#[test]
fn node_read_file_sync() {
    let s = block();
    let x = s.path("secret/x");
    s.check(
        "read_file_sync",
        json!({"allowed": ok(json!(ALLOWED_DATA)), "denied": eacces("open", Some(&x))}),
        &[Want::file(Block, &x, "r")],
    );
}

#[test]
fn node_write_file_sync_denied() {
    // Neither created nor truncated (the sandbox check in node_block_run).
    let s = block();
    let (new, x) = (s.path("secret/new.txt"), s.path("secret/x"));
    s.check(
        "write_file_sync_denied",
        json!({"create": eacces("open", Some(&new)), "created": false, "truncate": eacces("open", Some(&x))}),
        &[Want::file(Block, &new, "w"), Want::file(Block, &x, "w")],
    );
    assert_eq!(s.after.get("secret/x"), Some(&Entry::File(SECRET_DATA.into())));
}

#[test]
fn node_write_file_sync_allowed() {
    let s = block();
    s.check("write_file_sync_allowed", ok(json!("written")), &[]);
    assert_eq!(s.after.get("allowed/out.txt"), Some(&Entry::File("written".into())));
}

#[test]
fn node_promises_read_file() {
    // The open runs on a libuv worker thread.
    let s = block();
    let x = s.path("secret/x");
    s.check(
        "promises_read_file",
        json!({"allowed": ok(json!(ALLOWED_DATA)), "denied": eacces("open", Some(&x))}),
        &[Want::file(Block, &x, "r").pid(s.pid)],
    );
}

#[test]
fn node_callback_open_denied() {
    let s = block();
    let x = s.path("secret/x");
    s.check("callback_open_denied", eacces("open", Some(&x)), &[Want::file(Block, &x, "r")]);
}

#[test]
fn node_symlink_to_denied_file() {
    let s = block();
    s.check(
        "symlink_to_denied",
        eacces("open", Some(&s.path("allowed/link"))),
        &[Want::file(Block, s.path("secret/x"), "r")],
    );
}

#[test]
fn node_symlink_to_allowed_file() {
    block().check("symlink_to_allowed", ok(json!(ALLOWED_DATA)), &[]);
}

#[test]
fn node_symlink_dir_to_denied() {
    let s = block();
    s.check(
        "symlink_dir_to_denied",
        eacces("open", Some(&s.path("allowed/secretdir/x"))),
        &[Want::file(Block, s.path("secret/x"), "r")],
    );
}

#[test]
fn node_dotdot_escape() {
    let s = block();
    let x = s.path("secret/x");
    s.check(
        "dotdot_escape",
        json!({
            "escape": eacces("open", Some(&format!("{}/../secret/x", s.path("allowed")))),
            "stay": ok(json!(ALLOWED_DATA)),
            "slashes": eacces("open", Some(&format!("{}//secret///x", s.root))),
        }),
        &[Want::file(Block, &x, "r"), Want::file(Block, &x, "r")],
    );
}

#[test]
fn node_relative_after_chdir() {
    let s = block();
    let x = s.path("secret/x");
    s.check(
        "relative_after_chdir",
        json!({
            "allowed": ok(json!(ALLOWED_DATA)),
            "up": eacces("open", Some("../secret/x")),
            "in_secret": eacces("open", Some("x")),
        }),
        &[Want::file(Block, &x, "r"), Want::file(Block, &x, "r")],
    );
}

#[test]
fn node_open_modes() {
    // 'r+' (O_RDWR) needs "rw"; appending needs "w".
    let s = block();
    let (x, y) = (s.path("secret/x"), s.path("secret/y"));
    s.check(
        "open_modes",
        json!({"rplus": eacces("open", Some(&x)), "append": eacces("open", Some(&y)), "created": false}),
        &[Want::file(Block, &x, "rw"), Want::file(Block, &y, "w")],
    );
}

#[test]
fn node_proc_self_root_escape() {
    // /proc/** is readable in the policy; /proc/self/root/... is the real secret file.
    let s = block();
    let x = s.path("secret/x");
    s.check("proc_root_escape", eacces("open", Some(&format!("/proc/self/root{x}"))), &[Want::file(Block, &x, "r")]);
}

// --- network -------------------------------------------------------------------

#[test]
fn node_net_connect_allowed() {
    block().check("net_connect_allowed", ok(json!("connected")), &[]);
}

#[test]
fn node_net_connect_denied() {
    let s = block();
    let target = format!("127.0.0.1:{}", s.port("tcp_denied"));
    s.check("net_connect_denied", eacces("connect", None), &[Want::net(Block, target).pid(s.pid)]);
}

#[test]
fn node_net_connect_by_name_denied() {
    // dns.lookup (getaddrinfo on a libuv worker) resolved localhost: the target names it.
    let s = block();
    let target = format!("localhost:{}", s.port("tcp_denied"));
    s.check("net_connect_by_name_denied", eacces("connect", None), &[Want::net(Block, target).pid(s.pid)]);
}

#[test]
fn node_dgram_send_allowed() {
    block().check("dgram_send_allowed", ok(json!(8)), &[]);
}

#[test]
fn node_dgram_send_denied() {
    let s = block();
    let target = format!("udp:127.0.0.1:{}", s.port("udp_denied"));
    s.check("dgram_send_denied", eacces("send", None), &[Want::net(Block, target).pid(s.pid)]);
}

// --- processes -------------------------------------------------------------------

#[test]
fn node_spawn_allowed() {
    let s = block();
    let pid = s.out("spawn_allowed")["value"]["pid"].clone();
    s.check("spawn_allowed", ok(json!({"code": 0, "stdout": "hello\n", "pid": pid})), &[]);
}

#[test]
fn node_spawn_denied() {
    // libuv execs in a fork child and reports the child's errno: an 'error'
    // event with code EACCES.
    block().check(
        "spawn_denied",
        eacces(&format!("spawn {UNAME}"), Some(UNAME)),
        &[Want::process(Block, UNAME).argv(&[UNAME, "-s"])],
    );
}

#[test]
fn node_spawn_via_symlink() {
    let s = block();
    let tool = s.path("allowed/tool");
    s.check(
        "spawn_via_symlink",
        eacces(&format!("spawn {tool}"), Some(&tool)),
        &[Want::process(Block, UNAME).argv(&[&tool, "-s"])],
    );
}

#[test]
fn node_spawn_relative_to_child_cwd() {
    // spawn("./tool", {cwd}): libuv's child changes directory, then execs.
    block().check(
        "spawn_relative_cwd",
        json!({"tool": eacces("spawn ./tool", Some("./tool")), "ok": ok(json!(0))}),
        &[Want::process(Block, UNAME).argv(&["./tool", "-s"])],
    );
}

#[test]
fn node_spawn_env_scrubbed() {
    // env: {} drops LD_PRELOAD and RAMPART_*: the child is still covered, and
    // its line carries its own pid.
    let s = block();
    let out = s.out("spawn_env_scrubbed");
    let child_pid = out["value"]["child"]["pid"].as_u64().expect("child pid") as u32;
    assert_ne!(child_pid, s.pid);
    let env: Vec<&str> =
        out["value"]["child"]["env"].as_array().expect("env").iter().filter_map(|v| v.as_str()).collect();
    assert!(
        env.contains(&"LD_PRELOAD") && env.contains(&"RAMPART_POLICY"),
        "LD_PRELOAD and RAMPART_POLICY are re-injected into an env: {{}} child: {env:?}"
    );
    s.check(
        "spawn_env_scrubbed",
        ok(json!({"code": 0, "child": {"ok": false, "code": "EACCES", "pid": child_pid, "env": env}})),
        &[Want::file(Block, s.path("secret/x"), "r").pid(child_pid)],
    );
}

#[test]
fn node_exec_sync_allowed() {
    block().check("exec_sync_allowed", ok(json!("hello\n")), &[]);
}

#[test]
fn node_exec_sync_denied_inner() {
    // /bin/sh is allowed, the program it runs is not: dash says so, exits
    // 126, execSync throws with that status.
    let s = block();
    s.check(
        "exec_sync_denied_inner",
        json!({"ok": false, "error": "Error", "status": 126, "signal": null, "stdout": ""}),
        &[Want::process(Block, UNAME).argv(&[UNAME, "-s"])],
    );
    let text = &s.t.case("exec_sync_denied_inner").text;
    assert!(text.contains("/usr/bin/uname: Permission denied"), "the shell's message: {text:?}");
}

#[test]
fn node_block_run() {
    let s = block();
    let mut after = s.initial.clone();
    after.insert("allowed/out.txt".into(), Entry::File("written".into()));
    s.check_run(
        26,
        after,
        PeerLog {
            tcp_allowed_accepted: 1,
            tcp_denied_accepted: 0,
            udp_allowed_received: vec!["datagram".into()],
            udp_denied_received: vec![],
        },
    );
}

// --- alert mode --------------------------------------------------------------------

#[test]
fn node_alert_file() {
    let s = alert();
    s.check("alert_file", ok(json!(SECRET_DATA)), &[Want::file(Alert, s.path("secret/x"), "r").pid(s.pid)]);
}

#[test]
fn node_alert_connect() {
    let s = alert();
    let target = format!("127.0.0.1:{}", s.port("tcp_denied"));
    s.check("alert_connect", ok(json!("connected")), &[Want::net(Alert, target).pid(s.pid)]);
}

#[test]
fn node_alert_run() {
    let s = alert();
    s.check_run(2, s.initial.clone(), PeerLog { tcp_denied_accepted: 1, ..PeerLog::default() });
}
