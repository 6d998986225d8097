//! End to end: the real Python 3.11 (`python3` on PATH) under `rampart run`
//! with librampart.so preloaded. The fixture (tests/runtimes/python/cases.py)
//! runs every case of a suite in one interpreter; each test here asserts one
//! case exactly: what Python returned or raised, the event lines written
//! during the case, and (for the whole run) that nothing else changed on disk
//! or reached the loopback peers.
//!
//! Suites (one interpreter each, started once and shared by its tests):
//! - `block`: the policy's own mode, block, with /bin/sh allowed.
//! - `noshell`: block, /bin/sh (dash) not allowed.
//! - `profile` and `alert`: the block policy run with `--mode`.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use rampart_event::EventType::{Alert, Block, Profile};
use rampart_tests::runtimes_common::{
    ALLOWED_DATA, Entry, PeerLog, Peers, RO_DATA, SECRET_DATA, Sandbox, TempDir, Transcript, Want, assert_events,
    assert_quiet_outside_cases, base_file_rules, fixture_config, policy_json, realpath, run_fixture,
};
use rampart_tests::{rampart_run, write_policy};
use serde_json::{Value, json};

const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/runtimes/python");
/// Generous: a debug build of the library, four interpreters in parallel.
const TIMEOUT: Duration = Duration::from_secs(40);

/// The real interpreter behind `python3` (pyenv's `python3` is a shell
/// script that execs it: run it directly so the policy only needs the
/// interpreter) and its installation prefix.
struct Python {
    exe: String,
    prefix: String,
}

const INSTALL_PYTHON: &str = "install Python 3.11 (`apt-get install python3` on Debian 12, or `pyenv install 3.11`)";

fn python() -> &'static Python {
    static PY: OnceLock<Python> = OnceLock::new();
    PY.get_or_init(|| {
        let probe = "import os, sys\n\
                     print(os.path.realpath(sys.executable))\n\
                     print(os.path.realpath(sys.base_prefix))\n\
                     print(sys.version_info[:2] >= (3, 11))";
        let out = std::process::Command::new("python3")
            .args(["-I", "-c", probe])
            .output()
            .unwrap_or_else(|e| panic!("python3 is not on PATH ({e}): {INSTALL_PYTHON}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            out.status.success() && lines.len() == 3 && lines[2] == "True",
            "python3 must be Python >= 3.11, {INSTALL_PYTHON}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Python { exe: lines[0].to_owned(), prefix: lines[1].to_owned() }
    })
}

/// One finished interpreter run.
struct Suite {
    t: Transcript,
    root: String,
    /// Each case's JSON line, without `case` and `pid`.
    out: BTreeMap<String, Value>,
    /// The interpreter's pid (every case line carries it).
    pid: u32,
    /// stdout lines that are not a case's JSON.
    stray: Vec<String>,
    initial: BTreeMap<String, Entry>,
    after: BTreeMap<String, Entry>,
    peers: PeerLog,
    /// The peers' ports by fixture config name (`tcp_denied`, ...).
    ports: BTreeMap<&'static str, u16>,
}

impl Suite {
    fn run(suite: &str, mode: Option<&str>, processes: &[&str]) -> Suite {
        let py = python();
        let sandbox = Sandbox::new(&format!("py-{suite}"));
        let peers = Peers::new();
        // Links to programs, for the exec-through-a-symlink cases.
        let mut initial = sandbox.initial_snapshot();
        for (name, program) in [("tool", UNAME), ("ok", TRUE)] {
            std::os::unix::fs::symlink(program, sandbox.root().join("allowed").join(name)).expect("symlink");
            initial.insert(format!("allowed/{name}"), Entry::Link(program.into()));
        }
        let mut file = base_file_rules();
        file.push(format!("r {}/**", py.prefix));
        file.push(format!("r {}/**", realpath(FIXTURE_DIR)));
        file.extend(sandbox.rules());
        let mut process = vec![py.exe.clone()];
        process.extend(processes.iter().map(|p| p.to_string()));
        let policy_dir = TempDir::new(&format!("py-{suite}-policy"));
        let policy = write_policy(policy_dir.path(), &policy_json("block", &file, &peers.rules(), &process));

        let mut cmd = rampart_run(Some(&policy), mode);
        cmd.arg(&py.exe)
            .args(["-I", "-B", &format!("{FIXTURE_DIR}/cases.py"), suite, &fixture_config(&sandbox, &peers)])
            .current_dir(sandbox.root());
        let t = run_fixture(&mut cmd, TIMEOUT);
        eprintln!("python suite {suite}: {:?} wall", t.wall);

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

    /// The case's result (its JSON line without `case` and `pid`).
    fn out(&self, case: &str) -> &Value {
        self.out.get(case).unwrap_or_else(|| {
            panic!("case {case} printed no result\nstdout:\n{}\nstderr:\n{}", self.t.stdout, self.t.raw_stderr)
        })
    }

    fn check(&self, case: &str, want_out: Value, want_events: &[Want]) {
        assert_eq!(self.out(case), &want_out, "case {case}: result differs\ncase stderr:\n{}", self.t.case(case).text);
        assert_events(self.t.case(case), want_events);
    }

    /// The run as a whole: exited 0 after every case, nothing on stdout but
    /// case lines, no block/alert/error line outside a case, the sandbox
    /// exactly as expected.
    fn check_run(&self, cases: usize, after: BTreeMap<String, Entry>, peers: PeerLog) {
        assert_eq!(
            self.t.code,
            Some(0),
            "interpreter failed\nstdout:\n{}\nstderr:\n{}",
            self.t.stdout,
            self.t.raw_stderr
        );
        assert!(self.t.exit.is_some(), "the fixture did not finish:\n{}", self.t.raw_stderr);
        assert_eq!(self.out.len(), cases, "cases reported: {:?}", self.out.keys());
        assert_eq!(self.t.cases.len(), cases, "cases started: {:?}", self.t.cases.iter().map(|c| &c.name));
        assert!(self.stray.is_empty(), "stray stdout lines: {:?}", self.stray);
        assert_quiet_outside_cases(&self.t, &[Block, Alert]);
        assert_eq!(self.after, after, "the sandbox changed unexpectedly");
        assert_eq!(self.peers, peers, "what reached the loopback peers");
        for (name, out) in &self.out {
            assert!(out.get("unexpected").is_none(), "case {name} raised: {out}");
        }
    }
}

const SH: &str = "/usr/bin/dash";
const ECHO: &str = "/usr/bin/echo";
const TRUE: &str = "/usr/bin/true";
/// The program no policy here allows.
const UNAME: &str = "/usr/bin/uname";

fn block() -> &'static Suite {
    static S: OnceLock<Suite> = OnceLock::new();
    S.get_or_init(|| Suite::run("block", None, &[SH, ECHO, TRUE]))
}

fn noshell() -> &'static Suite {
    static S: OnceLock<Suite> = OnceLock::new();
    S.get_or_init(|| Suite::run("noshell", None, &[ECHO, TRUE]))
}

fn profile() -> &'static Suite {
    static S: OnceLock<Suite> = OnceLock::new();
    S.get_or_init(|| Suite::run("profile", Some("profile"), &[SH, ECHO, TRUE]))
}

fn alert() -> &'static Suite {
    static S: OnceLock<Suite> = OnceLock::new();
    S.get_or_init(|| Suite::run("alert", Some("alert"), &[SH, ECHO, TRUE]))
}

/// `PermissionError(13, ..., filename)` as the fixture reports it.
fn denied(filename: Option<&str>) -> Value {
    json!({"ok": false, "error": "PermissionError", "errno": 13, "filename": filename})
}

fn ok(value: Value) -> Value {
    json!({"ok": true, "value": value})
}

/// `with(v, {"k": x})`: v with more fields.
fn with(mut v: Value, more: Value) -> Value {
    if let (Value::Object(m), Value::Object(more)) = (&mut v, more) {
        m.extend(more);
    }
    v
}

fn sh() -> String {
    realpath("/bin/sh")
}

#[test]
fn python_sh_is_dash() {
    // The process rules name /usr/bin/dash: the library reports (and matches)
    // the real program behind /bin/sh.
    assert_eq!(sh(), SH, "the policies here assume /bin/sh is dash");
}

// --- block: files ---------------------------------------------------------------

#[test]
fn python_block_open_read_allowed() {
    block().check("open_read_allowed", ok(json!(ALLOWED_DATA)), &[]);
}

#[test]
fn python_block_open_read_denied() {
    let s = block();
    let x = s.path("secret/x");
    s.check("open_read_denied", denied(Some(&x)), &[Want::file(Block, &x, "r").pid(s.pid)]);
}

#[test]
fn python_block_open_write_denied_new_file() {
    let s = block();
    let p = s.path("secret/new.txt");
    s.check("open_write_denied_new", with(denied(Some(&p)), json!({"created": false})), &[Want::file(Block, &p, "w")]);
}

#[test]
fn python_block_open_write_denied_existing_not_truncated() {
    // The content on disk is checked by python_block_run (secret/x unchanged).
    let s = block();
    let x = s.path("secret/x");
    s.check("open_write_denied_existing", denied(Some(&x)), &[Want::file(Block, &x, "w")]);
    assert_eq!(s.after.get("secret/x"), Some(&Entry::File(SECRET_DATA.into())));
}

#[test]
fn python_block_append_to_read_only_file() {
    let s = block();
    let p = s.path("ro/data.txt");
    s.check(
        "open_append_read_only_dir",
        with(denied(Some(&p)), json!({"read_back": ok(json!(RO_DATA))})),
        &[Want::file(Block, &p, "w")],
    );
}

#[test]
fn python_block_open_write_allowed() {
    let s = block();
    s.check("open_write_allowed", ok(json!("written")), &[]);
    assert_eq!(s.after.get("allowed/out.txt"), Some(&Entry::File("written".into())));
}

#[test]
fn python_block_os_open_dir_fd() {
    let s = block();
    let (x, made) = (s.path("secret/x"), s.path("secret/made.txt"));
    s.check(
        "os_open_dir_fd",
        json!({
            "allowed": ok(json!(ALLOWED_DATA)),
            "escape": denied(Some("../secret/x")),
            "create_escape": denied(Some("../secret/made.txt")),
            "created": false,
        }),
        &[Want::file(Block, &x, "r"), Want::file(Block, &made, "w")],
    );
}

#[test]
fn python_block_pathlib_read_text() {
    let s = block();
    let x = s.path("secret/x");
    s.check(
        "pathlib_read_text",
        json!({"allowed": ok(json!(ALLOWED_DATA)), "denied": denied(Some(&x))}),
        &[Want::file(Block, &x, "r")],
    );
}

#[test]
fn python_block_symlink_to_denied_file() {
    // The link is in an allowed directory; the target is the real file.
    let s = block();
    let link = s.path("allowed/link");
    s.check("symlink_to_denied", denied(Some(&link)), &[Want::file(Block, s.path("secret/x"), "r")]);
}

#[test]
fn python_block_symlink_to_allowed_file() {
    block().check("symlink_to_allowed", ok(json!(ALLOWED_DATA)), &[]);
}

#[test]
fn python_block_symlink_dir_to_denied() {
    let s = block();
    let p = s.path("allowed/secretdir/x");
    s.check("symlink_dir_to_denied", denied(Some(&p)), &[Want::file(Block, s.path("secret/x"), "r")]);
}

#[test]
fn python_block_dotdot_escape() {
    let s = block();
    let x = s.path("secret/x");
    s.check(
        "dotdot_escape",
        json!({
            "escape": denied(Some(&format!("{}/../secret/x", s.path("allowed")))),
            "stay": ok(json!(ALLOWED_DATA)),
            "slashes": denied(Some(&format!("{}//secret///x", s.root))),
        }),
        &[Want::file(Block, &x, "r"), Want::file(Block, &x, "r")],
    );
}

#[test]
fn python_block_relative_after_chdir() {
    let s = block();
    let x = s.path("secret/x");
    s.check(
        "relative_after_chdir",
        json!({
            "allowed": ok(json!(ALLOWED_DATA)),
            "up": denied(Some("../secret/x")),
            "in_secret": denied(Some("x")),
            "fchdir_allowed": ok(json!(ALLOWED_DATA)),
        }),
        &[Want::file(Block, &x, "r"), Want::file(Block, &x, "r")],
    );
}

#[test]
fn python_block_open_modes() {
    // r+ (O_RDWR) and O_RDONLY|O_CREAT both need "rw".
    let s = block();
    let (x, y) = (s.path("secret/x"), s.path("secret/y"));
    s.check(
        "open_modes",
        json!({"rplus": denied(Some(&x)), "rdonly_creat": denied(Some(&y)), "created": false}),
        &[Want::file(Block, &x, "rw"), Want::file(Block, &y, "rw")],
    );
}

#[test]
fn python_block_proc_self_root_escape() {
    // /proc/** is readable in the policy; /proc/self/root/... is the real secret file.
    let s = block();
    let x = s.path("secret/x");
    s.check("proc_root_escape", denied(Some(&format!("/proc/self/root{x}"))), &[Want::file(Block, &x, "r")]);
}

// --- block: processes ------------------------------------------------------------

#[test]
fn python_block_subprocess_allowed() {
    block().check("subprocess_allowed", json!({"returncode": 0, "stdout": "hello\n"}), &[]);
}

#[test]
fn python_block_subprocess_denied() {
    block().check("subprocess_denied", denied(Some(UNAME)), &[Want::process(Block, UNAME).argv(&[UNAME, "-s"])]);
}

#[test]
fn python_block_subprocess_via_symlink() {
    let s = block();
    let tool = s.path("allowed/tool");
    s.check("subprocess_via_symlink", denied(Some(&tool)), &[Want::process(Block, UNAME).argv(&[&tool, "-s"])]);
}

#[test]
fn python_block_subprocess_relative_to_child_cwd() {
    // subprocess.run(["./tool"], cwd=allowed): the child's chdir, then exec.
    block().check(
        "subprocess_relative_cwd",
        json!({"tool": denied(Some("./tool")), "ok": ok(json!(0))}),
        &[Want::process(Block, UNAME).argv(&["./tool", "-s"])],
    );
}

#[test]
fn python_block_subprocess_shell_allowed() {
    block().check("subprocess_shell_allowed", json!({"returncode": 0, "stdout": "hi\n"}), &[]);
}

#[test]
fn python_block_subprocess_shell_denied_inner() {
    // The shell is allowed, the program it runs is not: dash says so, exits 126.
    let s = block();
    s.check(
        "subprocess_shell_denied_inner",
        json!({"returncode": 126, "stdout": ""}),
        &[Want::process(Block, UNAME).argv(&[UNAME, "-s"])],
    );
    let text = &s.t.case("subprocess_shell_denied_inner").text;
    assert!(text.contains("/usr/bin/uname: Permission denied"), "the shell's message: {text:?}");
}

#[test]
fn python_block_subprocess_env_scrubbed() {
    // env={}: the child still has the library, the policy, and its own pid in the line.
    let s = block();
    let out = s.out("subprocess_env_scrubbed");
    let child_pid = out["child"]["pid"].as_u64().expect("child pid") as u32;
    assert_ne!(child_pid, s.pid);
    let env: Vec<&str> = out["child"]["env"].as_array().expect("env").iter().filter_map(|v| v.as_str()).collect();
    assert!(
        env.contains(&"LD_PRELOAD") && env.contains(&"RAMPART_POLICY"),
        "LD_PRELOAD and RAMPART_POLICY are re-injected into an env={{}} child: {env:?}"
    );
    s.check(
        "subprocess_env_scrubbed",
        json!({
            "returncode": 0,
            "child": {"ok": false, "error": "PermissionError", "errno": 13, "pid": child_pid, "env": env},
        }),
        &[Want::file(Block, s.path("secret/x"), "r").pid(child_pid)],
    );
}

#[test]
fn python_block_subprocess_env_overridden() {
    // RAMPART_MODE=off, RAMPART_POLICY=/nonexistent, LD_PRELOAD="" from the
    // caller are replaced by the parent's configuration.
    let s = block();
    s.check(
        "subprocess_env_overridden",
        json!({"returncode": 0, "stdout": "13\n"}),
        &[Want::file(Block, s.path("secret/x"), "r")],
    );
}

#[test]
fn python_block_os_system() {
    let s = block();
    s.check(
        "os_system",
        json!({"allowed": 0, "denied_inner": 126}),
        &[Want::process(Block, UNAME).argv(&[UNAME, "-s"])],
    );
    let text = &s.t.case("os_system").text;
    assert!(text.contains("/usr/bin/uname: Permission denied"), "the shell's message: {text:?}");
}

#[test]
fn python_block_posix_spawn() {
    // posix_spawn is decided in the caller (glibc's child calls an internal
    // execve no hook sees): EACCES returned, the line has the caller's pid.
    let s = block();
    s.check(
        "posix_spawn",
        json!({"allowed": ok(json!(0)), "denied": denied(Some(UNAME))}),
        &[Want::process(Block, UNAME).argv(&[UNAME]).pid(s.pid)],
    );
}

// --- noshell: /bin/sh itself denied -----------------------------------------------

#[test]
fn python_noshell_os_system() {
    // system() returns -1 (EACCES); Python's os.system passes it through.
    let s = noshell();
    s.check("shell_denied_system", json!({"status": -1}), &[Want::process(Block, SH).pid(s.pid)]);
}

#[test]
fn python_noshell_subprocess_shell() {
    noshell().check(
        "shell_denied_subprocess",
        denied(Some("/bin/sh")),
        &[Want::process(Block, SH).argv(&["/bin/sh", "-c", "/usr/bin/true"])],
    );
}

#[test]
fn python_noshell_allowed_program_still_runs() {
    noshell().check("allowed_still_runs", ok(json!(0)), &[]);
}

#[test]
fn python_noshell_run() {
    let s = noshell();
    s.check_run(3, s.initial.clone(), PeerLog::default());
}

// --- block: network ---------------------------------------------------------------

#[test]
fn python_block_socket_connect_allowed() {
    block().check("socket_connect_allowed", ok(json!("connected")), &[]);
}

#[test]
fn python_block_socket_connect_denied() {
    let s = block();
    let target = format!("127.0.0.1:{}", port(s, "tcp_denied"));
    s.check("socket_connect_denied", denied(None), &[Want::net(Block, target).pid(s.pid)]);
}

#[test]
fn python_block_socket_connect_by_name_denied() {
    // getaddrinfo("localhost") was called by the process: the target names it.
    let s = block();
    let target = format!("localhost:{}", port(s, "tcp_denied"));
    s.check("socket_connect_by_name_denied", denied(None), &[Want::net(Block, target)]);
}

#[test]
fn python_block_udp_sendto_allowed() {
    block().check("udp_sendto_allowed", ok(json!(8)), &[]);
}

#[test]
fn python_block_udp_sendto_denied() {
    let s = block();
    let target = format!("udp:127.0.0.1:{}", port(s, "udp_denied"));
    s.check("udp_sendto_denied", denied(None), &[Want::net(Block, target)]);
}

fn port(s: &Suite, which: &str) -> u16 {
    s.ports[which]
}

#[test]
fn python_block_udp_connect_denied() {
    let s = block();
    let target = format!("udp:127.0.0.1:{}", port(s, "udp_denied"));
    s.check("udp_connect_denied", denied(None), &[Want::net(Block, target)]);
}

#[test]
fn python_block_udp_sendmsg_denied() {
    let s = block();
    let target = format!("udp:127.0.0.1:{}", port(s, "udp_denied"));
    s.check("udp_sendmsg_denied", denied(None), &[Want::net(Block, target)]);
}

// --- block: multiprocessing -------------------------------------------------------

#[test]
fn python_block_multiprocessing_fork() {
    let s = block();
    let out = s.out("multiprocessing_fork");
    let child_pid = out["child"]["pid"].as_u64().expect("child pid") as u32;
    assert_ne!(child_pid, s.pid, "the fork child has its own pid");
    let x = s.path("secret/x");
    s.check(
        "multiprocessing_fork",
        json!({"exitcode": 0, "child": with(denied(Some(&x)), json!({"pid": child_pid}))}),
        &[Want::file(Block, &x, "r").pid(child_pid)],
    );
}

#[test]
fn python_block_run() {
    let s = block();
    let mut after = s.initial.clone();
    after.insert("allowed/out.txt".into(), Entry::File("written".into()));
    s.check_run(
        33,
        after,
        PeerLog {
            tcp_allowed_accepted: 1,
            tcp_denied_accepted: 0,
            udp_allowed_received: vec!["datagram".into()],
            udp_denied_received: vec![],
        },
    );
}

// --- profile and alert modes --------------------------------------------------------

#[test]
fn python_profile_dedup() {
    // The same open 100 times: one profile line.
    let s = profile();
    s.check(
        "profile_dedup",
        json!({"bytes": 100 * ALLOWED_DATA.len()}),
        &[Want::file(Profile, s.path("allowed/data.txt"), "r").pid(s.pid)],
    );
}

#[test]
fn python_profile_denies_nothing() {
    let s = profile();
    let secret = ok(json!(SECRET_DATA));
    let conn = ok(json!("connected"));
    s.check(
        "profile_nothing_denied",
        json!({"reads": [secret, secret, secret], "connects": [conn, conn, conn]}),
        &[
            Want::file(Profile, s.path("secret/x"), "r"),
            Want::net(Profile, format!("127.0.0.1:{}", port(s, "tcp_denied"))),
        ],
    );
}

#[test]
fn python_profile_run() {
    let s = profile();
    s.check_run(2, s.initial.clone(), PeerLog { tcp_denied_accepted: 3, ..PeerLog::default() });
    // Profile mode reports the runtime's own start-up too: its interpreter files.
    let py = python();
    assert!(
        s.t.startup
            .events
            .iter()
            .any(|e| e.kind == Profile && e.target.as_deref().is_some_and(|t| t.starts_with(&py.prefix))),
        "no profile line for the interpreter's own files at start-up:\n{}",
        s.t.raw_stderr
    );
}

#[test]
fn python_alert_file() {
    let s = alert();
    s.check("alert_file", ok(json!(SECRET_DATA)), &[Want::file(Alert, s.path("secret/x"), "r").pid(s.pid)]);
}

#[test]
fn python_alert_connect() {
    let s = alert();
    s.check(
        "alert_connect",
        ok(json!("connected")),
        &[Want::net(Alert, format!("127.0.0.1:{}", port(s, "tcp_denied"))).pid(s.pid)],
    );
}

#[test]
fn python_alert_subprocess() {
    alert().check("alert_subprocess", ok(json!("Linux\n")), &[Want::process(Alert, UNAME).argv(&[UNAME, "-s"])]);
}

#[test]
fn python_alert_run() {
    let s = alert();
    s.check_run(3, s.initial.clone(), PeerLog { tcp_denied_accepted: 1, ..PeerLog::default() });
}
