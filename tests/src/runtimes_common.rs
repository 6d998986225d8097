//! Shared pieces of the language-runtime suites (`runtime_python.rs`,
//! `runtime_node.rs`): a sandbox directory with allowed and secret files,
//! loopback peers to connect and send to, a generous base policy, and a
//! runner that splits a fixture's stderr into per-case event logs.
//!
//! A fixture script runs many cases in one interpreter (start-up dominates
//! the time) and writes `@@case NAME` to stderr before each. rampart writes a
//! `block` line before the denied call returns and a child writes its lines
//! before it exits (before the case ends), so every event line after a
//! marker and before the next belongs to that case.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rampart_event::{Event, EventType, PREFIX};
use rampart_policy::{Access, Category};

/// Content of `allowed/data.txt`.
pub const ALLOWED_DATA: &str = "allowed data\n";
/// Content of `secret/x`: a denied read must not see it, a denied write must not change it.
pub const SECRET_DATA: &str = "top secret\n";
/// Content of `ro/data.txt` (readable, not writable).
pub const RO_DATA: &str = "read only\n";

/// A directory removed (with its contents) on drop. The path is canonical:
/// rules and expected targets are written with it, and the library reports
/// real paths (`/tmp` may be a link).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!("rampart-{tag}-{}-{}-{nanos}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        let path = std::fs::canonicalize(&path).expect("canonicalize temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The files the cases work on, under one canonical root:
///
/// ```text
/// allowed/data.txt                 ALLOWED_DATA      (rw allowed/**)
/// allowed/link      -> ROOT/secret/x                 (absolute link to a denied file)
/// allowed/goodlink  -> ROOT/allowed/data.txt         (link to an allowed file)
/// allowed/secretdir -> ../secret                     (relative link to a denied directory)
/// secret/x                         SECRET_DATA       (no rule)
/// ro/data.txt                      RO_DATA           (r ro/**)
/// ```
pub struct Sandbox {
    dir: TempDir,
}

/// One entry of a [`Sandbox::snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File(String),
    Link(String),
}

impl Sandbox {
    pub fn new(tag: &str) -> Sandbox {
        let dir = TempDir::new(tag);
        let root = dir.path();
        for d in ["allowed", "secret", "ro"] {
            std::fs::create_dir(root.join(d)).expect("mkdir");
        }
        std::fs::write(root.join("allowed/data.txt"), ALLOWED_DATA).expect("write");
        std::fs::write(root.join("secret/x"), SECRET_DATA).expect("write");
        std::fs::write(root.join("ro/data.txt"), RO_DATA).expect("write");
        std::os::unix::fs::symlink(root.join("secret/x"), root.join("allowed/link")).expect("symlink");
        std::os::unix::fs::symlink(root.join("allowed/data.txt"), root.join("allowed/goodlink")).expect("symlink");
        std::os::unix::fs::symlink("../secret", root.join("allowed/secretdir")).expect("symlink");
        Sandbox { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `ROOT/rel` as a string (the form targets and rules use).
    pub fn path(&self, rel: &str) -> String {
        let root = self.root().to_str().expect("temp dir path is UTF-8");
        if rel.is_empty() { root.to_owned() } else { format!("{root}/{rel}") }
    }

    /// The file rules that make the layout mean what its doc says: the root
    /// itself readable (a dirfd on it), `allowed/` read-write, `ro/`
    /// read-only, nothing for `secret/`.
    pub fn rules(&self) -> Vec<String> {
        vec![
            format!("r {}", self.path("")),
            format!("rw {}/**", self.path("allowed")),
            format!("r {}/**", self.path("ro")),
        ]
    }

    /// Every entry under the root, by relative path: what the run left
    /// behind (nothing created, truncated or appended where it was denied).
    pub fn snapshot(&self) -> BTreeMap<String, Entry> {
        fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, Entry>) {
            let mut names: Vec<_> =
                std::fs::read_dir(dir).expect("read_dir").map(|e| e.expect("entry").path()).collect();
            names.sort();
            for path in names {
                let name = path.file_name().expect("name").to_string_lossy().into_owned();
                let rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
                let meta = std::fs::symlink_metadata(&path).expect("lstat");
                if meta.file_type().is_symlink() {
                    out.insert(rel, Entry::Link(std::fs::read_link(&path).expect("readlink").display().to_string()));
                } else if meta.is_dir() {
                    out.insert(rel.clone(), Entry::Dir);
                    walk(&path, &rel, out);
                } else {
                    let bytes = std::fs::read(&path).expect("read");
                    out.insert(rel, Entry::File(String::from_utf8_lossy(&bytes).into_owned()));
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.root(), "", &mut out);
        out
    }

    /// The snapshot right after [`Sandbox::new`].
    pub fn initial_snapshot(&self) -> BTreeMap<String, Entry> {
        let mut m = BTreeMap::new();
        let file = |s: &str| Entry::File(s.to_owned());
        m.insert("allowed".into(), Entry::Dir);
        m.insert("allowed/data.txt".into(), file(ALLOWED_DATA));
        m.insert("allowed/goodlink".into(), Entry::Link(self.path("allowed/data.txt")));
        m.insert("allowed/link".into(), Entry::Link(self.path("secret/x")));
        m.insert("allowed/secretdir".into(), Entry::Link("../secret".into()));
        m.insert("ro".into(), Entry::Dir);
        m.insert("ro/data.txt".into(), file(RO_DATA));
        m.insert("secret".into(), Entry::Dir);
        m.insert("secret/x".into(), file(SECRET_DATA));
        m
    }
}

/// Loopback peers: a TCP listener and a UDP socket whose ports the policy
/// allows, and one of each it does not. The denied ones are real, listening
/// peers, so a connection or datagram that got through would be seen.
pub struct Peers {
    pub tcp_allowed: TcpListener,
    pub tcp_denied: TcpListener,
    pub udp_allowed: UdpSocket,
    pub udp_denied: UdpSocket,
}

/// What reached the [`Peers`] during a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerLog {
    pub tcp_allowed_accepted: usize,
    pub tcp_denied_accepted: usize,
    pub udp_allowed_received: Vec<String>,
    pub udp_denied_received: Vec<String>,
}

fn port_of(addr: std::io::Result<std::net::SocketAddr>) -> u16 {
    addr.expect("local_addr").port()
}

impl Peers {
    pub fn new() -> Peers {
        let tcp = || TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let udp = || UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        Peers { tcp_allowed: tcp(), tcp_denied: tcp(), udp_allowed: udp(), udp_denied: udp() }
    }

    pub fn tcp_allowed_port(&self) -> u16 {
        port_of(self.tcp_allowed.local_addr())
    }
    pub fn tcp_denied_port(&self) -> u16 {
        port_of(self.tcp_denied.local_addr())
    }
    pub fn udp_allowed_port(&self) -> u16 {
        port_of(self.udp_allowed.local_addr())
    }
    pub fn udp_denied_port(&self) -> u16 {
        port_of(self.udp_denied.local_addr())
    }

    /// The network rules allowing exactly the two "allowed" peers.
    pub fn rules(&self) -> Vec<String> {
        vec![format!("127.0.0.1:{}", self.tcp_allowed_port()), format!("udp:127.0.0.1:{}", self.udp_allowed_port())]
    }

    /// Takes everything that arrived (the kernel queued connections and
    /// datagrams while the fixture ran; nothing is read during the run).
    pub fn drain(&self) -> PeerLog {
        fn accepted(l: &TcpListener) -> usize {
            l.set_nonblocking(true).expect("nonblocking");
            let mut n = 0;
            loop {
                match l.accept() {
                    Ok(_) => n += 1,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return n,
                    Err(e) => panic!("accept: {e}"),
                }
            }
        }
        fn received(s: &UdpSocket) -> Vec<String> {
            s.set_nonblocking(true).expect("nonblocking");
            let mut out = Vec::new();
            let mut buf = [0u8; 2048];
            loop {
                match s.recv(&mut buf) {
                    Ok(n) => out.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return out,
                    Err(e) => panic!("recv: {e}"),
                }
            }
        }
        PeerLog {
            tcp_allowed_accepted: accepted(&self.tcp_allowed),
            tcp_denied_accepted: accepted(&self.tcp_denied),
            udp_allowed_received: received(&self.udp_allowed),
            udp_denied_received: received(&self.udp_denied),
        }
    }
}

impl Default for Peers {
    fn default() -> Self {
        Peers::new()
    }
}

/// The fixture's configuration argument: `{"root":..,"tcp_allowed":..,...}`.
pub fn fixture_config(sandbox: &Sandbox, peers: &Peers) -> String {
    format!(
        "{{\"root\":{},\"tcp_allowed\":{},\"tcp_denied\":{},\"udp_allowed\":{},\"udp_denied\":{}}}",
        json_str(&sandbox.path("")),
        peers.tcp_allowed_port(),
        peers.tcp_denied_port(),
        peers.udp_allowed_port(),
        peers.udp_denied_port()
    )
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Read access to what any dynamically linked runtime needs to start
/// (libraries, configuration, /proc, /sys, devices) and write access to
/// /dev/null. Add the runtime's install directory and the fixture directory.
pub fn base_file_rules() -> Vec<String> {
    ["r /usr/**", "r /lib/**", "r /lib64/**", "r /etc/**", "r /proc/**", "r /sys/**", "r /dev/**", "rw /dev/null"]
        .into_iter()
        .map(String::from)
        .collect()
}

/// A policy.json text; `block` lists file, network and process.
pub fn policy_json(mode: &str, file: &[String], network: &[String], process: &[String]) -> String {
    let list = |v: &[String]| v.iter().map(|s| json_str(s)).collect::<Vec<_>>().join(", ");
    format!(
        "{{\n  \"version\": 1,\n  \"mode\": {},\n  \"block\": [\"file\", \"network\", \"process\"],\n  \
         \"allow\": {{\n    \"file\": [{}],\n    \"network\": [{}],\n    \"process\": [{}]\n  }}\n}}\n",
        json_str(mode),
        list(file),
        list(network),
        list(process)
    )
}

/// The absolute path with every symlink resolved, as the library reports
/// programs (`/bin/sh` → `/usr/bin/dash`).
pub fn realpath(p: &str) -> String {
    std::fs::canonicalize(p).unwrap_or_else(|e| panic!("realpath {p}: {e}")).display().to_string()
}

/// What one case wrote to stderr.
#[derive(Clone, Debug, Default)]
pub struct CaseLog {
    pub name: String,
    /// rampart's event lines, in order.
    pub events: Vec<Event>,
    /// Every other stderr line (a shell's "Permission denied", tracebacks).
    pub text: String,
}

impl CaseLog {
    /// The events that report activity (`status` lines are left out: they
    /// are start-up and summary notes, not decisions).
    pub fn decisions(&self) -> Vec<&Event> {
        self.events.iter().filter(|e| e.kind != EventType::Status).collect()
    }
}

/// A fixture run split by case.
#[derive(Debug)]
pub struct Transcript {
    pub code: Option<i32>,
    pub wall: Duration,
    /// stdout, one JSON object per case.
    pub stdout: String,
    /// Before the first marker: the runtime's start-up.
    pub startup: CaseLog,
    pub cases: Vec<CaseLog>,
    /// After `@@done`: the runtime's exit (absent when the fixture never finished).
    pub exit: Option<CaseLog>,
    pub raw_stderr: String,
}

impl Transcript {
    pub fn case(&self, name: &str) -> &CaseLog {
        self.cases.iter().find(|c| c.name == name).unwrap_or_else(|| {
            panic!("case {name} has no @@case marker on stderr (the fixture died?)\nstderr:\n{}", self.raw_stderr)
        })
    }

    /// Every event of the run, wherever it was.
    pub fn all_events(&self) -> impl Iterator<Item = &Event> {
        std::iter::once(&self.startup).chain(&self.cases).chain(self.exit.iter()).flat_map(|c| c.events.iter())
    }
}

/// Splits a fixture's stderr into start-up, cases and exit. Every line that
/// contains the event prefix must decode: lines are never torn.
pub fn split_cases(stderr: &str) -> (CaseLog, Vec<CaseLog>, Option<CaseLog>) {
    let mut startup = CaseLog { name: "<startup>".into(), ..CaseLog::default() };
    let mut cases: Vec<CaseLog> = Vec::new();
    let mut exit: Option<CaseLog> = None;
    for line in stderr.lines() {
        let current = if let Some(e) = exit.as_mut() {
            e
        } else if let Some(c) = cases.last_mut() {
            c
        } else {
            &mut startup
        };
        if let Some(name) = line.strip_prefix("@@case ") {
            cases.push(CaseLog { name: name.to_owned(), ..CaseLog::default() });
        } else if line == "@@done" {
            exit = Some(CaseLog { name: "<exit>".into(), ..CaseLog::default() });
        } else if let Some(at) = line.find(PREFIX) {
            let ev = rampart_event::decode(&line[at..])
                .unwrap_or_else(|e| panic!("torn or invalid event line {line:?}: {e:?}\nstderr:\n{stderr}"));
            current.events.push(ev);
            if at > 0 {
                current.text.push_str(&line[..at]);
                current.text.push('\n');
            }
        } else {
            current.text.push_str(line);
            current.text.push('\n');
        }
    }
    (startup, cases, exit)
}

/// Runs a fixture to completion (killing its whole process group after
/// `timeout`: a deadlock must fail the test, not hang it) and splits its
/// output by case.
pub fn run_fixture(cmd: &mut Command, timeout: Duration) -> Transcript {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    let drain = |mut r: Box<dyn Read + Send>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
        rx
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if start.elapsed() > timeout {
            kill_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // A process the fixture left behind may hold the pipes open: wait a
    // little, not forever.
    let grace = if status.is_some() { timeout } else { Duration::from_secs(2) };
    let stdout = out.recv_timeout(grace).unwrap_or_else(|_| "<stdout still open>".into());
    let raw_stderr = err.recv_timeout(grace).unwrap_or_else(|_| "<stderr still open>".into());
    let wall = start.elapsed();
    let Some(status) = status else {
        panic!("fixture timed out after {timeout:?} (deadlock?)\nstdout:\n{stdout}\nstderr:\n{raw_stderr}");
    };
    let (startup, cases, exit) = split_cases(&raw_stderr);
    Transcript { code: status.code(), wall, stdout, startup, cases, exit, raw_stderr }
}

/// Kills every process of the group `pgid` one by one (a `kill` of the
/// negative group id is not reliable in every sandbox).
fn kill_group(pgid: u32) {
    let Ok(dir) = std::fs::read_dir("/proc") else { return };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid pgrp ...: comm may contain spaces, so count from the last ')'.
        let pgrp = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<u32>().ok());
        if pgrp == Some(pgid) {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        }
    }
}

/// An expected event line.
#[derive(Clone, Debug)]
pub struct Want {
    pub kind: EventType,
    pub cat: Category,
    pub target: String,
    pub access: Option<Access>,
    /// Checked when set.
    pub argv: Option<Vec<String>>,
    /// Checked when set.
    pub pid: Option<u32>,
}

impl Want {
    pub fn file(kind: EventType, target: impl Into<String>, access: &str) -> Want {
        let access = Some(Access::parse(access).expect("access is r, w or rw"));
        Want { kind, cat: Category::File, target: target.into(), access, argv: None, pid: None }
    }

    pub fn net(kind: EventType, target: impl Into<String>) -> Want {
        Want { kind, cat: Category::Network, target: target.into(), access: None, argv: None, pid: None }
    }

    pub fn process(kind: EventType, target: impl Into<String>) -> Want {
        Want { kind, cat: Category::Process, target: target.into(), access: None, argv: None, pid: None }
    }

    pub fn argv(mut self, argv: &[&str]) -> Want {
        self.argv = Some(argv.iter().map(|s| s.to_string()).collect());
        self
    }

    pub fn pid(mut self, pid: u32) -> Want {
        self.pid = Some(pid);
        self
    }

    fn matches(&self, e: &Event) -> bool {
        e.kind == self.kind
            && e.cat == Some(self.cat)
            && e.target.as_deref() == Some(self.target.as_str())
            && !e.cut
            && (self.cat != Category::File || e.access == self.access)
            && self.argv.as_ref().is_none_or(|a| e.argv.as_ref() == Some(a))
            && self.pid.is_none_or(|p| e.pid == p)
    }
}

/// One event as a short line for failure messages.
pub fn show(e: &Event) -> String {
    let mut s = format!("{} {} {}", e.kind, e.cat.map_or("-", |c| c.as_str()), e.target.as_deref().unwrap_or("-"),);
    if let Some(a) = e.access {
        s.push_str(&format!(" access={a}"));
    }
    if let Some(argv) = &e.argv {
        s.push_str(&format!(" argv={argv:?}"));
    }
    if let Some(m) = &e.msg {
        s.push_str(&format!(" msg={m:?}"));
    }
    s.push_str(&format!(" pid={} op={}", e.pid, e.op.as_deref().unwrap_or("-")));
    s
}

/// Asserts that the case wrote exactly these decision lines, in this order
/// (status lines aside): nothing denied or reported beyond what is expected.
pub fn assert_events(case: &CaseLog, want: &[Want]) {
    let got = case.decisions();
    let ok = got.len() == want.len() && got.iter().zip(want).all(|(e, w)| w.matches(e));
    assert!(
        ok,
        "case {}: event lines differ\nwant:\n{}\ngot:\n{}\nother stderr:\n{}",
        case.name,
        want.iter().map(|w| format!("  {w:?}")).collect::<Vec<_>>().join("\n"),
        got.iter().map(|e| format!("  {}", show(e))).collect::<Vec<_>>().join("\n"),
        case.text
    );
}

/// Asserts that no line of the run is a decision of `kinds` outside the
/// cases (start-up and exit), and that there is no `error` line anywhere.
pub fn assert_quiet_outside_cases(t: &Transcript, kinds: &[EventType]) {
    let errors: Vec<String> = t.all_events().filter(|e| e.kind == EventType::Error).map(show).collect();
    assert!(errors.is_empty(), "error lines:\n{}", errors.join("\n"));
    for log in std::iter::once(&t.startup).chain(t.exit.iter()) {
        let bad: Vec<String> = log.events.iter().filter(|e| kinds.contains(&e.kind)).map(show).collect();
        assert!(bad.is_empty(), "{}: unexpected event lines:\n{}\nstderr:\n{}", log.name, bad.join("\n"), log.text);
    }
}
