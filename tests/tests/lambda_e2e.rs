//! The whole loop of the product, for each runtime family, under AWS's
//! Runtime Interface Emulator with the real runtime interface clients
//! (tests/src/rie.rs, fixtures in tests/runtimes/lambda/) and the layer in a
//! temporary `opt/rampart/` (tests/src/layer.rs), its wrapper in front of the
//! runtime's command as Lambda's bootstrap puts `AWS_LAMBDA_EXEC_WRAPPER`:
//!
//! 1. **Profile**: no `RAMPART_POLICY`, two cold starts. The function is fed
//!    by a queue and an API: SQS-shaped and API-Gateway-shaped events (the
//!    fixtures run their honest behaviour for any event without their
//!    flags), one of which fails on purpose (a function error is honest
//!    behaviour too).
//! 2. **Learn**: the emulator's output (the function's log) goes through
//!    `rampart learn`; the policy allows exactly those two input sources, the
//!    one peer and what the honest handler touched, nothing of what the
//!    compromised one does. Then the few rules of [`hand_rules`] (`rampart
//!    policy allow`: what the test needs, and what learn cannot learn yet —
//!    names made of the process id) and `rampart policy mode FILE block`.
//! 3. **Block**: a new emulator (a cold start) with `RAMPART_POLICY` set to
//!    the file (and, for Python, again with the policy pushed to a real S3
//!    server and `RAMPART_POLICY=s3://...`):
//!    - honest events give the results they gave before, with no alert,
//!      block or error line anywhere;
//!    - the compromised event (an SQS batch that turns the handler) is
//!      denied `/proc/self/environ`, the credentials file, the unknown peer
//!      and `/bin/sh`: the runtime's own permission errors in the result, a
//!      `block` line with the invocation's request id for each;
//!    - events of sources the policy does not allow (an SNS batch, a direct
//!      invoke) end with the `Rampart.InputDenied` error document and never
//!      reach the handler (none of its side effects happen), and the next
//!      event runs in the same warm process;
//!    - (Python) a handler that switches rampart off in its environment and
//!      runs `/bin/cat` on the credentials with it, and with `env={}`, is
//!      still denied, in itself and in both children;
//!    - every invocation ends with one `status` heartbeat carrying its
//!      request id and its counts.
//!
//! One test per runtime, so the four run in parallel.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rampart_event::{Event, EventType};
use rampart_policy::Category;
use rampart_tests::layer::Layer;
use rampart_tests::rampart_bin;
use rampart_tests::rie::{CREDENTIALS, Function, Invocation, Rie, Runtime, Targets, new_request_id};
use rampart_tests::runtimes_common::TempDir;
use rampart_tests::s3s::S3Server;
use serde_json::Value;

/// The honest actions, in the order the fixtures run them.
const HONEST: [&str; 3] = ["config", "tmp", "peer"];
/// What the compromised variant does after them.
const EVIL: [&str; 4] = ["environ", "credentials", "unknown", "spawn"];

/// An SQS batch of one message (the shape of the Lambda guide's sample),
/// with `extra` top-level fields (`"evil": true, ` ...) for the fixture.
fn sqs(extra: &str) -> String {
    format!(
        r#"{{{extra}"Records":[{{"messageId":"059f36b4-87a3-44ab-83d2-661975830a7d","receiptHandle":"AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a","body":"order 1042","attributes":{{"ApproximateReceiveCount":"1","SentTimestamp":"1545082649183"}},"messageAttributes":{{}},"md5OfBody":"e4e68fb7bd0e697a0ae8f1bb342846b3","eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:123456789012:orders","awsRegion":"us-east-1"}}]}}"#
    )
}

/// A REST API proxy integration's event.
const APIGW: &str = r#"{"resource":"/orders","path":"/orders","httpMethod":"POST","headers":{"content-type":"application/json"},"queryStringParameters":null,"requestContext":{"accountId":"123456789012","apiId":"1234567890","resourcePath":"/orders","httpMethod":"POST","requestId":"c6af9ac6-7b61-11e6-9a41-93e8deadbeef","stage":"prod"},"body":"{\"order\":1042}","isBase64Encoded":false}"#;

/// An SNS notification: a source the function was never fed by.
const SNS: &str = r#"{"Records":[{"EventSource":"aws:sns","EventVersion":"1.0","EventSubscriptionArn":"arn:aws:sns:us-east-1:123456789012:topic:0b6941c3","Sns":{"Type":"Notification","MessageId":"95df01b4-ee98-5cb9-9903-4c221d41eb5e","TopicArn":"arn:aws:sns:us-east-1:123456789012:topic","Subject":"hi","Message":"hello"}}]}"#;

/// A direct invocation carrying the compromised variant: refused at the
/// door, its exfiltration must never happen.
const DIRECT_EVIL: &str = r#"{"evil": true}"#;

/// The sources the profile phase feeds the function, as the policy names them.
const LEARNED_SOURCES: [&str; 2] = ["aws:apigateway", "aws:sqs"];

/// Everything one runtime's run needs, kept across the phases: the same
/// task root, peers and credentials file, so that what was learned is what
/// the protected function reaches.
struct Fixture {
    runtime: Runtime,
    function: Function,
    targets: Targets,
    layer: Layer,
    /// Logs and policies.
    work: TempDir,
}

impl Fixture {
    fn new(runtime: Runtime) -> Fixture {
        Fixture {
            runtime,
            function: Function::new(runtime),
            targets: Targets::new(),
            layer: Layer::new(),
            work: TempDir::new(&format!("lambda-e2e-{}", runtime.name())),
        }
    }

    fn name(&self) -> &'static str {
        self.runtime.name()
    }

    /// Starts the emulator with the wrapper in front of the runtime's
    /// command, as Lambda does with `AWS_LAMBDA_EXEC_WRAPPER`.
    fn start(&self, extra_env: &[(String, String)]) -> Rie {
        let mut cmd = vec![self.layer.wrapper().to_string_lossy().into_owned()];
        cmd.extend(self.function.command());
        let mut env = self.function.env();
        env.extend(self.targets.env());
        env.extend_from_slice(extra_env);
        Rie::start(self.function.task_root(), &cmd, &env)
    }

    /// The scratch file the honest handler writes.
    fn out_file(&self) -> PathBuf {
        self.targets.tmp().join(format!("{}-out.json", self.name()))
    }

    /// Runs `rampart ARGS` and returns its stdout; fails the test on a
    /// non-zero exit.
    fn rampart(&self, args: &[&str], env: &[(String, String)]) -> String {
        let mut cmd = Command::new(rampart_bin());
        cmd.args(args).current_dir(self.work.path());
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("RAMPART_") || k.starts_with("AWS_") || k == "LD_PRELOAD" {
                cmd.env_remove(&*k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap_or_else(|e| panic!("cannot run rampart: {e}"));
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert!(out.status.success(), "rampart {args:?} failed:\n{}{}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    }
}

/// An invocation's result document, checked against what every result has.
fn result(rie: &Rie, inv: &Invocation, runtime: Runtime) -> Value {
    let context = || format!("{inv:#?}\nemulator log:\n{}", rie.log_lines().join("\n"));
    assert_eq!(inv.status, 200, "{}", context());
    let v: Value =
        serde_json::from_str(&inv.body).unwrap_or_else(|e| panic!("result is not JSON ({e}): {}", context()));
    assert_eq!(v["runtime"], runtime.name(), "{}", context());
    assert_eq!(v["request_id"], inv.request_id.as_str(), "the runtime saw another request id: {}", context());
    assert!(v["pid"].as_u64().is_some_and(|p| p > 1), "{}", context());
    v
}

/// Asserts that an honest result has the honest actions, each `"ok"`, and
/// the fixture's greeting.
fn assert_honest(v: &Value, runtime: Runtime) {
    assert_eq!(v["evil"], false, "{v}");
    assert_eq!(v["greeting"], format!("hello from the {} fixture", runtime.name()), "{v}");
    let actions = v["actions"].as_object().unwrap_or_else(|| panic!("no actions: {v}"));
    let mut got: Vec<&str> = actions.keys().map(String::as_str).collect();
    got.sort_unstable();
    let mut want = HONEST.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{v}");
    for name in HONEST {
        assert_eq!(actions[name], "ok", "action {name} failed: {v}");
    }
}

/// The error document of a `{"fail": true}` invocation.
fn assert_function_error(inv: &Invocation) {
    assert_eq!(inv.status, 200, "{inv:#?}");
    let doc: Value = serde_json::from_str(&inv.body).unwrap_or_else(|e| panic!("error document ({e}): {inv:#?}"));
    assert_eq!(doc["errorMessage"], "fixture failure requested", "{inv:#?}");
}

/// What the emulator has printed so far, once every request in `ids` has
/// its heartbeat (or after a few seconds): a heartbeat is written when the
/// API has taken the response, so it may come just after the emulator's
/// `REPORT` line.
fn settled(rie: &Rie, ids: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines = rie.output_lines();
        let events = rampart_tests::rie::events_in(&lines);
        if ids.iter().all(|id| !heartbeats(&events, id).is_empty()) || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The `invocation end` status lines of request `id`.
fn heartbeats<'a>(events: &'a [Event], id: &str) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|e| {
            e.kind == EventType::Status
                && e.req.as_deref() == Some(id)
                && e.msg.as_deref().is_some_and(|m| m.starts_with("invocation end ("))
        })
        .collect()
}

/// A heartbeat's outcome and counts:
/// `invocation end (OUTCOME): allowed A, alerted B, blocked C`.
#[derive(Debug, PartialEq, Eq)]
struct Heartbeat {
    outcome: String,
    allowed: u64,
    alerted: u64,
    blocked: u64,
}

/// The one heartbeat of request `id`, parsed.
fn heartbeat(events: &[Event], id: &str, dump: &dyn Fn() -> String) -> Heartbeat {
    let found = heartbeats(events, id);
    assert_eq!(found.len(), 1, "request {id} must have exactly one heartbeat: {found:#?}\n{}", dump());
    let msg = found[0].msg.as_deref().unwrap_or_default();
    let parse = || -> Option<Heartbeat> {
        let rest = msg.strip_prefix("invocation end (")?;
        let (outcome, counts) = rest.split_once("): ")?;
        let mut n = counts.split(", ").map(|part| part.rsplit_once(' ').and_then(|(_, n)| n.parse().ok()));
        let (allowed, alerted, blocked) = (n.next()??, n.next()??, n.next()??);
        counts.starts_with("allowed ").then(|| Heartbeat { outcome: outcome.to_owned(), allowed, alerted, blocked })
    };
    parse().unwrap_or_else(|| panic!("unreadable heartbeat {msg:?}"))
}

/// Lines of `kind` and `cat` for request `id`.
fn lines_of<'a>(events: &'a [Event], kind: EventType, cat: Category, id: &str) -> Vec<&'a Event> {
    events.iter().filter(|e| e.kind == kind && e.cat == Some(cat) && e.req.as_deref() == Some(id)).collect()
}

// ---------------------------------------------------------------------------
// The phases.

/// What the profile phase saw: the results of the honest events (by event
/// name) and the emulator's whole output.
struct Profiled {
    results: BTreeMap<&'static str, Value>,
    output: Vec<String>,
}

/// Phase 1: the function fed by its two sources, with the layer in profile
/// mode (no policy), over two cold starts as a function in service has many:
/// what a runtime names after its process id (.NET's debugger pipes in
/// /tmp, the JVM's perf data) is then learned as a pattern, not as the
/// first process's names.
fn profile(fx: &Fixture) -> Profiled {
    let runtime = fx.runtime;
    let sqs_event = sqs("");
    let fail_event = sqs(r#""fail": true, "#);
    let first = [
        ("sqs", sqs_event.as_str()),
        ("apigateway", APIGW),
        ("sqs again", sqs_event.as_str()),
        ("fail", fail_event.as_str()),
    ];
    let second = [("sqs", sqs_event.as_str()), ("apigateway", APIGW)];
    let mut results = BTreeMap::new();
    let mut output = Vec::new();
    let mut pids = Vec::new();
    for (cold_start, plan) in [&first[..], &second[..]].into_iter().enumerate() {
        let rie = fx.start(&[]);
        let mut ids = Vec::new();
        let mut pid = None;
        for &(name, event) in plan {
            let inv = rie.invoke(event);
            if name == "fail" {
                assert_function_error(&inv);
            } else {
                let v = result(&rie, &inv, runtime);
                assert_honest(&v, runtime);
                assert!(pid.is_none_or(|p| p == v["pid"]), "the runtime restarted: {v}");
                pid = Some(v["pid"].clone());
                if cold_start == 0 {
                    results.insert(name, v);
                }
            }
            ids.push((name, inv.request_id));
        }
        pids.push(pid);
        assert!(fx.targets.unknown.received().is_empty(), "the honest function reached the unknown peer");

        let id_refs: Vec<&str> = ids.iter().map(|(_, id)| id.as_str()).collect();
        let lines = settled(&rie, &id_refs);
        drop(rie);
        let events = rampart_tests::rie::events_in(&lines);
        let dump = || lines.join("\n");
        let bad: Vec<&Event> = events
            .iter()
            .filter(|e| matches!(e.kind, EventType::Block | EventType::Alert | EventType::Error))
            .collect();
        assert!(bad.is_empty(), "profile mode blocked, alerted or failed: {bad:#?}\n{}", dump());
        // Each event's source is profiled (the first sighting in this
        // process) with its request id.
        for (source, id) in [("aws:sqs", &ids[0].1), ("aws:apigateway", &ids[1].1)] {
            let seen = lines_of(&events, EventType::Profile, Category::Input, id);
            assert!(
                seen.iter().any(|e| e.target.as_deref() == Some(source) && e.op.as_deref() == Some("invoke")),
                "no profile line for input {source} with request id {id}: {seen:#?}\n{}",
                dump()
            );
        }
        for (name, id) in &ids {
            let hb = heartbeat(&events, id, &dump);
            let outcome = if *name == "fail" { "error" } else { "response" };
            assert_eq!((hb.outcome.as_str(), hb.alerted, hb.blocked), (outcome, 0, 0), "{name}: {hb:?}\n{}", dump());
        }
        output.extend(lines);
    }
    assert_ne!(pids[0], pids[1], "the second run was not a cold start");
    Profiled { results, output }
}

/// Phase 2: `rampart learn` on the function's log, checked, then the rules
/// of [`hand_rules`] and block mode. Returns the policy file.
fn learn(fx: &Fixture, profiled: &Profiled) -> PathBuf {
    let log = fx.work.path().join("profile.log");
    std::fs::write(&log, profiled.output.join("\n") + "\n").expect("write the log");
    let policy = fx.work.path().join("policy.json");
    let policy_s = policy.to_string_lossy().into_owned();
    fx.rampart(&["learn", "-o", &policy_s, &log.to_string_lossy()], &[]);

    let text = std::fs::read_to_string(&policy).expect("read the learned policy");
    let shown = || format!("learned policy:\n{text}\nfrom:\n{}", profiled.output.join("\n"));
    let learned = rampart_policy::Policy::parse(&text).unwrap_or_else(|e| panic!("invalid policy ({e}): {}", shown()));
    assert_eq!(learned.mode, rampart_policy::Mode::Alert, "a new policy is in alert mode: {}", shown());
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {}", shown()));
    let rules = |cat: &str| -> Vec<String> {
        doc["allow"][cat].as_array().map_or_else(Vec::new, |a| {
            a.iter().map(|r| r.as_str().unwrap_or_else(|| panic!("{r}: {}", shown())).to_owned()).collect()
        })
    };
    let mut input = rules("input");
    input.sort_unstable();
    assert_eq!(input, LEARNED_SOURCES, "input rules: exactly the sources seen; {}", shown());
    let (file, network, process) = (rules("file"), rules("network"), rules("process"));
    let task = fx.function.task_root().to_string_lossy().into_owned();
    assert!(
        file.iter().any(|r| r.starts_with('r') && r.ends_with(&format!("{task}/config.json"))),
        "no rule for config.json: {}",
        shown()
    );
    let out = fx.out_file().to_string_lossy().into_owned();
    assert!(file.iter().any(|r| r.contains('w') && r.ends_with(&out)), "no rule for the scratch file: {}", shown());
    // The one service the function talks to (the Runtime API is the
    // layer's business, never a rule).
    assert_eq!(network, [fx.targets.peer.addr()], "network rules: {}", shown());
    // The honest handlers start no program.
    assert_eq!(process, Vec::<String>::new(), "process rules: {}", shown());
    // Nothing of what only the compromised variant does.
    let creds = fx.targets.credentials().to_string_lossy().into_owned();
    for rule in &file {
        assert!(
            !rule.contains("environ") && !rule.contains(&creds) && !rule.contains("**"),
            "learned from the honest runs, yet allows {rule:?}: {}",
            shown()
        );
    }

    let hand = hand_rules(fx);
    for (category, rule) in &hand {
        fx.rampart(&["policy", "allow", &policy_s, category, rule], &[]);
    }
    fx.rampart(&["policy", "mode", &policy_s, "block"], &[]);
    let text = std::fs::read_to_string(&policy).expect("read the policy");
    let enforced = rampart_policy::Policy::parse(&text).unwrap_or_else(|e| panic!("invalid policy ({e}):\n{text}"));
    assert_eq!(enforced.mode, rampart_policy::Mode::Block, "{text}");
    assert_eq!(enforced.counts().iter().sum::<usize>(), learned.counts().iter().sum::<usize>() + hand.len(), "{text}");
    eprintln!(
        "{}: learned {} file, {} network, {} process rules, input {input:?}; {} added by hand",
        fx.name(),
        file.len(),
        network.len(),
        process.len(),
        hand.len()
    );
    policy
}

/// Rules added to the learned policy by hand (`rampart policy allow`, as
/// the README's loop has it), by category: what the honest runs never did
/// but the test needs allowed — `/bin/cat` for the tamper event, the JDK's
/// `jspawnhelper` so the shell it would start is what is decided on (as
/// "Notes per runtime" advises). Names made of the process id, which change
/// at every cold start, need nothing by hand: the library says its own
/// `/proc/<pid>` as `/proc/self`, and learn turns the JVM's
/// `/tmp/hsperfdata_USER/<pid>` and .NET's
/// `/tmp/clr-debug-pipe-<pid>-<start>-in` into globs.
fn hand_rules(fx: &Fixture) -> Vec<(&'static str, String)> {
    match fx.runtime {
        Runtime::Python => {
            let cat = std::fs::canonicalize("/bin/cat").expect("/bin/cat");
            vec![("process", cat.to_string_lossy().into_owned())]
        }
        Runtime::Node => Vec::new(),
        Runtime::Java => vec![("process", jspawnhelper(&fx.function).to_string_lossy().into_owned())],
        Runtime::Dotnet => Vec::new(),
    }
}

/// What phase 3 expects of one invocation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// Honest: the result the profile phase got for the event it names.
    Honest(&'static str),
    /// The handler fails on purpose.
    FunctionError,
    /// The compromised variant.
    Evil,
    /// Refused at the door (`aws:sns`, `direct`).
    Refused(&'static str),
    /// The Python tamper event.
    Tamper,
}

/// Phase 3: the protected function. `env` says where the policy is.
fn enforce(fx: &Fixture, profiled: &Profiled, env: &[(String, String)], location: &str, label: &str) {
    let runtime = fx.runtime;
    let name = fx.name();
    let started = Instant::now();
    let rie = fx.start(env);
    let sqs_event = sqs("");
    let evil_event = sqs(r#""evil": true, "#);
    let fail_event = sqs(r#""fail": true, "#);
    let tamper_event = sqs(r#""tamper": true, "#);
    let mut plan: Vec<(&str, &str, Expect)> = vec![
        ("sqs", &sqs_event, Expect::Honest("sqs")),
        ("apigateway", APIGW, Expect::Honest("apigateway")),
        ("sqs again", &sqs_event, Expect::Honest("sqs")),
        ("fail", &fail_event, Expect::FunctionError),
        ("evil", &evil_event, Expect::Evil),
        ("sns", SNS, Expect::Refused("aws:sns")),
        ("after sns", &sqs_event, Expect::Honest("sqs")),
        ("direct", DIRECT_EVIL, Expect::Refused("direct")),
        ("after direct", APIGW, Expect::Honest("apigateway")),
    ];
    if runtime == Runtime::Python {
        plan.push(("tamper", &tamper_event, Expect::Tamper));
        plan.push(("after tamper", &sqs_event, Expect::Honest("sqs")));
    }

    let mut pid: Option<u64> = None;
    let mut done: Vec<(&str, Expect, Invocation)> = Vec::new();
    for (what, event, expect) in plan {
        // Side effects the handler leaves, to tell whether it ran.
        let pings = fx.targets.peer.received().len();
        let exfils = fx.targets.unknown.received().len();
        let out_before = std::fs::read_to_string(fx.out_file()).ok();
        let inv = rie.invoke_as(event, &new_request_id());
        let context = || format!("{label}: {name} {what}: {inv:#?}\nemulator log:\n{}", rie.log_lines().join("\n"));
        let value = match expect {
            Expect::Honest(baseline) => {
                let v = result(&rie, &inv, runtime);
                assert_honest(&v, runtime);
                // The same result as without protection, but for the ids.
                let before = &profiled.results[baseline];
                for field in ["runtime", "evil", "greeting", "actions"] {
                    assert_eq!(v[field], before[field], "{field} differs from the profile run: {}", context());
                }
                assert_eq!(fx.targets.peer.received().len(), pings + 1, "{}", context());
                Some(v)
            }
            Expect::FunctionError => {
                assert_function_error(&inv);
                None
            }
            Expect::Evil => {
                let v = result(&rie, &inv, runtime);
                assert_eq!(v["evil"], true, "{}", context());
                let actions = &v["actions"];
                for action in HONEST {
                    assert_eq!(actions[action], "ok", "honest action {action} failed: {}", context());
                }
                for action in EVIL {
                    let text = actions[action].as_str().unwrap_or_else(|| panic!("no {action}: {}", context()));
                    assert!(
                        permission_error(runtime, action, text),
                        "{action} should fail with {name}'s permission error, got {text:?}: {}",
                        context()
                    );
                }
                Some(v)
            }
            Expect::Refused(source) => {
                assert_eq!(inv.status, 200, "{}", context());
                let doc: Value =
                    serde_json::from_str(&inv.body).unwrap_or_else(|e| panic!("error document ({e}): {}", context()));
                let message = format!("rampart: events from {source} are not allowed by this function's policy");
                assert_eq!(doc["errorType"], "Rampart.InputDenied", "{}", context());
                assert_eq!(doc["errorMessage"], message.as_str(), "{}", context());
                // The handler never ran: no ping, no exfiltration, no scratch file.
                assert_eq!(fx.targets.peer.received().len(), pings, "the handler ran: {}", context());
                assert_eq!(fx.targets.unknown.received().len(), exfils, "the handler ran: {}", context());
                assert_eq!(std::fs::read_to_string(fx.out_file()).ok(), out_before, "the handler ran: {}", context());
                None
            }
            Expect::Tamper => {
                let v = result(&rie, &inv, runtime);
                assert_eq!(v["tamper"], true, "{}", context());
                let read = v["actions"]["read"].as_str().unwrap_or_default();
                assert!(permission_error(runtime, "credentials", read), "read after tampering: {}", context());
                for run in ["inherited", "empty"] {
                    let cat = &v["cat"][run];
                    assert_ne!(cat["code"], 0, "/bin/cat ({run} environment) read the credentials: {}", context());
                    assert!(
                        cat["stderr"].as_str().is_some_and(|s| s.contains("Permission denied")),
                        "/bin/cat ({run} environment): {}",
                        context()
                    );
                    assert!(
                        !cat["stdout"].as_str().unwrap_or_default().contains("fixture-secret"),
                        "/bin/cat ({run}) printed the secret: {}",
                        context()
                    );
                }
                Some(v)
            }
        };
        if let Some(v) = &value {
            let this = v["pid"].as_u64();
            assert!(pid.is_none() || this == pid, "the runtime restarted (pid {this:?}, was {pid:?}): {}", context());
            pid = this;
        }
        done.push((what, expect, inv));
    }
    assert_eq!(fx.targets.unknown.received(), Vec::<String>::new(), "the unknown peer got data");
    let pid = pid.expect("a result");
    let elapsed = started.elapsed();

    // The log: every line carries the request id of its invocation.
    let ids: Vec<&str> = done.iter().map(|(_, _, inv)| inv.request_id.as_str()).collect();
    let output = settled(&rie, &ids);
    drop(rie);
    let events = rampart_tests::rie::events_in(&output);
    let dump = || format!("{label}: {name}:\n{}", output.join("\n"));
    // The runtime started under the policy, before any invocation.
    let start = format!("started: mode block, policy {location}");
    assert!(
        events.iter().any(|e| e.kind == EventType::Status
            && e.req.is_none()
            && u64::from(e.pid) == pid
            && e.msg.as_deref().is_some_and(|m| m.starts_with(&start))),
        "no `{start}` line from the runtime: {}",
        dump()
    );
    // Init's lines have no request id; once the first event arrived, every
    // line has one of the invocations' ids.
    let first = events.iter().position(|e| e.req.is_some()).unwrap_or(events.len());
    let wrong: Vec<&Event> =
        events[first..].iter().filter(|e| !e.req.as_deref().is_some_and(|r| ids.contains(&r))).collect();
    assert!(wrong.is_empty(), "lines without the request id of an invocation: {wrong:#?}\n{}", dump());
    let ends = events.iter().filter(|e| e.msg.as_deref().is_some_and(|m| m.starts_with("invocation end ("))).count();
    assert_eq!(ends, ids.len(), "one heartbeat per invocation: {}", dump());
    let alerts_errors: Vec<&Event> =
        events.iter().filter(|e| matches!(e.kind, EventType::Alert | EventType::Error)).collect();
    assert!(alerts_errors.is_empty(), "alert or error lines: {alerts_errors:#?}\n{}", dump());
    let blocking: Vec<&str> = done
        .iter()
        .filter(|(_, expect, _)| matches!(expect, Expect::Evil | Expect::Refused(_) | Expect::Tamper))
        .map(|(_, _, inv)| inv.request_id.as_str())
        .collect();
    let stray: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == EventType::Block && !e.req.as_deref().is_some_and(|r| blocking.contains(&r)))
        .collect();
    assert!(stray.is_empty(), "block lines outside the compromised invocations: {stray:#?}\n{}", dump());

    let credentials = fx.targets.credentials().to_string_lossy().into_owned();
    let unknown = fx.targets.unknown.addr();
    for (what, expect, inv) in &done {
        let id = inv.request_id.as_str();
        let hb = heartbeat(&events, id, &dump);
        let blocks: Vec<&Event> =
            events.iter().filter(|e| e.kind == EventType::Block && e.req.as_deref() == Some(id)).collect();
        let context = || format!("{what} ({id}): heartbeat {hb:?}, blocks {blocks:#?}\n{}", dump());
        match expect {
            Expect::Honest(_) | Expect::FunctionError => {
                let outcome = if *expect == Expect::FunctionError { "error" } else { "response" };
                assert_eq!(hb.outcome, outcome, "{}", context());
                assert_eq!((hb.alerted, hb.blocked), (0, 0), "{}", context());
                // At least the event's own input check.
                assert!(hb.allowed >= 1, "{}", context());
            }
            Expect::Evil => {
                assert_eq!(hb.outcome, "response", "{}", context());
                let file = |pred: &dyn Fn(&str) -> bool| {
                    blocks.iter().any(|e| {
                        e.cat == Some(Category::File) && e.target.as_deref().is_some_and(pred) && e.pid as u64 == pid
                    })
                };
                assert!(
                    file(&|t| t.starts_with("/proc/") && t.ends_with("/environ")),
                    "/proc/self/environ: {}",
                    context()
                );
                assert!(file(&|t| t == credentials), "the credentials: {}", context());
                assert!(
                    blocks.iter().any(|e| e.cat == Some(Category::Network)
                        && e.target.as_deref().is_some_and(|t| t.ends_with(&unknown))
                        && e.pid as u64 == pid),
                    "the unknown peer: {}",
                    context()
                );
                // From the runtime, or from the child it forked (.NET) or
                // the JDK's helper, which exec the program.
                assert!(
                    blocks.iter().any(|e| e.cat == Some(Category::Process)
                        && e.target.as_deref() == Some(shell().as_str())
                        && e.argv.as_deref().is_some_and(|a| a.first().is_some_and(|a0| a0 == "/bin/sh"))),
                    "/bin/sh: {}",
                    context()
                );
                assert!(hb.blocked >= 4 && hb.blocked >= blocks.len() as u64, "{}", context());
                assert_eq!(hb.alerted, 0, "{}", context());
            }
            Expect::Refused(source) => {
                assert_eq!(hb.outcome, "refused", "{}", context());
                assert_eq!(blocks.len(), 1, "only the input is blocked: {}", context());
                let b = blocks[0];
                assert_eq!(
                    (b.cat, b.op.as_deref(), b.target.as_deref(), b.pid as u64),
                    (Some(Category::Input), Some("invoke"), Some(*source), pid),
                    "{}",
                    context()
                );
                assert_eq!((hb.allowed, hb.alerted, hb.blocked), (0, 0, 1), "{}", context());
            }
            Expect::Tamper => {
                assert_eq!(hb.outcome, "response", "{}", context());
                let creds: Vec<&&Event> = blocks
                    .iter()
                    .filter(|e| e.cat == Some(Category::File) && e.target.as_deref() == Some(credentials.as_str()))
                    .collect();
                let mut children: Vec<u32> = creds.iter().map(|e| e.pid).filter(|&p| u64::from(p) != pid).collect();
                children.dedup();
                assert!(creds.iter().any(|e| u64::from(e.pid) == pid), "its own read: {}", context());
                assert_eq!(children.len(), 2, "a block line from each /bin/cat: {}", context());
                assert!(hb.blocked >= 3, "{}", context());
            }
        }
    }
    // The credentials were never changed, and never left.
    assert_eq!(std::fs::read_to_string(fx.targets.credentials()).expect("credentials"), CREDENTIALS);
    eprintln!("{label}: {name}: {} invocations in {elapsed:?} (cold start included)", done.len());
}

/// Whether an action's outcome is the runtime's own error for `EACCES`.
fn permission_error(runtime: Runtime, action: &str, text: &str) -> bool {
    match runtime {
        // PermissionError: `[Errno 13] Permission denied: '/proc/self/environ'`.
        Runtime::Python => text.contains("[Errno 13] Permission denied"),
        // `EACCES: permission denied, open ...`, `connect EACCES ...`, `spawnSync /bin/sh EACCES`.
        Runtime::Node => text.contains("EACCES"),
        Runtime::Java => match action {
            // java.nio.file.AccessDeniedException, whose message is the path.
            "environ" => text == "/proc/self/environ",
            "credentials" => text.ends_with("/credentials"),
            // BindException `Permission denied` (the JDK maps EACCES so);
            // IOException `Cannot run program "/bin/sh": error=13, Permission denied`.
            _ => text.contains("Permission denied"),
        },
        // UnauthorizedAccessException `Access to the path ... is denied.`,
        // SocketException (AccessDenied) and Win32Exception: `Permission denied`.
        Runtime::Dotnet => text.contains("is denied") || text.contains("Permission denied"),
    }
}

/// `JAVA_HOME/lib/jspawnhelper` of the `java` the function runs.
fn jspawnhelper(function: &Function) -> PathBuf {
    let java = PathBuf::from(&function.command()[0]);
    let helper = java.parent().and_then(Path::parent).map(|home| home.join("lib/jspawnhelper"));
    helper.filter(|h| h.is_file()).unwrap_or_else(|| panic!("no lib/jspawnhelper beside {}", java.display()))
}

/// The program `/bin/sh` really is (the library decides on real paths).
fn shell() -> String {
    std::fs::canonicalize("/bin/sh").expect("/bin/sh").to_string_lossy().into_owned()
}

/// Phase 3 again with the policy in S3, as a function is configured in AWS.
fn enforce_from_s3(fx: &Fixture, profiled: &Profiled, policy: &Path) {
    let s3 = S3Server::start();
    s3.create_bucket("policies");
    let location = format!("s3://policies/{}", fx.name());
    let pushed = fx.rampart(&["policy", "push", &policy.to_string_lossy(), &location], &s3.env());
    assert!(pushed.contains("policies"), "{pushed}");
    let stored = std::fs::read(s3.object_path("policies", &format!("{}/policy.json", fx.name()))).expect("pushed");
    assert_eq!(stored, std::fs::read(policy).expect("policy"));
    let mut env = s3.env();
    env.push(("RAMPART_POLICY".into(), location.clone()));
    enforce(fx, profiled, &env, &location, "s3");
}

fn lifecycle(runtime: Runtime) {
    let started = Instant::now();
    let fx = Fixture::new(runtime);
    let profiled = profile(&fx);
    let profile_time = started.elapsed();
    let policy = learn(&fx, &profiled);
    let env = vec![("RAMPART_POLICY".to_owned(), policy.to_string_lossy().into_owned())];
    enforce(&fx, &profiled, &env, &policy.to_string_lossy(), "file");
    if runtime == Runtime::Python {
        enforce_from_s3(&fx, &profiled, &policy);
    }
    eprintln!("{}: profile {profile_time:?}, whole loop {:?}", fx.name(), started.elapsed());
}

#[test]
fn python_profile_learn_block() {
    lifecycle(Runtime::Python);
}

#[test]
fn node_profile_learn_block() {
    lifecycle(Runtime::Node);
}

#[test]
fn java_profile_learn_block() {
    lifecycle(Runtime::Java);
}

#[test]
fn dotnet_profile_learn_block() {
    lifecycle(Runtime::Dotnet);
}
