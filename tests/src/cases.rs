//! Runs a program that performs several test cases in one process (one JVM,
//! one .NET runtime: starting them per case would cost seconds) and tells
//! which event lines each case caused.
//!
//! The program writes one result line per case to stderr, starting with
//! `{"case":`. rampart writes a `block` line to stderr before the denied call
//! returns, so the event lines of case N are exactly those between the
//! result lines of cases N-1 and N.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rampart_event::{Event, EventType, PREFIX};
use rampart_policy::{Access, Category};

use crate::{Outcome, outcome};

/// How a case's result line starts.
pub const CASE_PREFIX: &str = "{\"case\":";

/// The line a program prints once it is running, before its first case.
pub const START: &str = "{\"case\":\"_start\"}";

/// One case: its result line (JSON, decoded by the suite), the event lines
/// and the other stderr lines written while it ran.
#[derive(Debug)]
pub struct Case {
    pub line: String,
    pub events: Vec<Event>,
    /// stderr lines that are neither event lines nor result lines (e.g.
    /// what a child program printed).
    pub stderr: Vec<String>,
}

/// A whole run split by case.
#[derive(Debug)]
pub struct CaseRun {
    /// The process id of the command (`rampart run` execs the program, so
    /// it is the program's too).
    pub pid: u32,
    pub outcome: Outcome,
    /// Event lines before the first case (the runtime starting).
    pub startup: Vec<Event>,
    pub startup_stderr: Vec<String>,
    pub cases: Vec<Case>,
    /// Event lines after the last case (the runtime exiting).
    pub trailing: Vec<Event>,
    pub trailing_stderr: Vec<String>,
}

/// Runs `cmd` (no stdin), killing it after `timeout` — a hook that deadlocks
/// must fail the suite, not hang it — and splits its stderr by case.
pub fn run_cases(cmd: &mut Command, timeout: Duration) -> CaseRun {
    let (pid, out) = output_with_timeout(cmd, timeout);
    split(pid, out)
}

/// Splits a finished run's stderr by case. The program's first result line
/// is [`START`], printed before the first case, so the runtime's own
/// startup lines are not counted as the first case's.
pub fn split(pid: u32, out: Output) -> CaseRun {
    let raw = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut startup = None;
    let mut cases = Vec::new();
    let mut events = Vec::new();
    let mut stderr = Vec::new();
    for line in raw.lines() {
        // An event line may follow output the program wrote without a newline.
        if let Some(at) = line.find(PREFIX) {
            // `outcome` below panics with the whole stderr on a torn line.
            if let Ok(ev) = rampart_event::decode(&line[at..]) {
                events.push(ev);
            }
            if at > 0 {
                stderr.push(line[..at].to_owned());
            }
        } else if line.starts_with(START) && startup.is_none() {
            startup = Some((std::mem::take(&mut events), std::mem::take(&mut stderr)));
        } else if line.starts_with(CASE_PREFIX) {
            cases.push(Case {
                line: line.to_owned(),
                events: std::mem::take(&mut events),
                stderr: std::mem::take(&mut stderr),
            });
        } else {
            stderr.push(line.to_owned());
        }
    }
    let outcome = outcome(out);
    let (startup, startup_stderr) =
        startup.unwrap_or_else(|| panic!("the program never printed {START}: {outcome:#?}"));
    CaseRun { pid, outcome, startup, startup_stderr, cases, trailing: events, trailing_stderr: stderr }
}

/// `cmd.output()` with a deadline; also returns the child's pid.
pub fn output_with_timeout(cmd: &mut Command, timeout: Duration) -> (u32, Output) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let pid = child.id();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = t_err.join().unwrap_or_default();
            panic!(
                "{:?} did not finish within {timeout:?} (deadlock?); killed. stderr:\n{}",
                cmd.get_program(),
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (pid, Output { status, stdout: t_out.join().unwrap_or_default(), stderr: t_err.join().unwrap_or_default() })
}

/// Asserts that `events` (a case's) are exactly one `block` line for
/// `target` in `cat`, with `access` for files, written by process `pid`.
pub fn assert_blocked(
    what: &str,
    events: &[Event],
    cat: Category,
    target: &str,
    access: Option<Access>,
    pid: Option<u32>,
) {
    let [ev] = events else {
        panic!("{what}: expected exactly one block line for {cat} {target}, got {}: {events:#?}", events.len());
    };
    assert_eq!(ev.kind, EventType::Block, "{what}: {ev:#?}");
    assert_eq!(ev.cat, Some(cat), "{what}: {ev:#?}");
    assert_eq!(ev.target.as_deref(), Some(target), "{what}: {ev:#?}");
    assert_eq!(ev.access, access, "{what}: {ev:#?}");
    assert!(!ev.cut, "{what}: target cut: {ev:#?}");
    if let Some(pid) = pid {
        assert_eq!(ev.pid, pid, "{what}: written by another process: {ev:#?}");
    }
}

/// Asserts that a case (or the runtime's startup) wrote no line but
/// `status` ones: nothing was denied or reported, no policy error.
pub fn assert_quiet(what: &str, events: &[Event]) {
    let loud: Vec<&Event> = events.iter().filter(|e| e.kind != EventType::Status).collect();
    assert!(loud.is_empty(), "{what}: expected no block/alert/profile/error line, got {loud:#?}");
}

/// Every connection waiting on `listener` (taken without blocking) and
/// what its peer sent before closing: tells whether a denied connect
/// reached a listener and which program an allowed one came from.
pub fn accepted(listener: &TcpListener) -> Vec<Vec<u8>> {
    listener.set_nonblocking(true).expect("nonblocking listener");
    let mut conns = Vec::new();
    while let Ok((mut s, _)) = listener.accept() {
        s.set_nonblocking(false).expect("blocking stream");
        s.set_read_timeout(Some(Duration::from_secs(2))).expect("read timeout");
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        conns.push(buf);
    }
    conns
}
