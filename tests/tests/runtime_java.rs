//! Java (OpenJDK 17) under librampart.so in block mode.
//!
//! One JVM runs every case (tests/runtimes/java/Cases.java, compiled with
//! javac into a tempdir): starting a JVM per case would cost seconds. Each
//! test checks one case: the exception Java raised, the block line the case
//! caused (type, category, target, access, pid) and that nothing else
//! changed (files not created or truncated, listeners not reached).
//!
//! The JDK's calls: `Files.newInputStream` opens with `open64`
//! (libnio), `FileOutputStream` with `open64`, `Socket.connect` uses an
//! IPv6 socket and connects to the IPv4-mapped address (`::ffff:127.0.0.1`),
//! `ProcessBuilder` runs `posix_spawn` of `lib/jspawnhelper`, which `execvp`s
//! the program — so jspawnhelper must be allowed, and the block line of a
//! denied program comes from jspawnhelper's process.
//!
//! The JDK's own needs: its cwd must be readable (HotSpot saves the cwd
//! with `open(".")`; see the policy), and it writes /tmp/hsperfdata_USER.
//!
//! Needs `java` and `javac` (OpenJDK 17) on PATH; `cargo xtask test`
//! installs them when missing.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rampart_event::Event;
use rampart_policy::{Access, Category};
use rampart_tests::cases::{Case, CaseRun, accepted, assert_blocked, assert_quiet, run_cases};
use rampart_tests::{rampart_run, write_policy};
use serde_json::{Value, json};

/// The whole JVM run; a hook that deadlocks fails here instead of hanging.
const TIMEOUT: Duration = Duration::from_secs(45);

const ALLOWED_CONTENT: &str = "allowed-content\n";
const SECRET_CONTENT: &str = "secret-content\n";

/// The run every test looks at, made once per test binary.
struct Suite {
    /// The canonical tempdir the run used (removed once the run's effects
    /// were recorded below).
    dir: String,
    run: CaseRun,
    /// Each case's result line and its index in `run.cases`, by name.
    results: BTreeMap<String, (Value, usize)>,
    /// What the case names were, in the order they ran.
    order: Vec<String>,
    ok_port: u16,
    denied_port: u16,
    after: After,
    took: Duration,
}

/// The state of the world after the run.
struct After {
    secret: String,
    secret_new_exists: bool,
    touched_exists: bool,
    touched_path_exists: bool,
    written: Option<String>,
    /// What each connection accepted on the allowed listener sent.
    ok_conns: Vec<Vec<u8>>,
    denied_conns: Vec<Vec<u8>>,
}

fn suite() -> &'static Suite {
    static SUITE: OnceLock<Suite> = OnceLock::new();
    SUITE.get_or_init(setup)
}

/// A tool on PATH, or a failure that says how to get it (never a skip).
fn require(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(tool)).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "`{tool}` (OpenJDK 17) is not on PATH: run `cargo xtask test`, which installs the runtimes, \
             or `apt-get install -y openjdk-17-jdk-headless`"
        )
    })
}

fn setup() -> Suite {
    let java = require("java");
    let javac = require("javac");
    // The JDK's home from the real path of `java` (/usr/bin/java is a chain
    // of alternatives links): jspawnhelper lives in its lib/.
    let java_home = std::fs::canonicalize(&java).unwrap().parent().unwrap().parent().unwrap().to_path_buf();
    let jspawnhelper = java_home.join("lib/jspawnhelper");
    assert!(
        jspawnhelper.is_file(),
        "{} is missing: the JDK at {} is not a full JDK",
        jspawnhelper.display(),
        java_home.display()
    );

    let tmp = tempfile::tempdir().unwrap();
    let dir_path = std::fs::canonicalize(tmp.path()).unwrap();
    let dir = dir_path.to_str().unwrap().to_owned();
    for sub in ["allowed", "secret", "out", "classes"] {
        std::fs::create_dir(dir_path.join(sub)).unwrap();
    }
    std::fs::write(dir_path.join("allowed/a.txt"), ALLOWED_CONTENT).unwrap();
    std::fs::write(dir_path.join("secret/s.txt"), SECRET_CONTENT).unwrap();
    // Relative link targets: resolved from the link's directory.
    std::os::unix::fs::symlink("../secret/s.txt", dir_path.join("allowed/link")).unwrap();
    std::os::unix::fs::symlink("../allowed/a.txt", dir_path.join("secret/link-to-allowed")).unwrap();

    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("runtimes/java/Cases.java");
    let compiled = Command::new(&javac).arg("-d").arg(dir_path.join("classes")).arg(&source).output().unwrap();
    assert!(compiled.status.success(), "javac failed: {}", String::from_utf8_lossy(&compiled.stderr));

    let ok_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let denied_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ok_port = ok_listener.local_addr().unwrap().port();
    let denied_port = denied_listener.local_addr().unwrap().port();

    let policy = json!({
        "version": 1,
        "mode": "block",
        "block": ["file", "network", "process"],
        "allow": {
            "file": [
                // What the JVM itself reads and writes to start and stop.
                "r /usr/**", "r /lib/**", "r /lib64/**", "r /etc/**", "r /proc/**", "r /sys/**", "r /dev/**",
                "rw /dev/null", "rw /proc/*/coredump_filter", "rw /tmp/hsperfdata_*", "rw /tmp/hsperfdata_*/**",
                format!("r {}/**", java_home.display()),
                format!("r {dir}/classes/**"),
                // HotSpot saves its cwd with open(".") while it creates the
                // perf-data file in /tmp/hsperfdata_USER; if that open is
                // denied it never changes back, and every relative path of
                // the program then resolves in /tmp/hsperfdata_USER.
                format!("r {dir}"),
                // The cases.
                format!("r {dir}/allowed/**"),
                format!("w {dir}/out/**"),
            ],
            "network": [format!("127.0.0.1:{ok_port}")],
            "process": [jspawnhelper.to_str().unwrap(), "/usr/bin/echo", "/usr/bin/cat"],
        }
    });
    let policy = write_policy(&dir_path, &serde_json::to_string_pretty(&policy).unwrap());

    let cases: Vec<(&str, Vec<String>)> = vec![
        ("file_read_allowed", vec!["read".into(), format!("{dir}/allowed/a.txt")]),
        ("file_read_denied", vec!["read".into(), format!("{dir}/secret/s.txt")]),
        ("file_read_relative", vec!["read".into(), "secret/s.txt".into()]),
        ("file_read_dotdot", vec!["read".into(), format!("{dir}/allowed/../secret/s.txt")]),
        ("file_read_symlink", vec!["read".into(), format!("{dir}/allowed/link")]),
        ("file_read_symlink_to_allowed", vec!["read".into(), format!("{dir}/secret/link-to-allowed")]),
        ("file_write_allowed", vec!["write".into(), format!("{dir}/out/written.txt"), "written-by-java".into()]),
        ("file_write_denied_new", vec!["write".into(), format!("{dir}/secret/new.txt"), "x".into()]),
        ("file_write_denied_existing", vec!["write".into(), format!("{dir}/secret/s.txt"), "overwritten".into()]),
        ("net_connect_allowed", vec!["connect".into(), "127.0.0.1".into(), ok_port.to_string()]),
        ("net_connect_denied", vec!["connect".into(), "127.0.0.1".into(), denied_port.to_string()]),
        ("net_connect_denied_name", vec!["connect".into(), "localhost".into(), denied_port.to_string()]),
        ("proc_spawn_allowed", vec!["spawn".into(), "/usr/bin/echo".into(), "hello from echo".into()]),
        (
            "proc_spawn_denied",
            vec!["spawn".into(), "/bin/sh".into(), "-c".into(), format!("touch {dir}/secret/touched")],
        ),
        (
            "proc_spawn_path_lookup",
            vec!["spawn".into(), "sh".into(), "-c".into(), format!("touch {dir}/secret/touched-path")],
        ),
        (
            "proc_spawn_env_scrubbed",
            vec!["spawn_scrubbed".into(), "/usr/bin/cat".into(), format!("{dir}/secret/s.txt")],
        ),
    ];
    let order: Vec<String> = cases.iter().map(|(n, _)| n.to_string()).collect();

    let mut cmd = rampart_run(Some(&policy), Some("block"));
    cmd.arg(&java).arg("-cp").arg(dir_path.join("classes")).arg("Cases").current_dir(&dir_path);
    for (name, fields) in &cases {
        cmd.arg(format!("{name}\t{}", fields.join("\t")));
    }
    let t = Instant::now();
    let run = run_cases(&mut cmd, TIMEOUT);
    let took = t.elapsed();
    eprintln!("JVM run under rampart took {took:?}");

    let mut results = BTreeMap::new();
    for (i, case) in run.cases.iter().enumerate() {
        let v: Value =
            serde_json::from_str(&case.line).unwrap_or_else(|e| panic!("bad result line {:?}: {e}", case.line));
        let name = v["case"].as_str().unwrap().to_owned();
        results.insert(name, (v, i));
    }

    let after = After {
        secret: std::fs::read_to_string(dir_path.join("secret/s.txt")).unwrap(),
        secret_new_exists: dir_path.join("secret/new.txt").symlink_metadata().is_ok(),
        touched_exists: dir_path.join("secret/touched").symlink_metadata().is_ok(),
        touched_path_exists: dir_path.join("secret/touched-path").symlink_metadata().is_ok(),
        written: std::fs::read_to_string(dir_path.join("out/written.txt")).ok(),
        ok_conns: accepted(&ok_listener),
        denied_conns: accepted(&denied_listener),
    };
    drop(tmp);
    Suite { dir, run, results, order, ok_port, denied_port, after, took }
}

impl Suite {
    /// A case's result line and what it wrote to stderr.
    fn case(&self, name: &str) -> (&Value, &Case) {
        let (v, i) = self
            .results
            .get(name)
            .unwrap_or_else(|| panic!("case {name} printed no result line; the run: {:#?}", self.run.outcome));
        (v, &self.run.cases[*i])
    }

    /// The case succeeded without any event line or other output on
    /// stderr; returns its value.
    fn ok(&self, name: &str) -> &Value {
        let (v, case) = self.case(name);
        assert_eq!(v["ok"], true, "{name} failed: {v}");
        assert_quiet(name, &case.events);
        assert!(case.stderr.is_empty(), "{name}: unexpected stderr {:#?}", case.stderr);
        &v["value"]
    }

    /// The case threw `exc` with message `msg` and wrote nothing else to
    /// stderr; returns its result line and events.
    fn threw(&self, name: &str, exc: &str, msg: &str) -> (&Value, &[Event]) {
        let (v, case) = self.case(name);
        assert_eq!(v["ok"], false, "{name} should have failed: {v}");
        assert_eq!(v["exc"], exc, "{name}: {v}");
        assert_eq!(v["msg"], msg, "{name}: {v}");
        assert!(case.stderr.is_empty(), "{name}: unexpected stderr {:#?}", case.stderr);
        (v, &case.events)
    }

    fn blocked_read(&self, name: &str, opened: &str) {
        let (_, evs) = self.threw(name, "java.nio.file.AccessDeniedException", opened);
        let target = format!("{}/secret/s.txt", self.dir);
        assert_blocked(name, evs, Category::File, &target, Some(Access::R), Some(self.run.pid));
    }
}

#[test]
fn jvm_runs_every_case_and_exits_cleanly() {
    let s = suite();
    eprintln!("suite took {:?}", s.took);
    assert_eq!(s.run.outcome.code, Some(0), "the JVM failed: {:#?}", s.run.outcome);
    let ran: Vec<&str> = s.run.cases.iter().map(|c| c.line.split('"').nth(3).unwrap_or_default()).collect();
    assert_eq!(ran, s.order.iter().map(String::as_str).collect::<Vec<_>>(), "cases missing or out of order");
    // The JVM starting and stopping needs nothing the policy does not allow.
    assert_quiet("JVM startup", &s.run.startup);
    assert_quiet("JVM exit", &s.run.trailing);
    // Nothing on stderr but the result lines (no JVM warning, e.g. about a
    // denied perf-data file), nothing on stdout.
    assert!(s.run.startup_stderr.is_empty(), "unexpected stderr at startup: {:#?}", s.run.startup_stderr);
    assert!(s.run.trailing_stderr.is_empty(), "unexpected stderr at exit: {:#?}", s.run.trailing_stderr);
    assert_eq!(s.run.outcome.stdout, "");
}

#[test]
fn files_newinputstream_allowed_reads_the_file() {
    assert_eq!(suite().ok("file_read_allowed"), ALLOWED_CONTENT);
}

#[test]
fn files_newinputstream_denied_throws_access_denied() {
    let s = suite();
    s.blocked_read("file_read_denied", &format!("{}/secret/s.txt", s.dir));
}

#[test]
fn relative_path_is_decided_on_the_absolute_path() {
    suite().blocked_read("file_read_relative", "secret/s.txt");
}

#[test]
fn dotdot_out_of_an_allowed_dir_is_denied() {
    let s = suite();
    s.blocked_read("file_read_dotdot", &format!("{}/allowed/../secret/s.txt", s.dir));
}

#[test]
fn symlink_in_an_allowed_dir_to_a_denied_file_is_denied() {
    let s = suite();
    s.blocked_read("file_read_symlink", &format!("{}/allowed/link", s.dir));
}

#[test]
fn symlink_in_a_denied_dir_to_an_allowed_file_is_allowed() {
    // The decision is on the file really opened, both ways.
    assert_eq!(suite().ok("file_read_symlink_to_allowed"), ALLOWED_CONTENT);
}

#[test]
fn fileoutputstream_allowed_writes() {
    let s = suite();
    assert_eq!(s.ok("file_write_allowed"), &Value::Null);
    assert_eq!(s.after.written.as_deref(), Some("written-by-java"));
}

#[test]
fn fileoutputstream_denied_new_file_is_not_created() {
    let s = suite();
    let path = format!("{}/secret/new.txt", s.dir);
    let (_, evs) =
        s.threw("file_write_denied_new", "java.io.FileNotFoundException", &format!("{path} (Permission denied)"));
    // O_WRONLY|O_CREAT|O_TRUNC.
    assert_blocked("file_write_denied_new", evs, Category::File, &path, Some(Access::W), Some(s.run.pid));
    assert!(!s.after.secret_new_exists, "the denied open created {path}");
}

#[test]
fn fileoutputstream_denied_existing_file_is_not_truncated() {
    let s = suite();
    let path = format!("{}/secret/s.txt", s.dir);
    let (_, evs) =
        s.threw("file_write_denied_existing", "java.io.FileNotFoundException", &format!("{path} (Permission denied)"));
    assert_blocked("file_write_denied_existing", evs, Category::File, &path, Some(Access::W), Some(s.run.pid));
    assert_eq!(s.after.secret, SECRET_CONTENT, "the denied open changed the file");
}

#[test]
fn socket_connect_allowed_reaches_the_listener() {
    let s = suite();
    assert_eq!(s.ok("net_connect_allowed"), &Value::Null);
    assert_eq!(s.after.ok_conns, vec![b"j".to_vec()], "the allowed listener should get exactly the one connection");
}

/// Java reports connect's EACCES as a `BindException` (sun.nio.ch.Net maps
/// EACCES with EADDRINUSE/EADDRNOTAVAIL), a `SocketException` subclass.
fn assert_connect_denied(s: &Suite, name: &str, target: &str) {
    let (v, evs) = s.threw(name, "java.net.BindException", "Permission denied");
    assert!(v["chain"].as_array().unwrap().contains(&json!("java.net.SocketException")), "{name}: {v}");
    assert_blocked(name, evs, Category::Network, target, None, Some(s.run.pid));
    assert!(s.after.denied_conns.is_empty(), "a denied connect reached the listener: {:?}", s.after.denied_conns);
}

#[test]
fn socket_connect_denied_throws_permission_denied() {
    // The JDK connects an IPv6 socket to ::ffff:127.0.0.1: the target is the IPv4 address.
    let s = suite();
    assert_connect_denied(s, "net_connect_denied", &format!("127.0.0.1:{}", s.denied_port));
}

#[test]
fn socket_connect_by_name_is_reported_by_name() {
    // The JDK resolved `localhost` with getaddrinfo: the target says the name.
    let s = suite();
    assert_connect_denied(s, "net_connect_denied_name", &format!("localhost:{}", s.denied_port));
    assert_ne!(s.ok_port, s.denied_port);
}

#[test]
fn processbuilder_allowed_runs_the_program() {
    let s = suite();
    assert_eq!(s.ok("proc_spawn_allowed"), &json!({"stdout": "hello from echo\n", "code": 0}));
}

#[test]
fn processbuilder_denied_throws_error_13() {
    let s = suite();
    let (v, evs) = s.threw(
        "proc_spawn_denied",
        "java.io.IOException",
        "Cannot run program \"/bin/sh\": error=13, Permission denied",
    );
    assert_eq!(v["cause_msg"], "error=13, Permission denied", "{v}");
    // The target is the program's real path (/bin/sh → /usr/bin/dash on Debian).
    let real = std::fs::canonicalize("/bin/sh").unwrap();
    assert_blocked("proc_spawn_denied", evs, Category::Process, real.to_str().unwrap(), None, None);
    let ev = &evs[0];
    let touch = format!("touch {}/secret/touched", s.dir);
    assert_eq!(ev.argv.as_deref(), Some(&["/bin/sh".to_owned(), "-c".to_owned(), touch][..]), "{ev:#?}");
    // Denied in jspawnhelper, the JDK's exec helper: not the JVM's pid.
    assert_ne!(ev.pid, s.run.pid, "expected the block line from jspawnhelper: {ev:#?}");
    assert!(!s.after.touched_exists, "the denied program ran");
}

/// The first `prog` on PATH, as execvp would find it.
fn on_path(prog: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(prog)).find(|p| p.is_file()).unwrap()
}

#[test]
fn processbuilder_program_found_on_path_is_denied_by_its_real_path() {
    let s = suite();
    let name = "proc_spawn_path_lookup";
    let (_, evs) = s.threw(name, "java.io.IOException", "Cannot run program \"sh\": error=13, Permission denied");
    let real = std::fs::canonicalize(on_path("sh")).unwrap();
    assert_blocked(name, evs, Category::Process, real.to_str().unwrap(), None, None);
    let touch = format!("touch {}/secret/touched-path", s.dir);
    assert_eq!(evs[0].argv.as_deref(), Some(&["sh".to_owned(), "-c".to_owned(), touch][..]), "{:#?}", evs[0]);
    // Denied in jspawnhelper (the JDK searches PATH there).
    assert_ne!(evs[0].pid, s.run.pid);
    assert!(!s.after.touched_path_exists, "the denied program ran");
}

#[test]
fn processbuilder_with_scrubbed_env_still_covers_the_child() {
    // The code cleared the child's environment (pb.environment().clear()) and set
    // LD_PRELOAD="", RAMPART_MODE=off, RAMPART_POLICY=/dev/null: the library
    // re-injects the parent's at exec, so cat (allowed) runs covered, in
    // block mode, and its open of the secret is denied.
    let s = suite();
    let name = "proc_spawn_env_scrubbed";
    let (v, case) = s.case(name);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["value"], json!({"stdout": "", "code": 1}), "{v}");
    let secret = format!("{}/secret/s.txt", s.dir);
    assert_blocked(name, &case.events, Category::File, &secret, Some(Access::R), None);
    assert_ne!(case.events[0].pid, s.run.pid, "expected the block line from cat");
    // cat's own message, in the C locale (the environment is empty).
    assert_eq!(case.stderr, vec![format!("/usr/bin/cat: {secret}: Permission denied")]);
    assert_eq!(s.after.secret, SECRET_CONTENT);
}
