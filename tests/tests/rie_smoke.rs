//! The Lambda harness itself (tests/src/rie.rs): each fixture function
//! (tests/runtimes/lambda/) under AWS's Runtime Interface Emulator with its
//! runtime's real runtime interface client (our own loop for .NET), first
//! unprotected, then with `rampart run --mode profile --` in front of the
//! runtime command, where Lambda's bootstrap puts the wrapper.
//!
//! Unprotected, every action of the honest and the compromised variant
//! succeeds (so the protected suites know a denial is rampart's doing), the
//! runtime stays warm across invocations (same process) and a function error
//! comes back as the error document. In profile mode the same holds and the
//! library reports what the compromised variant did.
//!
//! Needs the emulator and the runtime clients: `cargo xtask test` installs
//! them (xtask/src/runtimes.rs).

use std::time::Duration;

use rampart_event::{Event, EventType};
use rampart_policy::Category;
use rampart_tests::rie::{CREDENTIALS, Function, Invocation, Rie, Runtime, Targets};
use rampart_tests::{rampart_bin, rampart_lib};
use serde_json::Value;

/// The honest actions, in the order the fixtures run them.
const HONEST: [&str; 3] = ["config", "tmp", "peer"];
/// What the compromised variant does after them.
const EVIL: [&str; 4] = ["environ", "credentials", "unknown", "spawn"];
/// Warm no-op invocations per run.
const NOOPS: usize = 20;

/// Starts the emulator with `prefix` in front of the runtime's command.
fn start(function: &Function, targets: &Targets, prefix: &[String], extra_env: &[(String, String)]) -> Rie {
    let mut cmd = prefix.to_vec();
    cmd.extend(function.command());
    let mut env = function.env();
    env.extend(targets.env());
    env.extend_from_slice(extra_env);
    Rie::start(function.task_root(), &cmd, &env)
}

/// The invocation's result document, checked against what every result has.
fn result(rie: &Rie, inv: &Invocation, runtime: Runtime) -> Value {
    let context = || format!("{inv:#?}\nemulator log:\n{}", rie.log_lines().join("\n"));
    assert_eq!(inv.status, 200, "{}", context());
    let v: Value =
        serde_json::from_str(&inv.body).unwrap_or_else(|e| panic!("result is not JSON ({e}): {}", context()));
    assert_eq!(v["runtime"], runtime.name(), "{}", context());
    assert_eq!(v["request_id"], inv.request_id.as_str(), "the runtime saw another request id: {}", context());
    assert_eq!(v["greeting"], format!("hello from the {} fixture", runtime.name()), "{}", context());
    assert!(v["pid"].as_u64().is_some_and(|p| p > 1), "{}", context());
    // The emulator's lines frame the invocation's output.
    assert!(inv.lines.first().is_some_and(|l| l.starts_with("START RequestId: ")), "{}", context());
    assert!(inv.lines.last().is_some_and(|l| l.starts_with("REPORT RequestId: ")), "{}", context());
    v
}

/// Asserts that the result has exactly `names` as actions, each `"ok"`.
fn assert_all_ok(v: &Value, names: &[&str]) {
    let actions = v["actions"].as_object().unwrap_or_else(|| panic!("no actions: {v}"));
    // serde_json's map is sorted by key.
    let mut want = names.to_vec();
    want.sort_unstable();
    let got: Vec<&str> = actions.keys().map(String::as_str).collect();
    assert_eq!(got, want, "{v}");
    for name in names {
        assert_eq!(actions[*name], "ok", "action {name} failed: {v}");
    }
}

fn all_actions() -> Vec<&'static str> {
    HONEST.iter().chain(&EVIL).copied().collect()
}

/// Honest, compromised, honest again (warm), a function error, once more and
/// a series of no-ops: all in one runtime process. Returns the runtime's pid
/// and the first five invocations.
fn exercise(rie: &Rie, targets: &Targets, runtime: Runtime) -> (u64, Vec<Invocation>) {
    let name = runtime.name();
    let honest = rie.invoke("{}");
    let v = result(rie, &honest, runtime);
    assert_eq!(v["evil"], false, "{v}");
    assert_all_ok(&v, &HONEST);
    let pid = v["pid"].as_u64().unwrap();
    assert_eq!(targets.peer.received(), [format!("ping {name}")]);
    assert!(targets.unknown.received().is_empty(), "the honest function reached the unknown peer");
    let written = std::fs::read_to_string(targets.tmp().join(format!("{name}-out.json"))).expect("the scratch file");
    assert!(written.contains(&honest.request_id), "{written}");

    let evil = rie.invoke(r#"{"evil": true}"#);
    let v = result(rie, &evil, runtime);
    assert_eq!(v["evil"], true, "{v}");
    assert_all_ok(&v, &all_actions());
    assert_eq!(v["pid"], pid, "the runtime was restarted between two invocations");
    assert_eq!(targets.unknown.wait_received(1, Duration::from_secs(5)), [format!("exfil {name}")]);

    let warm = rie.invoke("{}");
    let v = result(rie, &warm, runtime);
    assert_all_ok(&v, &HONEST);
    assert_eq!(v["pid"], pid, "the runtime was restarted between two invocations");
    assert_eq!(targets.peer.received().len(), 3, "{:?}", targets.peer.received());

    let fail = rie.invoke(r#"{"fail": true}"#);
    assert_eq!(fail.status, 200, "{fail:#?}");
    let doc: Value = serde_json::from_str(&fail.body).unwrap_or_else(|e| panic!("error document ({e}): {fail:#?}"));
    assert_eq!(doc["errorMessage"], "fixture failure requested", "{fail:#?}");

    let after = rie.invoke("{}");
    let v = result(rie, &after, runtime);
    assert_all_ok(&v, &HONEST);
    assert_eq!(v["pid"], pid, "a function error restarted the runtime");

    // Warm invocations that do nothing: the floor the overhead numbers sit on.
    let mut noop: Vec<Duration> = (0..NOOPS)
        .map(|_| {
            let inv = rie.invoke(r#"{"noop": true}"#);
            assert_eq!(inv.status, 200, "{inv:#?}");
            let v: Value = serde_json::from_str(&inv.body).unwrap_or_else(|e| panic!("{e}: {inv:#?}"));
            assert_eq!(v["noop"], true, "{v}");
            assert_eq!(v["request_id"], inv.request_id.as_str(), "{v}");
            assert_eq!(v["pid"], pid, "{v}");
            inv.elapsed
        })
        .collect();
    noop.sort_unstable();
    eprintln!(
        "{name}: cold invoke {:?}, warm honest {:?}, evil {:?}, after an error {:?}, noop median {:?} of {NOOPS}",
        honest.elapsed,
        warm.elapsed,
        evil.elapsed,
        after.elapsed,
        noop[NOOPS / 2]
    );
    (pid, vec![honest, evil, warm, fail, after])
}

fn unprotected(runtime: Runtime) {
    let function = Function::new(runtime);
    let targets = Targets::new();
    let rie = start(&function, &targets, &[], &[]);
    let (_, invocations) = exercise(&rie, &targets, runtime);
    for inv in &invocations {
        assert!(inv.events.is_empty(), "event lines without rampart: {inv:#?}");
    }
    let stopped = rie.stop();
    assert!(stopped.events.is_empty(), "event lines without rampart: {:#?}", stopped.events);
    assert_eq!(std::fs::read_to_string(targets.credentials()).unwrap(), CREDENTIALS);
}

/// Profile lines of `cat` in `events` whose target satisfies `pred`.
fn profiled(events: &[Event], cat: Category, pred: impl Fn(&str) -> bool) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| e.kind == EventType::Profile && e.cat == Some(cat) && e.target.as_deref().is_some_and(&pred))
        .collect()
}

fn profile(runtime: Runtime) {
    let function = Function::new(runtime);
    let targets = Targets::new();
    let prefix: Vec<String> = vec![
        rampart_bin().to_string_lossy().into_owned(),
        "run".into(),
        "--mode".into(),
        "profile".into(),
        "--".into(),
    ];
    let mut env = vec![("RAMPART_LIB".to_owned(), rampart_lib().to_string_lossy().into_owned())];
    // What the wrapper adds for Node (libuv's io_uring would bypass the hooks).
    if runtime == Runtime::Node {
        env.push(("UV_USE_IO_URING".into(), "0".into()));
    }
    let rie = start(&function, &targets, &prefix, &env);
    let (pid, invocations) = exercise(&rie, &targets, runtime);
    let all = rie.events();
    let dump = || format!("{all:#?}\noutput:\n{}", rie.output_lines().join("\n"));
    assert!(all.iter().any(|e| e.kind == EventType::Profile), "no profile line at all: {}", dump());
    let bad: Vec<&Event> = all.iter().filter(|e| matches!(e.kind, EventType::Block | EventType::Alert)).collect();
    assert!(bad.is_empty(), "profile mode blocked or alerted: {bad:#?}");
    // What only the compromised variant does is reported while it runs, by
    // the runtime process (a first sighting in this process).
    let evil = &invocations[1].events;
    let credentials = targets.credentials().to_string_lossy().into_owned();
    let unknown = targets.unknown.addr();
    for (what, found) in [
        ("the credentials file", profiled(evil, Category::File, |t| t == credentials)),
        ("/proc/self/environ", profiled(evil, Category::File, |t| t.starts_with("/proc/") && t.ends_with("/environ"))),
        ("the unknown peer", profiled(evil, Category::Network, |t| t.contains(&unknown))),
        ("/bin/sh", profiled(evil, Category::Process, |t| t.ends_with("sh"))),
    ] {
        assert!(!found.is_empty(), "no profile line for {what} during the compromised invocation: {}", dump());
        if what != "/bin/sh" {
            assert!(found.iter().all(|e| u64::from(e.pid) == pid), "{what} reported by another process: {found:#?}");
        }
    }
    drop(rie);
}

#[test]
fn python_unprotected() {
    unprotected(Runtime::Python);
}

#[test]
fn node_unprotected() {
    unprotected(Runtime::Node);
}

#[test]
fn java_unprotected() {
    unprotected(Runtime::Java);
}

#[test]
fn dotnet_unprotected() {
    unprotected(Runtime::Dotnet);
}

#[test]
fn python_profile() {
    profile(Runtime::Python);
}

#[test]
fn node_profile() {
    profile(Runtime::Node);
}

#[test]
fn java_profile() {
    profile(Runtime::Java);
}

#[test]
fn dotnet_profile() {
    profile(Runtime::Dotnet);
}

/// A runtime that fails its init: the invocation answers 502 and the harness
/// reports it instead of hanging; the next invocation starts it again.
///
/// It waits a little before exiting: a runtime that exits within a few
/// milliseconds of its start can crash the emulator itself ("Unable to find
/// an exitedChannel for 'runtime-1'", a race in its process bookkeeping).
#[test]
fn runtime_that_exits_answers_502() {
    let task = Function::new(Runtime::Python);
    let cmd = ["/bin/sh", "-c", "echo init failed >&2; sleep 0.2; exit 3"];
    let rie = Rie::start(task.task_root(), &cmd, &[] as &[(&str, &str)]);
    for _ in 0..2 {
        let inv = rie.invoke("{}");
        assert_eq!(inv.status, 502, "{inv:#?}");
        assert!(inv.lines.iter().any(|l| l == "init failed"), "{inv:#?}");
    }
    let log = rie.log_lines().join("\n");
    assert!(log.contains("exit status 3"), "{log}");
    assert!(!rie.exited(), "the emulator crashed: {log}");
    let stopped = rie.stop();
    assert!(stopped.status.is_some(), "the emulator had to be killed");
}

/// The emulator would take its own options out of the bootstrap command.
#[test]
#[should_panic(expected = "which the emulator would take as its own option")]
fn emulator_options_in_the_command_are_refused() {
    let task = Function::new(Runtime::Python);
    Rie::start(task.task_root(), &["/bin/true", "--log-level=debug"], &[] as &[(&str, &str)]);
}
