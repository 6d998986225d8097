//! End to end: every raw C entry point librampart.so hooks, called from a
//! C program (tests/runtimes/c/cases.c, compiled with `cc` at test time)
//! under `rampart run`. Each run is one case in a fresh process; each test
//! asserts the exact outcome of every call (return value and errno), the
//! exact event lines (type, cat, op, target, access, argv, pid) and that
//! nothing else changed: the sandbox's files, what reached the loopback
//! peers, and the lines of children.
//!
//! The sandbox is `runtimes_common::Sandbox` (allowed/ rw, ro/ r, secret/
//! nothing); the programs are in `TARGET/rampart-c/preload_c/`:
//! `bin/cases` (allowed to run), `deny/denied` (a copy, not allowed),
//! `bin/cstatic` (statically linked), `bin/alias -> ../deny/denied` and
//! `deny/alias -> ../bin/cases`.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rampart_event::EventType::{self, Alert, Block, Error, Profile, Status};
use rampart_event::{Event, PREFIX};
use rampart_policy::{Access, Category};
use rampart_tests::cprog;
use rampart_tests::runtimes_common::{
    ALLOWED_DATA, Entry, PeerLog, Peers, RO_DATA, Sandbox, TempDir, base_file_rules, policy_json, realpath, run_fixture,
};
use rampart_tests::{rampart_lib, rampart_run, write_policy};
use serde_json::{Map, Value, json};

/// Per run; a case takes milliseconds (the swap race about a second).
const TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// The compiled programs.

struct Progs {
    /// The directory holding bin/ and deny/ (canonical).
    dir: PathBuf,
    cases: PathBuf,
    denied: PathBuf,
    cstatic: PathBuf,
}

impl Progs {
    fn dir(&self) -> String {
        self.dir.display().to_string()
    }
    fn denied(&self) -> String {
        self.denied.display().to_string()
    }
}

fn progs() -> &'static Progs {
    // A failed build fails every test with its message, once.
    static P: OnceLock<Result<Progs, String>> = OnceLock::new();
    let built = P.get_or_init(|| {
        std::panic::catch_unwind(build_progs).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        })
    });
    built.as_ref().unwrap_or_else(|e| panic!("{e}"))
}

fn build_progs() -> Progs {
    let dir = cprog::suite_dir("preload_c");
    for sub in ["bin", "deny"] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    let cases = dir.join("bin/cases");
    // -O2 -D_FORTIFY_SOURCE=2 and flags the compiler cannot see route
    // open() without a mode to glibc's __open_2 and friends.
    cprog::compile("cases.c", &cases, &["-O2", "-D_FORTIFY_SOURCE=2", "-Wall", "-Wextra", "-Werror", "-pthread"]);
    let denied = dir.join("deny/denied");
    cprog::install_copy(&cases, &denied);
    let cstatic = dir.join("bin/cstatic");
    cprog::compile("static.c", &cstatic, &["-static", "-O2"]);
    // A name that may run leading to one that may not, and back.
    for (link, to) in [("bin/alias", "../deny/denied"), ("deny/alias", "../bin/cases")] {
        match std::os::unix::fs::symlink(to, dir.join(link)) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => panic!("symlink {link}: {e}"),
            _ => {}
        }
    }
    Progs { dir, cases, denied, cstatic }
}

// ---------------------------------------------------------------------------
// The fixture: a sandbox, loopback peers and the policies.

struct Fx {
    sb: Sandbox,
    peers: Peers,
    tcp6_ok: TcpListener,
    tcp6_no: TcpListener,
    /// Makes abstract Unix socket names unique to this test.
    tag: String,
    policies: TempDir,
}

/// The three rule lists of a policy, to adjust before writing it.
struct Rules {
    file: Vec<String>,
    network: Vec<String>,
    process: Vec<String>,
}

fn port(l: &TcpListener) -> u16 {
    l.local_addr().expect("local_addr").port()
}

impl Fx {
    fn new(name: &str) -> Fx {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let tag = format!("rampart-c-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let v6 = || TcpListener::bind("[::1]:0").expect("bind [::1]: IPv6 loopback is needed");
        Fx {
            sb: Sandbox::new(&format!("c-{name}")),
            peers: Peers::new(),
            tcp6_ok: v6(),
            tcp6_no: v6(),
            tag,
            policies: TempDir::new(&format!("c-{name}-policy")),
        }
    }

    fn root(&self) -> String {
        self.sb.path("")
    }

    fn path(&self, rel: &str) -> String {
        self.sb.path(rel)
    }

    fn tcp_no(&self) -> u16 {
        self.peers.tcp_denied_port()
    }

    fn udp_no(&self) -> u16 {
        self.peers.udp_denied_port()
    }

    /// What the sandbox, the peers and the C programs need: `allowed/`,
    /// `ro/` (read), the program directory (read, and `bin/*` to run),
    /// the allowed ports, `ok.sock` and the `-ok` abstract socket.
    fn rules(&self) -> Rules {
        let p = progs();
        let mut file = base_file_rules();
        file.extend(self.sb.rules());
        file.push(format!("r {}/**", p.dir()));
        let mut network = self.peers.rules();
        network.push(format!("[::1]:{}", port(&self.tcp6_ok)));
        network.push(format!("unix:{}/allowed/ok.sock", self.root()));
        network.push(format!("unix:@{}-ok", self.tag));
        Rules { file, network, process: vec![format!("{}/bin/*", p.dir())] }
    }

    /// Writes a policy (block lists file, network, process).
    fn policy(&self, mode: &str, rules: &Rules) -> PathBuf {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = self.policies.path().join(SEQ.fetch_add(1, Ordering::Relaxed).to_string());
        std::fs::create_dir(&dir).expect("mkdir");
        write_policy(&dir, &policy_json(mode, &rules.file, &rules.network, &rules.process))
    }

    fn block_policy(&self) -> PathBuf {
        self.policy("block", &self.rules())
    }

    /// The rules plus the shell system() and popen() run.
    fn shell_policy(&self) -> PathBuf {
        let mut r = self.rules();
        r.process.push(realpath("/bin/sh"));
        self.policy("block", &r)
    }

    /// `cases CASE ROOT CDIR ports... TAG [ARG]`.
    fn args(&self, case: &str, arg: &str) -> Vec<String> {
        let mut v = vec![case.to_owned(), self.root(), progs().dir()];
        for p in [
            self.peers.tcp_allowed_port(),
            self.tcp_no(),
            self.peers.udp_allowed_port(),
            self.udp_no(),
            port(&self.tcp6_ok),
            port(&self.tcp6_no),
        ] {
            v.push(p.to_string());
        }
        v.push(self.tag.clone());
        if !arg.is_empty() {
            v.push(arg.to_owned());
        }
        v
    }

    /// Runs a case under the default block policy.
    fn run(&self, case: &str, arg: &str) -> Run {
        let policy = self.block_policy();
        self.run_with(case, arg, Some(&policy), None)
    }

    fn run_with(&self, case: &str, arg: &str, policy: Option<&Path>, mode: Option<&str>) -> Run {
        let mut cmd = rampart_run(policy, mode);
        cmd.arg(&progs().cases);
        self.run_cmd(cmd, case, arg, policy)
    }

    /// Runs `cmd` (which must end with the program) with the case's
    /// arguments, in the sandbox.
    fn run_cmd(&self, mut cmd: Command, case: &str, arg: &str, policy: Option<&Path>) -> Run {
        cmd.args(self.args(case, arg)).current_dir(self.sb.root());
        let before = self.sb.snapshot();
        let t = run_fixture(&mut cmd, TIMEOUT);
        let after = self.sb.snapshot();
        let mut main = None;
        let mut children = Vec::new();
        for line in t.stdout.lines() {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("stdout line {line:?}: {e}"));
            if v["case"] == case && main.is_none() {
                main = Some(v);
            } else {
                children.push(v);
            }
        }
        let Some(Value::Object(mut main)) = main else {
            panic!(
                "case {case} printed no result (exit {:?})\nstdout:\n{}\nstderr:\n{}",
                t.code, t.stdout, t.raw_stderr
            )
        };
        let pid = main.remove("pid").and_then(|v| v.as_u64()).expect("pid") as u32;
        main.remove("case");
        // Every event line decodes (run_fixture panics on a torn one).
        let events: Vec<Event> = t.all_events().cloned().collect();
        assert!(t.raw_stderr.lines().filter(|l| l.contains(PREFIX)).count() == events.len());
        let peers = self.peers.drain();
        let tcp6 = (accepted(&self.tcp6_ok), accepted(&self.tcp6_no));
        Run {
            case: case.to_owned(),
            code: t.code,
            pid,
            main,
            children,
            events,
            stderr: t.raw_stderr,
            changes: diff(&before, &after),
            peers,
            tcp6,
            policy: policy.map(|p| p.display().to_string()),
        }
    }
}

fn accepted(l: &TcpListener) -> usize {
    l.set_nonblocking(true).expect("nonblocking");
    std::iter::from_fn(|| l.accept().ok()).count()
}

/// Entries that differ between two snapshots: `(path, Some(new))` for an
/// added or changed one, `(path, None)` for a removed one.
fn diff(before: &BTreeMap<String, Entry>, after: &BTreeMap<String, Entry>) -> Vec<(String, Option<Entry>)> {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().filter(|k| before.get(*k) != after.get(*k)).map(|k| (k.clone(), after.get(k).cloned())).collect()
}

fn file_entry(s: &str) -> Option<Entry> {
    Some(Entry::File(s.to_owned()))
}

// ---------------------------------------------------------------------------
// One run's outcome and the assertions on it.

#[derive(Debug)]
struct Run {
    case: String,
    code: Option<i32>,
    /// The case program's pid.
    pid: u32,
    /// Its result line without `case` and `pid`.
    main: Map<String, Value>,
    /// The lines of programs it started (`{"case":"child",...}`).
    children: Vec<Value>,
    events: Vec<Event>,
    stderr: String,
    changes: Vec<(String, Option<Entry>)>,
    peers: PeerLog,
    /// Connections accepted by the allowed and the denied [::1] listener.
    tcp6: (usize, usize),
    /// RAMPART_POLICY as the program got it.
    policy: Option<String>,
}

/// An expected `status` line after the start line: cat, target, the
/// start of msg, count, pid (the case's when `None`).
type StatusWant<'a> = (Option<Category>, Option<&'a str>, &'a str, Option<u64>, Option<u32>);

/// An expected event line.
#[derive(Clone, Debug)]
struct Ev {
    kind: EventType,
    cat: Category,
    /// Checked when set.
    op: Option<String>,
    target: String,
    access: Option<Access>,
    /// Checked when set.
    argv: Option<Vec<String>>,
    /// Checked when set; [`Run::expect_events`] fills in the case's pid
    /// when it is not; `u32::MAX` ([`Ev::any_pid`]) accepts any process.
    pid: Option<u32>,
}

fn file(kind: EventType, op: &str, target: impl Into<String>, access: &str) -> Ev {
    Ev {
        kind,
        cat: Category::File,
        op: Some(op.to_owned()),
        target: target.into(),
        access: Some(Access::parse(access).expect("r, w or rw")),
        argv: None,
        pid: None,
    }
}

fn net(kind: EventType, op: &str, target: impl Into<String>) -> Ev {
    Ev {
        kind,
        cat: Category::Network,
        op: Some(op.to_owned()),
        target: target.into(),
        access: None,
        argv: None,
        pid: None,
    }
}

fn process(kind: EventType, op: &str, target: impl Into<String>, argv: &[&str]) -> Ev {
    Ev {
        kind,
        cat: Category::Process,
        op: Some(op.to_owned()),
        target: target.into(),
        access: None,
        argv: Some(argv.iter().map(|s| s.to_string()).collect()),
        pid: None,
    }
}

impl Ev {
    fn pid(mut self, pid: u32) -> Ev {
        self.pid = Some(pid);
        self
    }

    /// Written by a process the test does not know the pid of (a shell).
    fn any_pid(mut self) -> Ev {
        self.pid = Some(u32::MAX);
        self
    }

    fn matches(&self, e: &Event) -> bool {
        e.kind == self.kind
            && e.cat == Some(self.cat)
            && self.op.as_ref().is_none_or(|op| e.op.as_ref() == Some(op))
            && e.target.as_deref() == Some(self.target.as_str())
            && e.access == self.access
            && !e.cut
            && self.argv.as_ref().is_none_or(|a| e.argv.as_ref() == Some(a))
            && self.pid.is_none_or(|p| p == u32::MAX || e.pid == p)
    }
}

fn show(e: &Event) -> String {
    let mut s = format!(
        "{} {} op={} {}",
        e.kind,
        e.cat.map_or("-", |c| c.as_str()),
        e.op.as_deref().unwrap_or("-"),
        e.target.as_deref().unwrap_or("-")
    );
    if let Some(a) = e.access {
        s.push_str(&format!(" access={a}"));
    }
    if let Some(argv) = &e.argv {
        s.push_str(&format!(" argv={argv:?}"));
    }
    if let Some(m) = &e.msg {
        s.push_str(&format!(" msg={m:?}"));
    }
    if let Some(c) = e.count {
        s.push_str(&format!(" count={c}"));
    }
    s.push_str(&format!(" pid={}", e.pid));
    s
}

impl Run {
    fn context(&self) -> String {
        format!(
            "case {} (pid {}, exit {:?})\nresult: {}\nchildren: {:?}\nstderr:\n{}",
            self.case,
            self.pid,
            self.code,
            Value::Object(self.main.clone()),
            self.children,
            self.stderr
        )
    }

    /// The case's result line (without case and pid) is exactly `want`.
    fn expect_out(&self, want: Value) -> &Run {
        assert_eq!(self.code, Some(0), "{}", self.context());
        assert_eq!(Value::Object(self.main.clone()), want, "result differs\n{}", self.context());
        self
    }

    /// A field of the result line.
    fn get(&self, k: &str) -> &Value {
        self.main.get(k).unwrap_or_else(|| panic!("no {k} in the result\n{}", self.context()))
    }

    fn pid_of(&self, k: &str) -> u32 {
        self.get(k).as_u64().unwrap_or_else(|| panic!("{k} is not a pid\n{}", self.context())) as u32
    }

    /// The event lines other than `status` are exactly `want`, in order;
    /// an expectation without a pid is the case process's. The `status`
    /// lines are only the root process's start line (mode block).
    fn expect_events(&self, want: &[Ev]) -> &Run {
        self.expect_decisions(want);
        self.expect_status(&[]);
        self
    }

    fn expect_decisions(&self, want: &[Ev]) -> &Run {
        let want: Vec<Ev> =
            want.iter().map(|w| if w.pid.is_none() { w.clone().pid(self.pid) } else { w.clone() }).collect();
        let got: Vec<&Event> = self.events.iter().filter(|e| e.kind != Status).collect();
        let ok = got.len() == want.len() && got.iter().zip(&want).all(|(e, w)| w.matches(e));
        assert!(
            ok,
            "event lines differ\nwant:\n{}\ngot:\n{}\n{}",
            want.iter().map(|w| format!("  {w:?}")).collect::<Vec<_>>().join("\n"),
            got.iter().map(|e| format!("  {}", show(e))).collect::<Vec<_>>().join("\n"),
            self.context()
        );
        self
    }

    /// The status lines are the start line of a block-mode root process,
    /// then `more` (checked by cat, target, msg prefix and count).
    fn expect_status(&self, more: &[StatusWant<'_>]) -> &Run {
        self.expect_status_started("block", more)
    }

    fn expect_status_started(&self, mode: &str, more: &[StatusWant<'_>]) -> &Run {
        let got: Vec<&Event> = self.events.iter().filter(|e| e.kind == Status).collect();
        let started = format!("started: mode {mode}, policy ");
        let fits = |e: &Event, (cat, target, msg, count, pid): &StatusWant<'_>| {
            e.cat == *cat
                && e.target.as_deref() == *target
                && e.msg.as_deref().is_some_and(|m| m.starts_with(msg))
                && e.count == *count
                && e.pid == pid.unwrap_or(self.pid)
        };
        // The summaries at exit come in no particular order: each expected
        // line must fit a different one.
        let mut rest: Vec<&Event> = got.iter().skip(1).copied().collect();
        let all_fit = more.iter().all(|w| match rest.iter().position(|e| fits(e, w)) {
            Some(i) => {
                rest.remove(i);
                true
            }
            None => false,
        });
        let ok = got.len() == more.len() + 1
            && got[0].pid == self.pid
            && got[0].msg.as_deref().is_some_and(|m| m.starts_with(&started))
            && all_fit;
        assert!(
            ok,
            "status lines differ: want `{started}...` then {more:?}\ngot:\n{}\n{}",
            got.iter().map(|e| format!("  {}", show(e))).collect::<Vec<_>>().join("\n"),
            self.context()
        );
        self
    }

    /// The sandbox changed exactly so.
    fn expect_changes(&self, want: &[(&str, Option<Entry>)]) -> &Run {
        let want: Vec<(String, Option<Entry>)> = want.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        assert_eq!(self.changes, want, "the sandbox changed otherwise\n{}", self.context());
        self
    }

    /// Nothing reached any peer.
    fn expect_no_traffic(&self) -> &Run {
        self.expect_traffic(PeerLog::default(), (0, 0))
    }

    fn expect_traffic(&self, want: PeerLog, tcp6: (usize, usize)) -> &Run {
        assert_eq!(self.peers, want, "what reached the IPv4 peers differs\n{}", self.context());
        assert_eq!(self.tcp6, tcp6, "connections accepted by [::1] allowed/denied\n{}", self.context());
        self
    }

    /// The lines of started programs, exactly.
    fn expect_children(&self, want: &[Value]) -> &Run {
        assert_eq!(self.children, want, "lines of started programs differ\n{}", self.context());
        self
    }

    /// The line a `cases child ...` run by this case prints.
    fn child_line(&self, pid: u32, argv: &[&str], foo_var: Option<&str>) -> Value {
        json!({
            "case": "child", "pid": pid, "argv": argv, "ppid": self.pid,
            "LD_PRELOAD": lib(), "RAMPART_MODE": null, "RAMPART_POLICY": self.policy,
            "RAMPART_CHILD": "1", "RAMPART_EXTRA": null, "FOO": foo_var,
        })
    }
}

fn lib() -> String {
    std::path::absolute(rampart_lib()).expect("absolute").display().to_string()
}

// ---------------------------------------------------------------------------
// The binary really imports every entry point (else a case would test a
// different one than it says).

#[test]
fn the_program_imports_every_hooked_entry_point() {
    let imports = cprog::imports(&progs().cases);
    let want = [
        "open",
        "open64",
        "openat",
        "openat64",
        "__open_2",
        "__open64_2",
        "__openat_2",
        "__openat64_2",
        "creat",
        "creat64",
        "fopen",
        "fopen64",
        "freopen",
        "freopen64",
        "opendir",
        "execve",
        "execv",
        "execvp",
        "execvpe",
        "execl",
        "execle",
        "execlp",
        "fexecve",
        "execveat",
        "posix_spawn",
        "posix_spawnp",
        "system",
        "popen",
        "connect",
        "sendto",
        "sendmsg",
        "sendmmsg",
        "getaddrinfo",
    ];
    let missing: Vec<&str> = want.iter().copied().filter(|w| !imports.iter().any(|i| i == w)).collect();
    assert!(missing.is_empty(), "the C program does not import {missing:?}; imports: {imports:?}");
}

// ---------------------------------------------------------------------------
// The open family.

/// An allowed read, a denied read, a denied truncating write, a denied
/// create (not for the fortified variants: they abort on O_CREAT without a
/// mode), a denied read-write of a read-only file.
fn open_family(case: &str, op: &str, create: bool) {
    let fx = Fx::new(case);
    let r = fx.run(case, "");
    let mut want = json!({
        "allowed": "ok", "allowed_data": ALLOWED_DATA,
        "denied_r": "EACCES", "denied_w": "EACCES", "denied_rw": "EACCES",
    });
    let mut events = vec![file(Block, op, fx.path("secret/x"), "r"), file(Block, op, fx.path("secret/x"), "w")];
    if create {
        want["denied_create"] = json!("EACCES");
        events.push(file(Block, op, fx.path("secret/new"), "w"));
    }
    events.push(file(Block, op, fx.path("ro/data.txt"), "rw"));
    r.expect_out(want).expect_events(&events).expect_changes(&[]).expect_no_traffic().expect_children(&[]);
}

#[test]
fn open() {
    open_family("open", "open", true);
}

#[test]
fn open64() {
    open_family("open64", "open64", true);
}

#[test]
fn openat_with_a_dirfd_and_at_fdcwd() {
    open_family("openat", "openat", true);
}

#[test]
fn openat64() {
    open_family("openat64", "openat64", true);
}

#[test]
fn fortified_open_2() {
    open_family("open_2", "__open_2", false);
}

#[test]
fn fortified_open64_2() {
    open_family("open64_2", "__open64_2", false);
}

#[test]
fn fortified_openat_2() {
    open_family("openat_2", "__openat_2", false);
}

#[test]
fn fortified_openat64_2() {
    open_family("openat64_2", "__openat64_2", false);
}

fn creat_case(case: &str, made: &str) {
    let fx = Fx::new(case);
    fx.run(case, "")
        .expect_out(json!({"allowed": "ok", "denied_existing": "EACCES", "denied_new": "EACCES"}))
        .expect_events(&[file(Block, case, fx.path("secret/x"), "w"), file(Block, case, fx.path("secret/new"), "w")])
        // The denied file is not truncated, the new one not created.
        .expect_changes(&[(made, file_entry("created\n"))])
        .expect_no_traffic();
}

#[test]
fn creat() {
    creat_case("creat", "allowed/creat.txt");
}

#[test]
fn creat64() {
    creat_case("creat64", "allowed/creat64.txt");
}

fn fopen_case(case: &str, made: &str) {
    let fx = Fx::new(case);
    let x = fx.path("secret/x");
    fx.run(case, "")
        .expect_out(json!({
            "r_allowed": "ok", "r_allowed_data": ALLOWED_DATA, "w_allowed": "ok", "w_allowed_data": "",
            "r": "EACCES", "w": "EACCES", "a": "EACCES", "r+": "EACCES", "wx": "EACCES", "r+_ro": "EACCES",
        }))
        .expect_events(&[
            file(Block, case, &x, "r"),
            file(Block, case, &x, "w"),
            file(Block, case, &x, "w"),
            file(Block, case, &x, "rw"),
            file(Block, case, fx.path("secret/new"), "w"),
            file(Block, case, fx.path("ro/data.txt"), "rw"),
        ])
        // "w" and "a" on the denied file neither truncated nor appended;
        // "wx" created nothing.
        .expect_changes(&[(made, file_entry("written\n"))])
        .expect_no_traffic();
}

#[test]
fn fopen_modes() {
    fopen_case("fopen", "allowed/fopen.txt");
}

#[test]
fn fopen64_modes() {
    fopen_case("fopen64", "allowed/fopen64.txt");
}

fn freopen_case(case: &str) {
    let fx = Fx::new(case);
    fx.run(case, "")
        .expect_out(json!({"denied_r": "EACCES", "denied_w": "EACCES", "allowed": "ok", "allowed_data": RO_DATA}))
        .expect_events(&[file(Block, case, fx.path("secret/x"), "r"), file(Block, case, fx.path("secret/x"), "w")])
        .expect_changes(&[])
        .expect_no_traffic();
}

#[test]
fn freopen() {
    freopen_case("freopen");
}

#[test]
fn freopen64() {
    freopen_case("freopen64");
}

#[test]
fn opendir() {
    let fx = Fx::new("opendir");
    // allowed/: . .. data.txt link goodlink secretdir
    fx.run("opendir", "")
        .expect_out(json!({"allowed": "ok", "allowed_entries": 6, "denied": "EACCES", "denied_link": "EACCES"}))
        .expect_events(&[
            file(Block, "opendir", fx.path("secret"), "r"),
            // allowed/secretdir -> ../secret: the real directory.
            file(Block, "opendir", fx.path("secret"), "r"),
        ])
        .expect_changes(&[])
        .expect_no_traffic();
}

// ---------------------------------------------------------------------------
// Paths that must not let a denied file through, nor deny an allowed one.

#[test]
fn symlink_in_an_allowed_dir_to_a_denied_file_is_blocked() {
    let fx = Fx::new("symlink-denied");
    let x = fx.path("secret/x");
    let new = fx.path("secret/new");
    std::os::unix::fs::symlink(&new, fx.sb.root().join("allowed/dangling")).expect("symlink");
    fx.run("symlink_denied", "")
        .expect_out(json!({
            "abs": "EACCES", "rel": "EACCES", "at": "EACCES", "fopen_w": "EACCES", "dir": "EACCES",
            "dangling_creat": "EACCES", "dangling_fopen": "EACCES",
        }))
        .expect_events(&[
            file(Block, "open", &x, "r"),
            file(Block, "open", &x, "r"),
            file(Block, "openat", &x, "r"),
            file(Block, "fopen", &x, "w"),
            file(Block, "open", &x, "r"),
            file(Block, "open", &new, "w"),
            file(Block, "fopen", &new, "w"),
        ])
        // fopen "w" through the link did not truncate the secret; O_CREAT
        // through the dangling link did not create secret/new.
        .expect_changes(&[])
        .expect_no_traffic();
}

#[test]
fn symlink_from_a_denied_looking_path_to_an_allowed_file_is_allowed() {
    let fx = Fx::new("symlink-allowed");
    std::os::unix::fs::symlink("../allowed/data.txt", fx.sb.root().join("secret/goodlink")).expect("symlink");
    fx.run("symlink_allowed", "")
        .expect_out(json!({
            "via_secret": "ok", "via_secret_data": ALLOWED_DATA,
            "via_allowed": "ok", "via_allowed_data": ALLOWED_DATA,
            "fopen": "ok", "fopen_data": ALLOWED_DATA,
        }))
        .expect_events(&[])
        .expect_changes(&[])
        .expect_no_traffic();
}

/// `after_link` and `allowed_after_link` put `..` after a symlink to a
/// directory (allowed/secretdir -> ../secret): the kernel takes `..` from
/// where the link leads (ROOT/secret/.. = ROOT), so the paths are really
/// ROOT/secret/x (denied) and ROOT/allowed/data.txt (allowed).
///
/// LIBRARY BUG (fails at the time of writing): the library removes `..`
/// lexically before it resolves links, so both opens fail with ENOENT
/// (it opens ROOT/allowed/secret/x and ROOT/allowed/allowed/data.txt, which
/// do not exist) — an allowed file is refused, and a path like
/// /lib/../etc/passwd (kernel: /usr/etc/passwd, ENOENT) opens /etc/passwd.
#[test]
fn dotdot_escapes() {
    let fx = Fx::new("dotdot");
    let x = fx.path("secret/x");
    fx.run("dotdot", "")
        .expect_out(json!({
            "abs": "EACCES", "rel": "EACCES", "deep": "EACCES", "after_link": "EACCES",
            "allowed": "ok", "allowed_data": ALLOWED_DATA,
            "allowed_after_link": "ok", "allowed_after_link_data": ALLOWED_DATA,
        }))
        .expect_events(&[
            file(Block, "open", &x, "r"),
            file(Block, "open", &x, "r"),
            file(Block, "open", &x, "r"),
            file(Block, "open", &x, "r"),
        ])
        .expect_changes(&[])
        .expect_no_traffic();
}

/// unlink, unlinkat, rmdir, mkdir, mkdirat, rename, renameat, renameat2
/// need `w` on the names they change (both names of a rename); the last
/// component is not followed (unlinking allowed/link removes the link).
#[test]
fn name_writes_unlink_mkdir_rename() {
    let fx = Fx::new("names");
    let x = fx.path("secret/x");
    let mut want = Map::new();
    for k in [
        "unlink_denied",
        "unlinkat_denied",
        "unlink_via_link",
        "rmdir_denied",
        "mkdir_denied",
        "mkdirat_denied",
        "rename_from_denied",
        "rename_to_denied",
        "renameat_denied",
        "renameat2_denied",
    ] {
        want.insert(k.into(), json!("EACCES"));
    }
    for k in ["mkdir", "mkdirat", "rename", "renameat", "renameat2", "rmdir", "unlinkat_dir", "unlink_link"] {
        want.insert(k.into(), json!("ok"));
        want.insert(format!("{k}_ret"), json!(0));
    }
    fx.run("names", "")
        .expect_out(Value::Object(want))
        .expect_events(&[
            file(Block, "unlink", &x, "w"),
            file(Block, "unlinkat", &x, "w"),
            file(Block, "unlink", &x, "w"),
            file(Block, "rmdir", fx.path("secret"), "w"),
            file(Block, "mkdir", fx.path("secret/d"), "w"),
            file(Block, "mkdirat", fx.path("secret/d"), "w"),
            file(Block, "rename", &x, "w"),
            file(Block, "rename", fx.path("secret/planted"), "w"),
            file(Block, "renameat", fx.path("ro/data.txt"), "w"),
            file(Block, "renameat2", &x, "w"),
        ])
        .expect_changes(&[("allowed/link", None)])
        .expect_no_traffic();
}

/// link, linkat, symlink, symlinkat and truncate are writes: a hard link
/// needs `w` on both names (or an allowed directory could reach a denied
/// file's content), a symlink on its own name, truncate on the file it
/// names after links.
#[test]
fn links_and_truncate_are_writes() {
    let fx = Fx::new("links");
    let mut want = Map::new();
    for k in [
        "link_from_denied",
        "linkat_to_denied",
        "symlink_denied",
        "symlinkat_denied",
        "truncate_denied",
        "truncate_via_link",
    ] {
        want.insert(k.into(), json!("EACCES"));
    }
    for k in ["link", "unlink_h2", "symlinkat", "unlink_sl", "truncate", "unlink_t"] {
        want.insert(k.into(), json!("ok"));
        want.insert(format!("{k}_ret"), json!(0));
    }
    want.insert("t_size".into(), json!(1));
    fx.run("links", "")
        .expect_out(Value::Object(want))
        .expect_events(&[
            // A link's source needs rw: the second name would make it
            // readable and writable under the new name's rules.
            file(Block, "link", fx.path("secret/x"), "rw"),
            file(Block, "linkat", fx.path("secret/h"), "w"),
            file(Block, "symlink", fx.path("secret/sl"), "w"),
            file(Block, "symlinkat", fx.path("secret/sl2"), "w"),
            file(Block, "truncate", fx.path("secret/x"), "w"),
            file(Block, "truncate", fx.path("secret/x"), "w"),
        ])
        .expect_changes(&[])
        .expect_no_traffic();
}

/// A hook interrupted by a signal whose handler calls hooks: both are
/// checked (nothing to deadlock on), and every denial in the handler and in
/// the interrupted loop is a block line.
#[test]
fn hooks_work_inside_signal_handlers() {
    let fx = Fx::new("signals");
    let r = fx.run("signals", "");
    let runs = r.get("handler_runs").as_i64().unwrap();
    assert!(runs >= 200, "{}", r.context());
    assert_eq!(r.get("handler_denied").as_i64(), Some(runs), "{}", r.context());
    assert_eq!(r.get("handler_allowed").as_i64(), Some(runs), "{}", r.context());
    assert_eq!(r.get("main_all_denied"), &json!(true), "{}", r.context());
    let blocks = r.events.iter().filter(|e| e.kind == Block).count() as i64;
    assert!(blocks > runs, "{} block lines for {runs} handler runs plus the loop\n{}", blocks, r.context());
    r.expect_changes(&[]);
}

/// O_TMPFILE makes an unnamed file in the directory: a write there.
#[test]
fn o_tmpfile_is_a_write_in_the_directory() {
    let fx = Fx::new("tmpfile");
    fx.run("tmpfile", "")
        .expect_out(json!({"denied": "EACCES", "allowed": "ok", "allowed_data": ""}))
        .expect_events(&[file(Block, "open", fx.path("secret"), "w")])
        .expect_changes(&[]);
}

#[test]
fn double_slashes_and_dots() {
    let fx = Fx::new("slashes");
    let x = fx.path("secret/x");
    fx.run("slashes", "")
        .expect_out(json!({"double": "EACCES", "dot": "EACCES", "allowed": "ok", "allowed_data": ALLOWED_DATA}))
        .expect_events(&[file(Block, "open", &x, "r"), file(Block, "open", &x, "r")])
        .expect_changes(&[])
        .expect_no_traffic();
}

#[test]
fn relative_paths_after_chdir() {
    let fx = Fx::new("chdir");
    let x = fx.path("secret/x");
    fx.run("chdir", "")
        .expect_out(json!({
            "allowed": "ok", "allowed_data": ALLOWED_DATA, "up": "EACCES", "here": "EACCES",
            "fopen": "EACCES", "back": "ok", "back_data": ALLOWED_DATA,
        }))
        .expect_events(&[file(Block, "open", &x, "r"), file(Block, "open", &x, "r"), file(Block, "fopen", &x, "r")])
        .expect_changes(&[])
        .expect_no_traffic();
}

/// The program gets a descriptor of the denied directory the library
/// never saw (the raw system call stands for one inherited from before
/// rampart): what is opened through it is still decided on its real path.
#[test]
fn openat_with_a_dirfd_of_a_denied_directory() {
    let fx = Fx::new("dirfd");
    let x = fx.path("secret/x");
    fx.run("dirfd_denied", "")
        .expect_out(json!({
            "setup": 1, "denied": "EACCES", "denied_fortified": "EACCES", "allowed": "ok", "allowed_data": ALLOWED_DATA,
        }))
        .expect_events(&[file(Block, "openat", &x, "r"), file(Block, "__openat_2", &x, "r")])
        .expect_changes(&[]);
}

/// Re-opening an O_PATH descriptor of the denied file (obtained out of
/// the library's sight) through /proc/self/fd, /dev/fd and /proc/PID/fd;
/// re-opening a read-only descriptor of ro/data.txt for writing; the
/// secret through /proc/self/root, /proc/self/cwd, /proc/thread-self/cwd.
#[test]
fn proc_self_fd_reopen_of_a_denied_file() {
    let fx = Fx::new("procfd");
    let x = fx.path("secret/x");
    fx.run("proc_fd", "")
        .expect_out(json!({
            "setup": 1, "proc": "EACCES", "devfd": "EACCES", "other_pid": "EACCES",
            "allowed": "ok", "allowed_data": ALLOWED_DATA, "upgrade": "EACCES",
            "root": "EACCES", "cwd": "EACCES", "thread_cwd": "EACCES",
            "cwd_allowed": "ok", "cwd_allowed_data": ALLOWED_DATA,
        }))
        .expect_events(&[
            file(Block, "open", &x, "r"),
            file(Block, "open", &x, "r"),
            file(Block, "open", &x, "r"),
            file(Block, "open", fx.path("ro/data.txt"), "rw"),
            file(Block, "open", &x, "r"),
            file(Block, "open", &x, "r"),
            file(Block, "open", &x, "r"),
        ])
        .expect_changes(&[]);
}

/// freopen(NULL, mode, f) re-opens the stream's file with a new mode: a
/// read-only stream of ro/data.txt must not become writable (glibc re-opens
/// /proc/self/fd/N internally, which the hook decides on).
#[test]
fn freopen_null_cannot_upgrade_a_read_only_stream() {
    let fx = Fx::new("freopen-null");
    let ro = fx.path("ro/data.txt");
    fx.run("freopen_null", "")
        .expect_out(json!({
            "setup": "ok", "upgrade": "EACCES", "append": "EACCES", "allowed": "ok", "allowed_data": ALLOWED_DATA,
        }))
        .expect_events(&[file(Block, "freopen", &ro, "rw"), file(Block, "freopen", &ro, "w")])
        // Nothing was appended to the read-only file.
        .expect_changes(&[]);
}

/// A thread flips allowed/flip between a link to the allowed file and one
/// to the secret 10 000 times while the main thread opens and reads it.
#[test]
fn symlink_swapped_while_opening_never_reads_the_secret() {
    let fx = Fx::new("swap");
    let r = fx.run("swap", "10000");
    assert_eq!(r.code, Some(0), "{}", r.context());
    let n = |k: &str| r.get(k).as_i64().unwrap_or_else(|| panic!("{k}\n{}", r.context()));
    assert_eq!(n("secret_read"), 0, "the secret's content was read through the swapped link\n{}", r.context());
    assert_eq!(n("other_data"), 0, "{}", r.context());
    assert_eq!(n("other_err"), 0, "{}", r.context());
    assert!(n("ok") > 0 && n("denied") > 0, "the race was not exercised: {:?}", r.main);
    // ELOOP is the library's documented answer when the link changed under
    // it on every retry; it is never the secret.
    assert_eq!(n("ok") + n("denied") + n("eloop"), n("opens"), "{:?}", r.main);
    eprintln!("swap race: {:?}", r.main);
    let want = vec![file(Block, "open", fx.path("secret/x"), "r"); n("denied") as usize];
    r.expect_events(&want).expect_changes(&[]);
}

// ---------------------------------------------------------------------------
// Program launches. The exec-family calls run in a fork child; the parent
// reports whether the exec happened (K = "ok") or failed with errno K.

/// `op` None: any op (the execl family's op is checked on its own below).
fn exec_case(case: &str, op: Option<&str>, ok_argv: &[&str], no_argv: &[&str], foo_var: Option<&str>) {
    let fx = Fx::new(case);
    let r = fx.run(case, "");
    let (a, d) = (r.pid_of("allowed_pid"), r.pid_of("denied_pid"));
    r.expect_out(json!({
        "allowed": "ok", "allowed_pid": a, "allowed_exit": 0,
        "denied": "EACCES", "denied_pid": d, "denied_exit": 127,
    }))
    .expect_children(&[r.child_line(a, ok_argv, foo_var)])
    .expect_events(&[Ev { op: op.map(String::from), ..process(Block, "", progs().denied(), no_argv).pid(d) }])
    .expect_changes(&[])
    .expect_no_traffic();
}

#[test]
fn execve() {
    exec_case("execve", Some("execve"), &["cases", "child", "execve"], &["denied", "child", "execve"], None);
}

#[test]
fn execv() {
    exec_case("execv", Some("execv"), &["cases", "child", "execv"], &["denied", "child", "execv"], None);
}

#[test]
fn execvp_searches_path() {
    exec_case("execvp", Some("execvp"), &["cases", "child", "execvp"], &["denied", "child", "execvp"], None);
}

#[test]
fn execvpe() {
    exec_case(
        "execvpe",
        Some("execvpe"),
        &["cases", "child", "execvpe"],
        &["denied", "child", "execvpe"],
        Some("from-env"),
    );
}

// execl, execle and execlp are variadic: the library implements them in a
// C shim behind naked trampolines. Nine arguments: some are on the stack.

#[test]
fn execl_variadic() {
    let args = ["child", "execl", "a", "b c", "d", "e", "f", "g", "h"];
    let ok: Vec<&str> = std::iter::once("cases").chain(args).collect();
    let no: Vec<&str> = std::iter::once("denied").chain(args).collect();
    exec_case("execl", None, &ok, &no, None);
}

#[test]
fn execle_variadic_with_env() {
    let args = ["child", "execle", "a", "b", "c", "d", "e"];
    let ok: Vec<&str> = std::iter::once("cases").chain(args).collect();
    let no: Vec<&str> = std::iter::once("denied").chain(args).collect();
    exec_case("execle", None, &ok, &no, Some("from-env"));
}

#[test]
fn execlp_variadic_searches_path() {
    let args = ["child", "execlp", "a", "b", "c", "d", "e"];
    let ok: Vec<&str> = std::iter::once("cases").chain(args).collect();
    let no: Vec<&str> = std::iter::once("denied").chain(args).collect();
    exec_case("execlp", None, &ok, &no, None);
}

/// The block line of a denied execl/execle/execlp names the entry point
/// the program called, as for every other hook.
///
/// LIBRARY BUG (fails at the time of writing): the C shim calls execve /
/// execvp, so the line says `"op":"execve"` (execl, execle) or
/// `"op":"execvp"` (execlp).
#[test]
fn execl_family_reports_its_own_op() {
    let fx = Fx::new("execl-op");
    let policy = fx.block_policy();
    let ops: Vec<(String, Option<String>)> = ["execl", "execle", "execlp"]
        .into_iter()
        .map(|case| {
            let r = fx.run_with(case, "", Some(&policy), None);
            let op = r.events.iter().find(|e| e.kind == Block).and_then(|e| e.op.clone());
            (case.to_owned(), op)
        })
        .collect();
    let want: Vec<(String, Option<String>)> =
        ["execl", "execle", "execlp"].into_iter().map(|c| (c.to_owned(), Some(c.to_owned()))).collect();
    assert_eq!(ops, want, "op of the block line of each variadic exec");
}

#[test]
fn fexecve() {
    exec_case("fexecve", Some("fexecve"), &["cases", "child", "fexecve"], &["denied", "child", "fexecve"], None);
}

/// execveat with a directory descriptor and a name, and with AT_EMPTY_PATH
/// on an O_PATH descriptor of the program.
#[test]
fn execveat() {
    let fx = Fx::new("execveat");
    let r = fx.run("execveat", "");
    let pids: Vec<u32> = ["allowed_pid", "denied_pid", "allowed_empty_pid", "denied_empty_pid"]
        .into_iter()
        .map(|k| r.pid_of(k))
        .collect();
    let (ok, no) = (["cases", "child", "execveat"], ["denied", "child", "execveat"]);
    r.expect_out(json!({
        "allowed": "ok", "allowed_pid": pids[0], "allowed_exit": 0,
        "denied": "EACCES", "denied_pid": pids[1], "denied_exit": 127,
        "allowed_empty": "ok", "allowed_empty_pid": pids[2], "allowed_empty_exit": 0,
        "denied_empty": "EACCES", "denied_empty_pid": pids[3], "denied_empty_exit": 127,
    }))
    .expect_children(&[r.child_line(pids[0], &ok, None), r.child_line(pids[2], &ok, None)])
    .expect_events(&[
        process(Block, "execveat", progs().denied(), &no).pid(pids[1]),
        process(Block, "execveat", progs().denied(), &no).pid(pids[3]),
    ])
    .expect_changes(&[]);
}

/// The program that would run is decided on, not the name: bin/alias
/// (matches the `bin/*` rule) leads to deny/denied, deny/alias to
/// bin/cases; /proc/self/fd/N of an O_PATH descriptor of deny/denied.
#[test]
fn exec_through_a_symlink_decides_on_the_real_program() {
    let fx = Fx::new("exec-link");
    let r = fx.run("exec_link", "");
    let (a, d, p) = (r.pid_of("allowed_pid"), r.pid_of("denied_pid"), r.pid_of("proc_pid"));
    let argv = ["alias", "child", "exec_link"];
    r.expect_out(json!({
        "denied": "EACCES", "denied_pid": d, "denied_exit": 127,
        "allowed": "ok", "allowed_pid": a, "allowed_exit": 0,
        "proc": "EACCES", "proc_pid": p, "proc_exit": 127,
        "spawn_denied": "EACCES",
    }))
    .expect_children(&[r.child_line(a, &argv, None)])
    .expect_events(&[
        process(Block, "execve", progs().denied(), &argv).pid(d),
        process(Block, "execve", progs().denied(), &argv).pid(p),
        process(Block, "posix_spawn", progs().denied(), &argv),
    ])
    .expect_changes(&[]);
}

fn spawn_case(case: &str) {
    let fx = Fx::new(case);
    let r = fx.run(case, "");
    let a = r.pid_of("allowed_pid");
    // posix_spawn returns the error (errno is not the channel).
    r.expect_out(json!({"allowed": "ok", "allowed_pid": a, "allowed_exit": 0, "denied": "EACCES"}))
        .expect_children(&[r.child_line(a, &["cases", "child", case], None)])
        .expect_events(&[process(Block, case, progs().denied(), &["denied", "child", case])])
        .expect_changes(&[])
        .expect_no_traffic();
}

#[test]
fn posix_spawn() {
    spawn_case("posix_spawn");
}

#[test]
fn posix_spawnp_searches_path() {
    spawn_case("posix_spawnp");
}

fn sh() -> String {
    realpath("/bin/sh")
}

#[test]
fn system_allowed_runs_the_command() {
    let fx = Fx::new("system-ok");
    let policy = fx.shell_policy();
    let cmd = format!("exec {}/bin/cases child system", progs().dir());
    let r = fx.run_with("system", &cmd, Some(&policy), None);
    let child = r.children.first().and_then(|c| c["pid"].as_u64()).unwrap_or(0) as u32;
    // The shell's exec: argv[0] is the program as the command wrote it.
    let argv0 = progs().cases.display().to_string();
    r.expect_out(json!({"system": "ok", "system_exit": 0}))
        .expect_children(&[r.child_line(child, &[&argv0, "child", "system"], None)])
        .expect_events(&[])
        .expect_changes(&[]);
}

#[test]
fn system_denied_shell() {
    let fx = Fx::new("system-no");
    let cmd = format!("exec {}/bin/cases child system", progs().dir());
    fx.run("system", &cmd)
        .expect_out(json!({"system": "EACCES"}))
        .expect_children(&[])
        .expect_events(&[process(Block, "system", sh(), &["sh", "-c", &cmd])])
        .expect_changes(&[]);
}

/// The shell is allowed, the program it runs is not: the shell (covered,
/// it is a child) is denied the exec and says so.
#[test]
fn system_shell_cannot_run_a_denied_program() {
    let fx = Fx::new("system-shell");
    let policy = fx.shell_policy();
    let cmd = format!("{} child system", progs().denied());
    let r = fx.run_with("system", &cmd, Some(&policy), None);
    r.expect_out(json!({"system": "ok", "system_exit": 126}))
        .expect_children(&[])
        .expect_events(&[process(Block, "execve", progs().denied(), &[&progs().denied(), "child", "system"]).any_pid()])
        .expect_changes(&[]);
    let shell_pid = r.events.iter().find(|e| e.kind == Block).map_or(0, |e| e.pid);
    assert_ne!(shell_pid, r.pid, "the shell's exec is denied in the shell, not in the caller\n{}", r.context());
    assert!(r.stderr.contains("Permission denied"), "the shell reports the denial\n{}", r.context());
}

#[test]
fn popen_allowed_reads_the_command() {
    let fx = Fx::new("popen-ok");
    let policy = fx.shell_policy();
    let cmd = format!("exec {}/bin/cases child popen", progs().dir());
    let mut r = fx.run_with("popen", &cmd, Some(&policy), None);
    let output = r.main.remove("popen_output").and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    let line: Value = serde_json::from_str(output.trim_end()).unwrap_or_else(|e| panic!("{output:?}: {e}"));
    let pid = line["pid"].as_u64().unwrap_or(0) as u32;
    let argv0 = progs().cases.display().to_string();
    assert_eq!(line, r.child_line(pid, &[&argv0, "child", "popen"], None), "{}", r.context());
    r.expect_out(json!({"popen": "ok", "popen_exit": 0})).expect_children(&[]).expect_events(&[]).expect_changes(&[]);
}

#[test]
fn popen_denied_shell() {
    let fx = Fx::new("popen-no");
    let cmd = format!("exec {}/bin/cases child popen", progs().dir());
    fx.run("popen", &cmd)
        .expect_out(json!({"popen": "EACCES"}))
        .expect_children(&[])
        .expect_events(&[process(Block, "popen", sh(), &["sh", "-c", &cmd])])
        .expect_changes(&[]);
}

// ---------------------------------------------------------------------------
// Children stay covered.

/// A child-open line: the child's denied open of secret/x, and the
/// environment it got.
fn child_open(pid: u32, ppid: u32, mode: Option<&str>, policy: &Option<String>, foo_var: Option<&str>) -> Value {
    json!({
        "case": "child-open", "pid": pid, "open": "EACCES", "ppid": ppid,
        "LD_PRELOAD": lib(), "RAMPART_MODE": mode, "RAMPART_POLICY": policy,
        "RAMPART_CHILD": "1", "RAMPART_EXTRA": null, "FOO": foo_var,
    })
}

/// execve with envp = {NULL}, execve and posix_spawn with LD_PRELOAD=/bogus
/// and RAMPART_MODE=off: each child is covered with the parent's
/// configuration (its denied open is blocked, by the child's pid).
#[test]
fn env_scrub_children_stay_covered() {
    let fx = Fx::new("env-scrub");
    let policy = fx.block_policy();
    let r = fx.run_with("env_scrub", "", Some(&policy), Some("block"));
    let pids: Vec<u32> = ["empty_pid", "bogus_pid", "spawn_pid"].into_iter().map(|k| r.pid_of(k)).collect();
    let x = fx.path("secret/x");
    r.expect_out(json!({
        "empty": "ok", "empty_pid": pids[0], "empty_exit": 0,
        "bogus": "ok", "bogus_pid": pids[1], "bogus_exit": 0,
        "spawn": "ok", "spawn_pid": pids[2], "spawn_exit": 0,
    }))
    .expect_children(&[
        child_open(pids[0], r.pid, Some("block"), &r.policy, None),
        child_open(pids[1], r.pid, Some("block"), &r.policy, Some("kept")),
        child_open(pids[2], r.pid, Some("block"), &r.policy, Some("kept")),
    ])
    .expect_events(&[
        file(Block, "open", &x, "r").pid(pids[0]),
        file(Block, "open", &x, "r").pid(pids[1]),
        file(Block, "open", &x, "r").pid(pids[2]),
    ])
    .expect_changes(&[]);
}

/// The process removes LD_PRELOAD and sets RAMPART_MODE=off in its own
/// environment, then system(): the shell and what it runs are covered.
#[test]
fn env_scrub_before_system() {
    let fx = Fx::new("env-system");
    let policy = fx.shell_policy();
    let r = fx.run_with("env_system", "", Some(&policy), Some("block"));
    let child = r.children.first().and_then(|c| c["pid"].as_u64()).unwrap_or(0) as u32;
    r.expect_out(json!({"system": "ok", "system_exit": 0}))
        .expect_children(&[child_open(child, r.pid, Some("block"), &r.policy, None)])
        .expect_events(&[file(Block, "open", fx.path("secret/x"), "r").pid(child)])
        .expect_changes(&[]);
}

#[test]
fn exec_of_a_static_binary_is_reported_as_not_covered() {
    let fx = Fx::new("static");
    let r = fx.run("static_exec", "");
    let p = r.pid_of("exec_pid");
    let target = progs().cstatic.display().to_string();
    r.expect_out(json!({"exec": "ok", "exec_pid": p, "exec_exit": 0}))
        .expect_children(&[json!({"case": "static-child", "pid": p, "argc": 2})])
        .expect_decisions(&[])
        .expect_status(&[(Some(Category::Process), Some(&target), "static executable", None, Some(p))])
        .expect_changes(&[]);
}

/// vfork children share the parent's memory: an allowed and a denied exec
/// from them must leave the parent's hooks working.
#[test]
fn vfork_exec_leaves_the_parent_covered() {
    let fx = Fx::new("vfork");
    let r = fx.run("vfork", "");
    let (a, d) = (r.pid_of("allowed_pid"), r.pid_of("denied_pid"));
    r.expect_out(json!({
        "allowed": "ok", "allowed_pid": a, "allowed_exit": 0,
        "denied": "EACCES", "denied_pid": d, "denied_exit": 126,
        "after_denied": "EACCES", "after_allowed": "ok", "after_allowed_data": ALLOWED_DATA,
    }))
    .expect_children(&[r.child_line(a, &["cases", "child", "vfork"], None)])
    .expect_events(&[
        process(Block, "execve", progs().denied(), &["denied", "child", "vfork"]).pid(d),
        file(Block, "open", fx.path("secret/x"), "r"),
    ])
    .expect_changes(&[]);
}

/// 20 fork children of a parent whose 4 threads are busy in hooked opens:
/// each child opens (allowed, denied) and execs, without deadlock.
#[test]
fn fork_of_a_multithreaded_parent() {
    let fx = Fx::new("fork-mt");
    let r = fx.run("fork_mt", "20");
    let pids: Vec<u32> =
        r.get("pids").as_array().expect("pids").iter().map(|p| p.as_u64().unwrap_or(0) as u32).collect();
    r.expect_out(json!({"pids": pids, "forks": 20, "good": 20}));
    let want: Vec<Ev> = pids.iter().map(|&p| file(Block, "open", fx.path("secret/x"), "r").pid(p)).collect();
    r.expect_events(&want).expect_changes(&[]);
}

/// errno = 1234 before each allowed call that succeeds: still 1234 after.
#[test]
fn errno_is_preserved_by_allowed_calls() {
    let fx = Fx::new("errno");
    let keys = [
        "open",
        "open64",
        "openat",
        "__open_2",
        "creat",
        "open_link",
        "fopen",
        "opendir",
        "connect",
        "sendto",
        "posix_spawn",
    ];
    let want: Map<String, Value> = keys.iter().map(|k| (k.to_string(), json!(1234))).collect();
    fx.run("errno", "")
        .expect_out(Value::Object(want))
        .expect_events(&[])
        .expect_changes(&[("allowed/errno.txt", file_entry(""))])
        .expect_traffic(
            PeerLog { tcp_allowed_accepted: 1, udp_allowed_received: vec!["errno".into()], ..PeerLog::default() },
            (0, 0),
        );
}

// ---------------------------------------------------------------------------
// Network.

/// IPv4, IPv6 ::1, and IPv4-mapped IPv6 (::ffff:127.0.0.1).
#[test]
fn connect_tcp_ipv4_and_ipv6() {
    let fx = Fx::new("tcp");
    fx.run("tcp", "")
        .expect_out(json!({
            "v4_allowed": "ok", "v4_allowed_ret": 0, "v4_denied": "EACCES",
            "v6_allowed": "ok", "v6_allowed_ret": 0, "v6_denied": "EACCES",
            "mapped_allowed": "ok", "mapped_allowed_ret": 0, "mapped_denied": "EACCES",
        }))
        .expect_events(&[
            net(Block, "connect", format!("127.0.0.1:{}", fx.tcp_no())),
            net(Block, "connect", format!("[::1]:{}", port(&fx.tcp6_no))),
            // ::ffff:127.0.0.1 is the IPv4 peer, under its IPv4 rules.
            net(Block, "connect", format!("127.0.0.1:{}", fx.tcp_no())),
        ])
        .expect_traffic(PeerLog { tcp_allowed_accepted: 2, ..PeerLog::default() }, (1, 0))
        .expect_changes(&[]);
}

/// sendto, sendmsg (msg_name) and sendmmsg on an unconnected UDP socket;
/// a sendmmsg with one allowed and one denied message sends nothing.
#[test]
fn udp_sendto_sendmsg_sendmmsg() {
    let fx = Fx::new("udp");
    let t = format!("udp:127.0.0.1:{}", fx.udp_no());
    fx.run("udp", "")
        .expect_out(json!({
            "sendto_allowed": "ok", "sendto_allowed_ret": 9, "sendto_denied": "EACCES",
            "sendmsg_allowed": "ok", "sendmsg_allowed_ret": 10, "sendmsg_denied": "EACCES",
            "sendmmsg_mixed": "ok", "sendmmsg_mixed_ret": 1, "sendmmsg_allowed": "ok", "sendmmsg_allowed_ret": 1,
            "connect_denied": "EACCES",
        }))
        .expect_events(&[
            net(Block, "sendto", &t),
            net(Block, "sendmsg", &t),
            net(Block, "sendmmsg", &t),
            net(Block, "connect", &t),
        ])
        .expect_traffic(
            PeerLog {
                udp_allowed_received: vec![
                    "sendto-ok".into(),
                    "sendmsg-ok".into(),
                    "mmsg-ok".into(),
                    "mmsg-ok2".into(),
                ],
                ..PeerLog::default()
            },
            (0, 0),
        )
        .expect_changes(&[]);
}

/// getaddrinfo("localhost") then connect: the target carries the name, and
/// a `localhost:PORT` rule (no IP rule) allows it.
#[test]
fn getaddrinfo_names_the_peer() {
    let fx = Fx::new("gai");
    let mut rules = fx.rules();
    let ok = fx.peers.tcp_allowed_port();
    rules.network.retain(|r| !r.starts_with("127.0.0.1:"));
    rules.network.push(format!("localhost:{ok}"));
    let policy = fx.policy("block", &rules);
    fx.run_with("gai", "", Some(&policy), None)
        .expect_out(json!({"gai": 0, "allowed": "ok", "allowed_ret": 0, "denied": "EACCES"}))
        .expect_events(&[net(Block, "connect", format!("localhost:{}", fx.tcp_no()))])
        .expect_traffic(PeerLog { tcp_allowed_accepted: 1, ..PeerLog::default() }, (0, 0))
        .expect_changes(&[]);
}

#[test]
fn unix_sockets_path_and_abstract() {
    let fx = Fx::new("unix");
    let no = format!("unix:{}/allowed/no.sock", fx.root());
    fx.run("unix", "")
        .expect_out(json!({
            "path_allowed": "ok", "path_allowed_ret": 0, "path_denied": "EACCES", "path_relative": "EACCES",
            "abstract_allowed": "ok", "abstract_allowed_ret": 0, "abstract_denied": "EACCES",
            "unlink_ok": "ok", "unlink_ok_ret": 0, "unlink_no": "ok", "unlink_no_ret": 0,
        }))
        .expect_events(&[
            net(Block, "connect", &no),
            net(Block, "connect", &no),
            net(Block, "connect", format!("unix:@{}-no", fx.tag)),
        ])
        .expect_changes(&[]);
}

// ---------------------------------------------------------------------------
// Modes: 100 reads of the allowed and of the secret file and 100 datagrams
// to the denied UDP peer.

const REPEAT: &str = "100";

fn all_succeeded() -> Value {
    json!({"allowed_opened": 100, "secret_opened": 100, "secret_read": 100, "sent": 100})
}

fn hundred_datagrams() -> PeerLog {
    PeerLog { udp_denied_received: vec!["r".to_owned(); 100], ..PeerLog::default() }
}

/// One profile line per distinct activity (allowed or not), nothing denied.
fn expect_profiled(fx: &Fx, r: &Run, mode_line: &str) {
    r.expect_out(all_succeeded())
        .expect_decisions(&[
            file(Profile, "open", fx.path("allowed/data.txt"), "r"),
            file(Profile, "open", fx.path("secret/x"), "r"),
            net(Profile, "sendto", format!("udp:127.0.0.1:{}", fx.udp_no())),
        ])
        .expect_status_started(mode_line, &[])
        .expect_traffic(hundred_datagrams(), (0, 0))
        .expect_changes(&[]);
}

#[test]
fn profile_mode_reports_each_activity_once() {
    let fx = Fx::new("profile");
    let policy = fx.block_policy();
    let r = fx.run_with("repeat", REPEAT, Some(&policy), Some("profile"));
    expect_profiled(&fx, &r, "profile");
}

#[test]
fn no_policy_means_profile_mode() {
    let fx = Fx::new("nopolicy");
    let r = fx.run_with("repeat", REPEAT, None, None);
    expect_profiled(&fx, &r, "profile");
    let started = r.events.iter().find(|e| e.kind == Status).and_then(|e| e.msg.clone()).unwrap_or_default();
    assert!(started.starts_with("started: mode profile, policy none"), "{started}");
}

/// A policy file that does not parse: an `error` line, then profile mode;
/// the program runs normally. (`rampart run` refuses such a file, so the
/// library is preloaded by hand, as the Lambda wrapper does.)
#[test]
fn invalid_policy_file_is_an_error_line_and_profile_mode() {
    let fx = Fx::new("invalid");
    let bad = fx.policies.path().join("bad.json");
    std::fs::write(&bad, "{\"version\": 1, \"mode\": \"block\", \"allow\": {\"file\": [\"r relative/path\"]}}")
        .expect("write");
    let mut cmd = Command::new(&progs().cases);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RAMPART_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("LD_PRELOAD", lib()).env("RAMPART_POLICY", &bad);
    let r = fx.run_cmd(cmd, "repeat", REPEAT, Some(&bad));
    let errors: Vec<&Event> = r.events.iter().filter(|e| e.kind == Error).collect();
    let bad_s = bad.display().to_string();
    assert!(
        errors.len() == 1 && errors[0].pid == r.pid && errors[0].msg.as_deref().is_some_and(|m| m.contains(&bad_s)),
        "want one error line naming {bad_s}\n{}",
        r.context()
    );
    // The error line aside, exactly the profile run.
    let without_error = Run { events: r.events.iter().filter(|e| e.kind != Error).cloned().collect(), ..r };
    expect_profiled(&fx, &without_error, "profile");
}

/// Nothing denied; one alert line per target, and at exit a status line
/// counting the 99 alerts the rate limit held back.
#[test]
fn alert_mode_is_rate_limited_with_a_counted_summary() {
    let fx = Fx::new("alert");
    let policy = fx.block_policy();
    let r = fx.run_with("repeat", REPEAT, Some(&policy), Some("alert"));
    let x = fx.path("secret/x");
    let udp = format!("udp:127.0.0.1:{}", fx.udp_no());
    r.expect_out(all_succeeded())
        .expect_decisions(&[file(Alert, "open", &x, "r"), net(Alert, "sendto", &udp)])
        .expect_status_started(
            "alert",
            &[
                (Some(Category::File), Some(&x), "alert lines suppressed", Some(99), None),
                (Some(Category::Network), Some(&udp), "alert lines suppressed", Some(99), None),
            ],
        )
        .expect_traffic(hundred_datagrams(), (0, 0))
        .expect_changes(&[]);
}

/// The policy file says alert; the policy's own mode applies.
#[test]
fn policy_mode_alert_from_the_file() {
    let fx = Fx::new("alert-file");
    let policy = fx.policy("alert", &fx.rules());
    let r = fx.run_with("repeat", "3", Some(&policy), None);
    let x = fx.path("secret/x");
    let udp = format!("udp:127.0.0.1:{}", fx.udp_no());
    r.expect_out(json!({"allowed_opened": 3, "secret_opened": 3, "secret_read": 3, "sent": 3}))
        .expect_decisions(&[file(Alert, "open", &x, "r"), net(Alert, "sendto", &udp)])
        .expect_status_started(
            "alert",
            &[
                (Some(Category::File), Some(&x), "alert lines suppressed", Some(2), None),
                (Some(Category::Network), Some(&udp), "alert lines suppressed", Some(2), None),
            ],
        );
}

/// RAMPART_MODE (here from `--mode`) overrides the policy's alert: block
/// lines are never de-duplicated.
#[test]
fn rampart_mode_overrides_the_policy_mode() {
    let fx = Fx::new("override");
    let policy = fx.policy("alert", &fx.rules());
    let r = fx.run_with("repeat", "3", Some(&policy), Some("block"));
    let x = fx.path("secret/x");
    let udp = format!("udp:127.0.0.1:{}", fx.udp_no());
    let mut want = Vec::new();
    for _ in 0..3 {
        want.push(file(Block, "open", &x, "r"));
        want.push(net(Block, "sendto", &udp));
    }
    r.expect_out(json!({"allowed_opened": 3, "secret_opened": 0, "secret_read": 0, "sent": 0}))
        .expect_events(&want)
        .expect_no_traffic()
        .expect_changes(&[]);
}

/// Block mode with only `file` in the policy's `block` list: what is not
/// allowed in the other categories is an alert, not denied.
#[test]
fn categories_outside_the_block_list_alert() {
    let fx = Fx::new("block-file");
    let r = fx.rules();
    let list = |v: &[String]| v.iter().map(|s| Value::String(s.clone())).collect::<Vec<_>>();
    let json = json!({
        "version": 1, "mode": "block", "block": ["file"],
        "allow": {"file": list(&r.file), "network": list(&r.network), "process": list(&r.process)},
    });
    let dir = fx.policies.path().join("block-file");
    std::fs::create_dir(&dir).expect("mkdir");
    let policy = write_policy(&dir, &json.to_string());
    let x = fx.path("secret/x");
    let udp = format!("udp:127.0.0.1:{}", fx.udp_no());
    let run = fx.run_with("repeat", "3", Some(&policy), None);
    run.expect_out(json!({"allowed_opened": 3, "secret_opened": 0, "secret_read": 0, "sent": 3}))
        .expect_decisions(&[
            file(Block, "open", &x, "r"),
            net(Alert, "sendto", &udp),
            file(Block, "open", &x, "r"),
            file(Block, "open", &x, "r"),
        ])
        .expect_status(&[(Some(Category::Network), Some(&udp), "alert lines suppressed", Some(2), None)])
        .expect_traffic(PeerLog { udp_denied_received: vec!["r".to_owned(); 3], ..PeerLog::default() }, (0, 0))
        .expect_changes(&[]);
}

#[test]
fn off_mode_writes_nothing() {
    let fx = Fx::new("off");
    let policy = fx.block_policy();
    let r = fx.run_with("repeat", REPEAT, Some(&policy), Some("off"));
    r.expect_out(all_succeeded()).expect_traffic(hundred_datagrams(), (0, 0)).expect_changes(&[]);
    assert!(r.events.is_empty(), "off mode wrote event lines\n{}", r.context());
}

/// RAMPART_MODE set directly in the environment (no `rampart run`).
#[test]
fn rampart_mode_env_off_with_a_block_policy() {
    let fx = Fx::new("env-off");
    let policy = fx.block_policy();
    let mut cmd = Command::new(&progs().cases);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RAMPART_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("LD_PRELOAD", lib()).env("RAMPART_POLICY", &policy).env("RAMPART_MODE", "off");
    let r = fx.run_cmd(cmd, "repeat", REPEAT, Some(&policy));
    r.expect_out(all_succeeded()).expect_traffic(hundred_datagrams(), (0, 0)).expect_changes(&[]);
    assert!(r.events.is_empty(), "off mode wrote event lines\n{}", r.context());
}
