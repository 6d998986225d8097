//! Stress: 8 threads of one C process (tests/runtimes/c/stress.c) under
//! `rampart run` in block mode for 10 s (`RAMPART_STRESS_SECS` to change
//! it), each looping over an allowed open+read+close, a denied open, a
//! connect to an allowed loopback listener and to a denied port, and an
//! allowed (/bin/true) and a denied launch, alternating posix_spawn and
//! fork+execv.
//!
//! Asserts: the process exits 0 within the duration + 30 s (else it is
//! killed and the test fails: a crash or a deadlock), every line on stderr
//! is a whole event line that decodes, there is one block line per denial
//! the program counted itself (by kind and target), no allowed call failed,
//! and nothing reached the denied listener.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rampart_event::EventType::{Block, Status};
use rampart_event::PREFIX;
use rampart_policy::{Access, Category};
use rampart_tests::cprog;
use rampart_tests::runtimes_common::{Sandbox, TempDir, base_file_rules, policy_json, realpath, run_fixture};
use rampart_tests::{rampart_run, write_policy};
use serde_json::Value;

const THREADS: u32 = 8;
const DEFAULT_SECS: u64 = 10;

/// A loopback listener that accepts (and drops) connections in the
/// background until dropped, counting them: the stress program's connects
/// must never wait on a full backlog.
struct Acceptor {
    port: u16,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Acceptor {
    fn new() -> Acceptor {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let port = l.local_addr().expect("local_addr").port();
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (count.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok(_) => {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        Acceptor { port, count, stop, thread: Some(thread) }
    }

    fn accepted(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn secs() -> u64 {
    match std::env::var("RAMPART_STRESS_SECS") {
        Ok(v) => {
            v.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| panic!("RAMPART_STRESS_SECS={v}: not a number > 0"))
        }
        Err(_) => DEFAULT_SECS,
    }
}

#[test]
fn eight_threads_opening_connecting_and_spawning_in_block_mode() {
    let secs = secs();
    let dir = cprog::suite_dir("preload_stress");
    for sub in ["bin", "deny"] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    let stress = dir.join("bin/stress");
    cprog::compile("stress.c", &stress, &["-O2", "-Wall", "-Wextra", "-Werror", "-pthread"]);
    // The denied program: a copy of true (a link would resolve to the
    // allowed one).
    let truth = realpath("/bin/true");
    let denied = dir.join("deny/denied");
    cprog::install_copy(std::path::Path::new(&truth), &denied);

    let sb = Sandbox::new("stress");
    let ok = Acceptor::new();
    let no = Acceptor::new();
    let mut file = base_file_rules();
    file.extend(sb.rules());
    file.push(format!("r {}/**", dir.display()));
    let policy_dir = TempDir::new("stress-policy");
    let policy = write_policy(
        policy_dir.path(),
        &policy_json("block", &file, &[format!("127.0.0.1:{}", ok.port)], std::slice::from_ref(&truth)),
    );

    let mut cmd = rampart_run(Some(&policy), None);
    cmd.arg(&stress)
        .arg(sb.path(""))
        .arg(&dir)
        .args([ok.port.to_string(), no.port.to_string(), secs.to_string(), THREADS.to_string()])
        .current_dir(sb.root());
    // run_fixture kills the process group and fails after the timeout, and
    // panics on any line that contains the event prefix but does not decode.
    let t = run_fixture(&mut cmd, Duration::from_secs(secs + 30));
    let tail = |s: &str| s.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    assert_eq!(
        t.code,
        Some(0),
        "the stress program failed\nstdout:\n{}\nstderr (tail):\n{}",
        t.stdout,
        tail(&t.raw_stderr)
    );
    let out: Value = serde_json::from_str(t.stdout.trim()).unwrap_or_else(|e| panic!("stdout {:?}: {e}", t.stdout));
    let n = |k: &str| out[k].as_u64().unwrap_or_else(|| panic!("{k} in {out}"));
    eprintln!("stress ({secs} s, {:?} wall): {out}", t.wall);

    assert_eq!(n("allowed_fail"), 0, "allowed calls failed: {out}");
    assert_eq!(n("wrong_denial"), 0, "denied calls did not fail with EACCES: {out}");
    assert!(n("iterations") >= u64::from(THREADS), "too few iterations to mean anything: {out}");
    assert_eq!(no.accepted(), 0, "a denied connect reached the listener");
    assert!(ok.accepted() as u64 >= n("iterations"), "allowed connects: {} for {out}", ok.accepted());

    // Nothing else is written to stderr: every line is a whole event line.
    let stray: Vec<&str> = t.raw_stderr.lines().filter(|l| !l.starts_with(PREFIX)).take(5).collect();
    assert!(stray.is_empty(), "stderr lines that are not whole event lines: {stray:?}");

    let events: Vec<_> = t.all_events().collect();
    let status: Vec<_> = events.iter().filter(|e| e.kind == Status).collect();
    assert!(
        status.len() == 1 && status[0].msg.as_deref().is_some_and(|m| m.starts_with("started: mode block")),
        "want only the start line as status: {status:#?}"
    );
    let others: Vec<_> = events.iter().filter(|e| e.kind != Status && e.kind != Block).take(5).collect();
    assert!(others.is_empty(), "lines other than block and status: {others:#?}");

    let secret = sb.path("secret/x");
    let port = format!("127.0.0.1:{}", no.port);
    let denied_s = denied.display().to_string();
    let (mut open, mut connect, mut spawn, mut forkexec, mut unexpected) = (0u64, 0u64, 0u64, 0u64, Vec::new());
    for e in events.iter().filter(|e| e.kind == Block) {
        let target = e.target.as_deref().unwrap_or("");
        match (e.cat, e.op.as_deref()) {
            (Some(Category::File), Some("open")) if target == secret && e.access == Some(Access::R) => open += 1,
            (Some(Category::Network), Some("connect")) if target == port => connect += 1,
            (Some(Category::Process), Some("posix_spawn")) if target == denied_s => spawn += 1,
            (Some(Category::Process), Some("execv")) if target == denied_s => forkexec += 1,
            _ => unexpected.push(*e),
        }
    }
    assert!(unexpected.is_empty(), "unexpected block lines: {:#?}", &unexpected[..unexpected.len().min(5)]);
    assert_eq!(
        (open, connect, spawn, forkexec),
        (n("denied_open"), n("denied_connect"), n("denied_spawn"), n("denied_forkexec")),
        "block lines (open, connect, posix_spawn, fork+execv) differ from the denials the program counted: {out}"
    );
    assert_eq!(open + connect + spawn + forkexec, n("denied"));
    assert_eq!(sb.snapshot(), sb.initial_snapshot(), "the sandbox changed");
}
