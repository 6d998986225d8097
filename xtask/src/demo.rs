//! `cargo xtask demo`: the whole loop on a real Lambda runtime, locally.
//!
//! A Python function runs under AWS's Runtime Interface Emulator with the
//! real runtime client (awslambdaric) and rampart's exec wrapper in front,
//! its policy location an S3 folder (s3s-fs on loopback, which checks every
//! signature) with nothing in it yet. Then: profile → learn → push a block
//! policy → the same warm function picks it up, runs clean, and a
//! compromised request is stopped action by action, with its request id.
//!
//! The function and the emulator harness are the end-to-end suites' own
//! (tests/runtimes/lambda/python, `rampart_tests::rie`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rampart_event::{Event, EventType};
use rampart_tests::layer::Layer;
use rampart_tests::rie::{Function, Rie, Runtime, Targets};
use rampart_tests::s3s::S3Server;

use crate::runtimes;
use crate::util::{cargo, paint, run, show};

const BUCKET: &str = "rampart-demo";
const LOCATION: &str = "s3://rampart-demo/orders";

const SQS_EVENT: &str = r#"{"Records":[{"eventSource":"aws:sqs","messageId":"m-1","body":"order 42"}]}"#;
const API_EVENT: &str = r#"{"resource":"/orders","path":"/orders","httpMethod":"POST","requestContext":{"apiId":"a1b2c3","resourcePath":"/orders","httpMethod":"POST"},"body":"{}"}"#;
const EVIL_EVENT: &str = r#"{"evil":true,"Records":[{"eventSource":"aws:sqs","messageId":"m-2","body":"order 43"}]}"#;
const DIRECT_EVENT: &str = r#"{"hello":"from somewhere else"}"#;

fn section(n: usize, title: &str, sentence: &str) {
    println!("\n{}", paint("1;35", &format!("── {n}. {title} ──")));
    println!("{}", paint("2", sentence));
}

fn say(text: &str) {
    println!("   {text}");
}

pub fn main(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!("demo: unknown arguments {args:?} (it takes none)"));
    }
    let started = Instant::now();
    section(1, "Build", "the `rampart` command, librampart.so and the fetcher it loads in the runtime process");
    let mut build = cargo();
    build.args(["build", "-p", "rampart-cli", "-p", "rampart-preload", "-p", "rampart-fetch"]);
    println!("{}", paint("1", &format!("$ {}", show(&build))));
    run(&mut build)?;

    section(2, "Set up", "AWS's Lambda emulator, the Python runtime client and a local S3, installed only if missing");
    runtimes::ensure_demo()?;
    // The harness reports problems by panicking (it is the test suites');
    // here they become one error line.
    std::panic::catch_unwind(the_loop).map_err(|e| {
        let why = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        format!("the demo stopped: {why}")
    })?;
    println!(
        "\n{}",
        paint(
            "1;32",
            &format!("Done in {:.1} s: profiled, learned, pushed, enforced.", started.elapsed().as_secs_f64())
        )
    );
    Ok(())
}

fn the_loop() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let layer = Layer::new();
    let function = Function::new(Runtime::Python);
    let targets = Targets::new();
    let work = tempfile_dir();
    let mut env: Vec<(String, String)> = s3.env();
    env.extend(targets.env());
    env.extend(function.env());
    env.extend([
        ("AWS_LAMBDA_EXEC_WRAPPER".to_owned(), layer.wrapper().display().to_string()),
        ("RAMPART_POLICY".to_owned(), LOCATION.to_owned()),
        ("RAMPART_REFRESH_SECS".to_owned(), "1".to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME".to_owned(), "orders".to_owned()),
    ]);
    let mut cmd = vec![layer.wrapper().display().to_string()];
    cmd.extend(function.command());
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let cmd_refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let rie = Rie::start(function.task_root(), &cmd_refs, &env_refs);

    section(
        3,
        "Profile",
        "the function `orders` (Python 3.11, awslambdaric) starts through the wrapper; there is no policy at \
         s3://rampart-demo/orders yet, so every distinct activity is written once as a profile line",
    );
    let mut profile = Vec::new();
    for (what, event) in [("an SQS message", SQS_EVENT), ("an API Gateway request", API_EVENT)] {
        let inv = rie.invoke(event);
        say(&format!("invoke with {what}: HTTP {}, request {}", inv.status, short(&inv.request_id)));
        profile.extend(inv.lines.iter().cloned());
    }
    let started = rie.events().into_iter().find(|e| e.kind == EventType::Status);
    if let Some(msg) = started.and_then(|e| e.msg) {
        say(&paint("2", &format!("status: {msg}")));
    }
    let seen: Vec<Event> = rie.events().into_iter().filter(|e| e.kind == EventType::Profile).collect();
    say(&format!("{} profile lines, for example:", seen.len()));
    for e in seen.iter().filter(|e| e.req.is_some()).take(6) {
        say(&paint("36", &format!("  {}", describe(e))));
    }

    section(
        4,
        "Learn and push",
        "`rampart learn` turns the lines into a reviewable allowlist; it goes to S3 in block mode",
    );
    let log = work.path().join("orders.log");
    std::fs::write(&log, rie.output_lines().join("\n")).expect("write the log");
    let policy = work.path().join("policy.json");
    cli(&env, &["learn", "-o", &policy.display().to_string(), &log.display().to_string()]);
    cli(&env, &["policy", "mode", &policy.display().to_string(), "block"]);
    cli(&env, &["policy", "push", &policy.display().to_string(), LOCATION]);

    section(
        5,
        "Enforce",
        "the running function picks the policy up within RAMPART_REFRESH_SECS (1 s here), without a redeploy",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let changed = loop {
        let found = rie.events().into_iter().find_map(|e| e.msg.filter(|m| m.starts_with("policy changed")));
        if let Some(m) = found {
            break m;
        }
        assert!(Instant::now() < deadline, "the function did not pick up the pushed policy");
        std::thread::sleep(Duration::from_millis(50));
    };
    say(&paint("2", &format!("status: {changed}")));
    let inv = rie.invoke(SQS_EVENT);
    let bad: Vec<&Event> = inv
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventType::Alert | EventType::Block | EventType::Error))
        .collect();
    assert!(bad.is_empty(), "the honest request was not clean: {bad:#?}");
    say(&format!("the honest SQS request again: HTTP {}, no alert, no block", inv.status));
    for e in inv.events.iter().filter(|e| e.kind == EventType::Status) {
        say(&paint("2", &format!("heartbeat: {}", e.msg.as_deref().unwrap_or(""))));
    }

    section(6, "Attack", "a compromised request, and an event from a source the function never had");
    let inv = rie.invoke(EVIL_EVENT);
    say(&format!("invoke with a poisoned SQS message: HTTP {}, request {}", inv.status, short(&inv.request_id)));
    if let Ok(result) = serde_json::from_str::<serde_json::Value>(&inv.body)
        && let Some(actions) = result.get("actions").and_then(|a| a.as_object())
    {
        for (action, outcome) in actions {
            let outcome = outcome.as_str().unwrap_or("?");
            let style = if outcome == "ok" { "33" } else { "32" };
            say(&format!("  {action}: {}", paint(style, outcome)));
        }
    }
    for e in inv.events.iter().filter(|e| e.kind == EventType::Block) {
        say(&paint("1;31", &format!("  blocked: {} (req {})", describe(e), short(e.req.as_deref().unwrap_or("-")))));
    }
    let inv = rie.invoke(DIRECT_EVENT);
    say(&format!("invoke directly with {DIRECT_EVENT}: HTTP {}", inv.status));
    say(&paint("1;31", &format!("  the caller gets: {}", inv.body.trim())));
    for e in inv.events.iter().filter(|e| e.kind == EventType::Block) {
        say(&paint("1;31", &format!("  blocked: {} (req {})", describe(e), short(e.req.as_deref().unwrap_or("-")))));
    }
    drop(rie);
}

/// One event line, the way a person reads it.
fn describe(e: &Event) -> String {
    let cat = e.cat.map_or("-", |c| c.as_str());
    let access = e.access.map(|a| format!("{a} ")).unwrap_or_default();
    format!("{cat} {access}{}", e.target.as_deref().unwrap_or(""))
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn cli(env: &[(String, String)], args: &[&str]) {
    let mut cmd = Command::new(rampart_tests::rampart_bin());
    cmd.args(args).envs(env.iter().map(|(k, v)| (k, v)));
    println!("{}", paint("1", &format!("$ rampart {}", args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" "))));
    let out = cmd.output().expect("run rampart");
    print!("{}", indent(&condense(&String::from_utf8_lossy(&out.stdout))));
    print!("{}", indent(&condense(&String::from_utf8_lossy(&out.stderr))));
    assert!(out.status.success(), "rampart {args:?} failed");
}

fn quote(arg: &str) -> String {
    let home = std::env::temp_dir();
    Path::new(arg).strip_prefix(&home).map_or(arg.to_owned(), |p| format!("$TMP/{}", p.display()))
}

/// `learn`'s list of added rules with at most a few per category (the
/// interpreter's own files are most of them).
fn condense(text: &str) -> String {
    const SHOWN: usize = 4;
    let mut out = String::new();
    let mut in_category = 0;
    for line in text.lines() {
        let rule = line.starts_with("    ");
        if rule {
            in_category += 1;
            if in_category == SHOWN + 1 {
                out.push_str("    …\n");
            }
            if in_category > SHOWN {
                continue;
            }
        } else {
            in_category = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   {l}\n")).collect()
}

fn tempfile_dir() -> rampart_tests::runtimes_common::TempDir {
    rampart_tests::runtimes_common::TempDir::new("demo")
}
