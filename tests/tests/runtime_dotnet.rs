//! .NET (Core 3.1, from the `dotnetcore2` wheel) under librampart.so in
//! block mode.
//!
//! One runtime process runs every case (tests/runtimes/dotnet/Cases.cs,
//! compiled with Mono's `mcs` into a tempdir and run with `dotnet Cases.exe`
//! next to tests/runtimes/dotnet/Cases.runtimeconfig.json, which names the
//! framework). Each test checks one case: the exception .NET raised, the
//! block line the case caused (type, category, target, access, pid) and that
//! nothing else changed.
//!
//! .NET's calls: `File.*` open with `open` through System.Native (paths
//! made absolute and `..`-free by .NET itself first), `TcpClient` uses a
//! dual-mode IPv6 socket and connects to `::ffff:127.0.0.1`, `Process.Start`
//! forks with `vfork` and `execve`s the program from the child.
//!
//! Needs `mcs` (apt `mono-mcs`) and the `dotnetcore2` wheel (`pip install
//! dotnetcore2`); `cargo xtask test` installs both when missing.

use std::collections::BTreeMap;
use std::net::{TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rampart_event::{Event, EventType};
use rampart_policy::{Access, Category};
use rampart_tests::cases::{Case, CaseRun, accepted, assert_blocked, assert_quiet, run_cases};
use rampart_tests::{rampart_run, write_policy};
use serde_json::{Value, json};

/// The whole run; a hook that deadlocks fails here instead of hanging.
const TIMEOUT: Duration = Duration::from_secs(45);

const ALLOWED_CONTENT: &str = "allowed-content\n";
const SECRET_CONTENT: &str = "secret-content\n";

/// What the installer says when a tool is missing (a failure, never a skip).
const INSTALL: &str = "run `cargo xtask test`, which installs the runtimes, or \
                       `apt-get install -y mono-mcs && python3 -m pip install dotnetcore2`";

/// The run every test looks at, made once per test binary.
struct Suite {
    /// The canonical tempdir the run used (removed once the run's effects
    /// were recorded below).
    dir: String,
    run: CaseRun,
    /// Each case's result line and its index in `run.cases`, by name.
    results: BTreeMap<String, (Value, usize)>,
    order: Vec<String>,
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
    ok_conns: Vec<Vec<u8>>,
    denied_conns: Vec<Vec<u8>>,
}

fn suite() -> &'static Suite {
    static SUITE: OnceLock<Suite> = OnceLock::new();
    SUITE.get_or_init(setup)
}

/// `mcs` on PATH.
fn mcs() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("mcs"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`mcs` (Mono's C# compiler) is not on PATH: {INSTALL}"))
}

/// The dotnetcore2 package directory (its `bin/dotnet` is the runtime's
/// host), found through the python3 on PATH that pip installed it for.
fn dotnetcore2_dir() -> PathBuf {
    let out = Command::new("python3")
        .args(["-c", "import dotnetcore2, os; print(os.path.dirname(os.path.realpath(dotnetcore2.__file__)))"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 to find dotnetcore2: {e}; {INSTALL}"));
    assert!(
        out.status.success(),
        "the dotnetcore2 wheel is not installed ({}): {INSTALL}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let dir = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert!(dir.join("bin/dotnet").is_file(), "{}/bin/dotnet is missing: reinstall dotnetcore2", dir.display());
    dir
}

fn setup() -> Suite {
    let mcs = mcs();
    let dotnet_dir = dotnetcore2_dir();
    let dotnet = dotnet_dir.join("bin/dotnet");

    let tmp = tempfile::tempdir().unwrap();
    let dir_path = std::fs::canonicalize(tmp.path()).unwrap();
    let dir = dir_path.to_str().unwrap().to_owned();
    for sub in ["allowed", "secret", "out", "prog"] {
        std::fs::create_dir(dir_path.join(sub)).unwrap();
    }
    std::fs::write(dir_path.join("allowed/a.txt"), ALLOWED_CONTENT).unwrap();
    std::fs::write(dir_path.join("secret/s.txt"), SECRET_CONTENT).unwrap();
    std::os::unix::fs::symlink("../secret/s.txt", dir_path.join("allowed/link")).unwrap();
    std::os::unix::fs::symlink("../allowed/a.txt", dir_path.join("secret/link-to-allowed")).unwrap();

    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("runtimes/dotnet");
    let exe = dir_path.join("prog/Cases.exe");
    let compiled = Command::new(&mcs)
        .arg("-nologo")
        .arg(format!("-out:{}", exe.display()))
        .arg(fixtures.join("Cases.cs"))
        .output()
        .unwrap();
    assert!(
        compiled.status.success(),
        "mcs failed: {}{}",
        String::from_utf8_lossy(&compiled.stdout),
        String::from_utf8_lossy(&compiled.stderr)
    );
    // Without it the host does not know which framework runs the exe.
    std::fs::copy(fixtures.join("Cases.runtimeconfig.json"), dir_path.join("prog/Cases.runtimeconfig.json")).unwrap();

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
                // What the runtime itself reads and writes to start and stop:
                // the debugger's FIFOs and the diagnostics socket in /tmp.
                "r /usr/**", "r /lib/**", "r /lib64/**", "r /etc/**", "r /proc/**", "r /sys/**", "r /dev/**",
                "rw /dev/null", "rw /tmp/clr-debug-pipe-*", "rw /tmp/dotnet-diagnostic-*",
                format!("r {}/**", dotnet_dir.display()),
                format!("r {dir}/prog/**"),
                // The cases.
                format!("r {dir}/allowed/**"),
                format!("w {dir}/out/**"),
            ],
            "network": [format!("127.0.0.1:{ok_port}")],
            "process": ["/usr/bin/echo", "/usr/bin/cat"],
        }
    });
    let policy = write_policy(&dir_path, &serde_json::to_string_pretty(&policy).unwrap());

    let cases: Vec<(&str, Vec<String>)> = vec![
        ("file_read_allowed", vec!["read".into(), format!("{dir}/allowed/a.txt")]),
        ("file_read_denied", vec!["read".into(), format!("{dir}/secret/s.txt")]),
        ("file_read_symlink", vec!["read".into(), format!("{dir}/allowed/link")]),
        ("file_read_symlink_to_allowed", vec!["read".into(), format!("{dir}/secret/link-to-allowed")]),
        ("file_write_allowed", vec!["write".into(), format!("{dir}/out/written.txt"), "written-by-dotnet".into()]),
        ("file_write_denied_new", vec!["write".into(), format!("{dir}/secret/new.txt"), "x".into()]),
        ("file_write_denied_existing", vec!["write".into(), format!("{dir}/secret/s.txt"), "overwritten".into()]),
        ("net_connect_allowed", vec!["connect".into(), "127.0.0.1".into(), ok_port.to_string()]),
        ("net_connect_denied", vec!["connect".into(), "127.0.0.1".into(), denied_port.to_string()]),
        ("net_connect_denied_name", vec!["connect".into(), "localhost".into(), denied_port.to_string()]),
        ("proc_start_allowed", vec!["spawn".into(), "/usr/bin/echo".into(), "hello from echo".into()]),
        (
            "proc_start_denied",
            vec!["spawn".into(), "/bin/sh".into(), "-c".into(), format!("touch {dir}/secret/touched")],
        ),
        (
            "proc_start_path_lookup",
            vec!["spawn".into(), "sh".into(), "-c".into(), format!("touch {dir}/secret/touched-path")],
        ),
        (
            "proc_start_env_scrubbed",
            vec!["spawn_scrubbed".into(), "/usr/bin/cat".into(), format!("{dir}/secret/s.txt")],
        ),
    ];
    let order: Vec<String> = cases.iter().map(|(n, _)| n.to_string()).collect();

    let mut cmd = rampart_run(Some(&policy), Some("block"));
    cmd.arg(&dotnet).arg(&exe).current_dir(&dir_path).env("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1");
    for (name, fields) in &cases {
        cmd.arg(format!("{name}\t{}", fields.join("\t")));
    }
    let t = Instant::now();
    let run = run_cases(&mut cmd, TIMEOUT);
    let took = t.elapsed();
    eprintln!(".NET run under rampart took {took:?}");

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
    Suite { dir, run, results, order, denied_port, after, took }
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

    /// `File.*` on `path` threw UnauthorizedAccessException (what .NET makes
    /// of EACCES from open) and the block line names `target`.
    fn denied_file(&self, name: &str, path: &str, target: &str, access: Access) -> &Value {
        let (v, evs) =
            self.threw(name, "System.UnauthorizedAccessException", &format!("Access to the path '{path}' is denied."));
        assert_blocked(name, evs, Category::File, target, Some(access), Some(self.run.pid));
        v
    }
}

#[test]
fn runtime_runs_every_case_and_exits_cleanly() {
    let s = suite();
    eprintln!("suite took {:?}", s.took);
    assert_eq!(s.run.outcome.code, Some(0), "dotnet failed: {:#?}", s.run.outcome);
    let ran: Vec<&str> = s.run.cases.iter().map(|c| c.line.split('"').nth(3).unwrap_or_default()).collect();
    assert_eq!(ran, s.order.iter().map(String::as_str).collect::<Vec<_>>(), "cases missing or out of order");
    assert_quiet("runtime startup", &s.run.startup);
    assert_quiet("runtime exit", &s.run.trailing);
    assert!(s.run.startup_stderr.is_empty(), "unexpected stderr at startup: {:#?}", s.run.startup_stderr);
    assert!(s.run.trailing_stderr.is_empty(), "unexpected stderr at exit: {:#?}", s.run.trailing_stderr);
    assert_eq!(s.run.outcome.stdout, "");
}

#[test]
fn file_readalltext_allowed_reads_the_file() {
    assert_eq!(suite().ok("file_read_allowed"), ALLOWED_CONTENT);
}

#[test]
fn file_readalltext_denied_throws_unauthorized_access() {
    let s = suite();
    let path = format!("{}/secret/s.txt", s.dir);
    s.denied_file("file_read_denied", &path, &path, Access::R);
}

#[test]
fn symlink_in_an_allowed_dir_to_a_denied_file_is_denied() {
    let s = suite();
    let link = format!("{}/allowed/link", s.dir);
    s.denied_file("file_read_symlink", &link, &format!("{}/secret/s.txt", s.dir), Access::R);
}

#[test]
fn symlink_in_a_denied_dir_to_an_allowed_file_is_allowed() {
    assert_eq!(suite().ok("file_read_symlink_to_allowed"), ALLOWED_CONTENT);
}

#[test]
fn file_writealltext_allowed_writes() {
    let s = suite();
    assert_eq!(s.ok("file_write_allowed"), &Value::Null);
    assert_eq!(s.after.written.as_deref(), Some("written-by-dotnet"));
}

#[test]
fn file_writealltext_denied_new_file_is_not_created() {
    let s = suite();
    let path = format!("{}/secret/new.txt", s.dir);
    // FileMode.Create, FileAccess.Write: O_WRONLY|O_CREAT|O_TRUNC.
    s.denied_file("file_write_denied_new", &path, &path, Access::W);
    assert!(!s.after.secret_new_exists, "the denied open created {path}");
}

#[test]
fn file_writealltext_denied_existing_file_is_not_truncated() {
    let s = suite();
    let path = format!("{}/secret/s.txt", s.dir);
    s.denied_file("file_write_denied_existing", &path, &path, Access::W);
    assert_eq!(s.after.secret, SECRET_CONTENT, "the denied open changed the file");
}

#[test]
fn tcpclient_connect_allowed_reaches_the_listener() {
    let s = suite();
    assert_eq!(s.ok("net_connect_allowed"), &Value::Null);
    assert_eq!(s.after.ok_conns, vec![b"d".to_vec()], "the allowed listener should get exactly the one connection");
}

/// .NET reports connect's EACCES as a SocketException with SocketErrorCode
/// AccessDenied and NativeErrorCode 13 (the errno on Unix); the message
/// ends with the address connected to — the IPv4-mapped one of the
/// dual-mode socket.
fn assert_connect_denied<'a>(s: &'a Suite, name: &str) -> &'a [Event] {
    let msg = format!("Permission denied [::ffff:127.0.0.1]:{}", s.denied_port);
    let (v, evs) = s.threw(name, "System.Net.Internals.SocketExceptionFactory+ExtendedSocketException", &msg);
    assert!(v["chain"].as_array().unwrap().contains(&json!("System.Net.Sockets.SocketException")), "{name}: {v}");
    assert_eq!(v["socket_error"], "AccessDenied", "{name}: {v}");
    assert_eq!(v["native"], 13, "{name}: {v}");
    assert!(s.after.denied_conns.is_empty(), "a denied connect reached the listener: {:?}", s.after.denied_conns);
    evs
}

#[test]
fn tcpclient_connect_denied_throws_access_denied() {
    let s = suite();
    let evs = assert_connect_denied(s, "net_connect_denied");
    let target = format!("127.0.0.1:{}", s.denied_port);
    assert_blocked("net_connect_denied", evs, Category::Network, &target, None, Some(s.run.pid));
}

#[test]
fn tcpclient_connect_by_name_is_reported_by_name() {
    let s = suite();
    let evs = assert_connect_denied(s, "net_connect_denied_name");
    // TcpClient tries every address `localhost` resolves to, in turn: one
    // block line per address, each naming the name (/etc/hosts may or may
    // not list ::1). The last one tried is 127.0.0.1, per the message.
    let addrs = ("localhost", s.denied_port).to_socket_addrs().unwrap().count();
    let target = format!("localhost:{}", s.denied_port);
    assert_eq!(evs.len(), addrs, "one block line per address of localhost: {evs:#?}");
    for ev in evs {
        assert_blocked("net_connect_denied_name", std::slice::from_ref(ev), Category::Network, &target, None, None);
        assert_eq!(ev.pid, s.run.pid);
    }
}

#[test]
fn process_start_allowed_runs_the_program() {
    let s = suite();
    assert_eq!(s.ok("proc_start_allowed"), &json!({"stdout": "hello from echo\n", "code": 0}));
}

#[test]
fn process_start_denied_throws_win32_exception_13() {
    let s = suite();
    let (v, evs) = s.threw("proc_start_denied", "System.ComponentModel.Win32Exception", "Permission denied");
    assert_eq!(v["native"], 13, "{v}");
    let real = std::fs::canonicalize("/bin/sh").unwrap();
    assert_blocked("proc_start_denied", evs, Category::Process, real.to_str().unwrap(), None, None);
    let ev = &evs[0];
    let touch = format!("touch {}/secret/touched", s.dir);
    assert_eq!(ev.argv.as_deref(), Some(&["/bin/sh".to_owned(), "-c".to_owned(), touch][..]), "{ev:#?}");
    // Denied in the vfork child, which has its own pid.
    assert_ne!(ev.pid, s.run.pid, "expected the block line from the child: {ev:#?}");
    assert_eq!(ev.kind, EventType::Block);
    assert!(!s.after.touched_exists, "the denied program ran");
}

/// The first `prog` on PATH, as execvp would find it.
fn on_path(prog: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(prog)).find(|p| p.is_file()).unwrap()
}

#[test]
fn process_start_program_found_on_path_is_denied_by_its_real_path() {
    let s = suite();
    let name = "proc_start_path_lookup";
    let (_, evs) = s.threw(name, "System.ComponentModel.Win32Exception", "Permission denied");
    let real = std::fs::canonicalize(on_path("sh")).unwrap();
    assert_blocked(name, evs, Category::Process, real.to_str().unwrap(), None, None);
    let touch = format!("touch {}/secret/touched-path", s.dir);
    assert_eq!(evs[0].argv.as_deref(), Some(&["sh".to_owned(), "-c".to_owned(), touch][..]), "{:#?}", evs[0]);
    // Denied in the vfork child (.NET searches PATH itself and execs the full path).
    assert_ne!(evs[0].pid, s.run.pid);
    assert!(!s.after.touched_path_exists, "the denied program ran");
}

#[test]
fn process_start_with_scrubbed_env_still_covers_the_child() {
    // The code cleared the child's environment (EnvironmentVariables.Clear()) and set
    // LD_PRELOAD="", RAMPART_MODE=off, RAMPART_POLICY=/dev/null: the library
    // re-injects the parent's at exec, so cat (allowed) runs covered, in
    // block mode, and its open of the secret is denied.
    let s = suite();
    let name = "proc_start_env_scrubbed";
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
