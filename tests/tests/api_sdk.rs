//! The action-level `api` category: the language shims (shims/python,
//! shims/node) in front of the real AWS SDKs — boto3 and the AWS SDK for
//! JavaScript v3 (`@aws-sdk/client-dynamodb`, `@aws-sdk/client-s3`) — with
//! moto's server on loopback as AWS (`AWS_ENDPOINT_URL`), each runtime
//! started through the Lambda exec wrapper from a copy of the layer
//! (`opt/rampart/{wrapper,lib/,python/,node/}`), as Lambda starts it.
//!
//! Checked, for Python and Node.js:
//! - block mode: the allowed calls (`dynamodb:GetItem`, `dynamodb:PutItem`,
//!   `s3:PutObject@allowed-bucket`) work; the denied ones
//!   (`dynamodb:DeleteTable`, `s3:PutObject@other-bucket`,
//!   `s3:ListBuckets`) fail in the process with the SDK's own access-denied
//!   error, one `block` line each, and their requests never reach moto:
//!   moto's request recording has only the allowed calls, the table is
//!   still there and nothing was written to the other bucket;
//! - alert mode: every call goes through, one `alert` line per denied one;
//! - profile mode: one `profile` line per call, and `rampart learn` on
//!   those lines gives exactly those `api` rules, under which block mode
//!   then lets every call through;
//! - the lines' `service` and `bucket` fields;
//! - the shims load nothing when no SDK is used, and an ES-module import
//!   of the SDK is covered too.
//!
//! Needs python3 with boto3 and moto[server], node, and the JavaScript SDK
//! in the cache (`cargo xtask test` installs them:
//! tests/runtimes/api/versions.txt).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use rampart_event::EventType::{self, Alert, Block, Profile};
use rampart_policy::Category;
use rampart_tests::layer::Layer;
use rampart_tests::moto;
use rampart_tests::rie::cache_dir;
use rampart_tests::runtimes_common::TempDir;
use rampart_tests::{Outcome, outcome, rampart_bin, versions_value, write_policy};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/runtimes/api");
const VERSIONS: &str = include_str!("../runtimes/api/versions.txt");

/// What the policy allows, and what it does not, in the order the
/// fixtures make the calls.
const ALLOWED: [&str; 3] = ["dynamodb:GetItem", "dynamodb:PutItem", "s3:PutObject@allowed-bucket"];
const DENIED: [&str; 3] = ["dynamodb:DeleteTable", "s3:PutObject@other-bucket", "s3:ListBuckets"];
const CALLS: [&str; 6] = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteTable",
    "s3:PutObject@other-bucket",
    "s3:PutObject@allowed-bucket",
    "s3:ListBuckets",
];

fn version(key: &str) -> &'static str {
    versions_value("tests/runtimes/api/versions.txt", VERSIONS, key)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Runtime {
    Python,
    Node,
}

impl Runtime {
    /// The object key each fixture writes.
    fn key(self) -> &'static str {
        match self {
            Runtime::Python => "from-python",
            Runtime::Node => "from-node",
        }
    }
}

/// The real python3 (not pyenv's shim script in front of it).
fn python() -> &'static str {
    static PY: OnceLock<String> = OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import os, sys; print(os.path.realpath(sys.executable))"])
            .output()
            .unwrap_or_else(|e| panic!("python3 is not on PATH ({e})"));
        let exe = text(&out.stdout).trim().to_owned();
        assert!(out.status.success() && !exe.is_empty(), "python3: {}", text(&out.stderr));
        let probe = Command::new(&exe).args(["-c", "import boto3, moto.server"]).output().expect("python3");
        assert!(
            probe.status.success(),
            "boto3 and moto[server] are required (cargo xtask test installs them): {}",
            text(&probe.stderr)
        );
        exe
    })
}

fn node() -> &'static str {
    static NODE: OnceLock<String> = OnceLock::new();
    NODE.get_or_init(|| {
        let out = Command::new("node")
            .args(["-e", "console.log(require('fs').realpathSync(process.execPath))"])
            .output()
            .unwrap_or_else(|e| panic!("node is not on PATH ({e})"));
        text(&out.stdout).trim().to_owned()
    })
}

/// The JavaScript SDK's node_modules in the cache (xtask/src/runtimes.rs,
/// `ensure_api_sdks`).
fn sdk_js() -> PathBuf {
    let name = format!("aws-sdk-js-{}-{}", version("AWS_SDK_JS_S3_VERSION"), version("AWS_SDK_JS_DYNAMODB_VERSION"));
    let dir = cache_dir().join(name).join("node_modules");
    assert!(
        dir.join("@aws-sdk/client-s3/package.json").is_file() && dir.join("@aws-sdk/client-dynamodb").is_dir(),
        "{} is missing: `cargo xtask test` installs the AWS SDK for JavaScript there",
        dir.display()
    );
    dir
}

/// moto's server on a loopback port (tests/src/moto.rs) with its request
/// recording on, set up by moto_state.py; killed on drop.
struct Moto {
    server: moto::Moto,
}

impl Moto {
    fn start() -> Moto {
        let moto = Moto { server: moto::Moto::start_recording() };
        let out = moto.aws(Command::new(python()).arg(Path::new(FIXTURES).join("moto_state.py")).arg("setup")).output();
        let out = out.expect("moto_state.py setup");
        assert!(out.status.success(), "setup: {}{}", text(&out.stderr), moto.server.log());
        moto.take_requests();
        moto
    }

    /// `cmd` talking to this server, with made-up credentials and no
    /// configuration of the machine's (profiles, other endpoints).
    fn aws<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("AWS_") {
                cmd.env_remove(&*k);
            }
        }
        cmd.env("AWS_ENDPOINT_URL", self.server.endpoint())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
    }

    /// What moto holds now: `{"tables", "items", "objects": {bucket: keys}}`.
    fn state(&self) -> serde_json::Value {
        let mut cmd = Command::new(python());
        let out = self.aws(cmd.arg(Path::new(FIXTURES).join("moto_state.py")).arg("state")).output().expect("state");
        assert!(out.status.success(), "state: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("state {}: {e}", text(&out.stdout)))
    }

    /// The requests moto got since the last call, each written as the
    /// target of the call it is (`dynamodb:GetItem`, `s3:PutObject@B`);
    /// the recording starts again empty.
    fn take_requests(&self) -> Vec<String> {
        let recording = self.server.recording();
        let all = std::fs::read_to_string(&recording).unwrap_or_default();
        std::fs::write(&recording, "").expect("reset the recording");
        all.lines()
            .map(|line| {
                let r: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
                let header = |name: &str| {
                    r["headers"].as_object().and_then(|h| {
                        h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str())
                    })
                };
                if let Some(t) = header("x-amz-target") {
                    let action = t.rsplit('.').next().unwrap_or(t);
                    return format!("dynamodb:{action}");
                }
                let method = r["method"].as_str().unwrap_or("?");
                let url = r["url"].as_str().unwrap_or("?");
                let path = url.split_once("://").map_or(url, |(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]));
                let path = path.split('?').next().unwrap_or(path);
                let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|p| !p.is_empty()).collect();
                match (method, parts.as_slice()) {
                    ("GET", []) => "s3:ListBuckets".to_owned(),
                    ("PUT", [bucket, _key, ..]) => format!("s3:PutObject@{bucket}"),
                    _ => format!("s3:{method} {path}"),
                }
            })
            .collect()
    }
}

/// The fixture of `rt` making [`CALLS`], started through the layer's
/// wrapper with `policy` (none: profile mode).
fn run_calls(layer: &Layer, moto: &Moto, rt: Runtime, policy: Option<&Path>) -> Outcome {
    outcome(run_calls_raw(layer, moto, rt, policy))
}

fn run_calls_raw(layer: &Layer, moto: &Moto, rt: Runtime, policy: Option<&Path>) -> Output {
    let mut cmd = Command::new(layer.wrapper());
    match rt {
        Runtime::Python => cmd.arg(python()).arg(Path::new(FIXTURES).join("sdk_calls.py")),
        Runtime::Node => cmd.arg(node()).arg(Path::new(FIXTURES).join("sdk_calls.js")).env("NODE_PATH", sdk_js()),
    };
    cmd.args(CALLS);
    wrapper_env(&mut cmd);
    moto.aws(&mut cmd);
    if let Some(p) = policy {
        cmd.env("RAMPART_POLICY", p);
    }
    cmd.stdin(Stdio::null()).output().expect("run the fixture")
}

/// The environment the wrapper starts from: none of the test's own
/// rampart, preload or shim settings.
fn wrapper_env(cmd: &mut Command) {
    const DROP: [&str; 7] =
        ["LD_PRELOAD", "LD_LIBRARY_PATH", "HOSTTYPE", "PYTHONPATH", "NODE_OPTIONS", "NODE_PATH", "PYTHONSTARTUP"];
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("RAMPART_") || DROP.contains(&&*k) {
            cmd.env_remove(&*k);
        }
    }
    // Node 20 is told the SDK's next releases need Node 22: not our concern.
    cmd.env("NODE_NO_WARNINGS", "1");
}

/// The fixture's answer per call: `TARGET -> rest of its line`; the
/// `hooked` line must say the shim was in place.
fn answers(out: &Outcome) -> Vec<(String, String)> {
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.last().map(|l| l.to_ascii_lowercase()), Some("hooked true".to_owned()), "{out:#?}");
    let calls: Vec<(String, String)> = lines[..lines.len() - 1]
        .iter()
        .map(|l| l.split_once(' ').map(|(t, r)| (t.to_owned(), r.to_owned())).expect("TARGET REST"))
        .collect();
    let targets: Vec<&str> = calls.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(targets, CALLS, "{out:#?}");
    calls
}

/// Checks the denial of `target` is the SDK's access-denied error as a 403
/// from the service would give it, naming rampart.
fn assert_sdk_denial(rt: Runtime, target: &str, answer: &str) {
    let code = if target.starts_with("s3:") { "AccessDenied" } else { "AccessDeniedException" };
    let message = format!("rampart: {target} is not allowed by this function's policy");
    let want = match rt {
        // CODE HTTP_STATUS botocore's-class-for-the-code MESSAGE
        Runtime::Python => format!("denied {code} 403 True {message}"),
        // NAME CODE FAULT STATUS instanceof-the-client's-ServiceException MESSAGE
        Runtime::Node => format!("denied {code} {code} client 403 true {message}"),
    };
    assert_eq!(answer, want, "{rt:?} {target}");
}

fn api_events(out: &Outcome, kind: EventType) -> Vec<&str> {
    out.events
        .iter()
        .filter(|e| e.kind == kind && e.cat == Some(Category::Api))
        .map(|e| {
            // The SDK channel's lines name the open call the shim made
            // (CPython: open64; Node.js: openat), not a connect.
            let op = e.op.as_deref().unwrap_or_default();
            assert!(op.starts_with("open"), "an SDK channel line: {e:?}");
            let target = e.target.as_deref().unwrap_or_default();
            assert_eq!(e.service.as_deref(), target.split(':').next(), "{e:?}");
            assert_eq!(e.bucket.as_deref(), target.split_once('@').map(|(_, b)| b), "{e:?}");
            target
        })
        .collect()
}

/// Everything but `api` allowed, so only the SDK's calls are decided.
fn policy(dir: &Path, mode: &str, api: &[&str]) -> PathBuf {
    let api = api.iter().map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(", ");
    write_policy(
        dir,
        &format!(
            r#"{{"version": 1, "mode": "{mode}", "block": ["api"], "allow": {{
                "file": ["rw /**"], "network": ["*:*", "udp:*:*", "unix:/**"], "process": ["/**"],
                "api": [{api}]}}}}"#
        ),
    )
}

fn block(rt: Runtime) {
    let moto = Moto::start();
    let layer = Layer::with_shims();
    let dir = TempDir::new("api-block");
    let policy = policy(dir.path(), "block", &ALLOWED);
    let out = run_calls(&layer, &moto, rt, Some(&policy));
    out.assert_success();
    for (target, answer) in answers(&out) {
        if DENIED.contains(&target.as_str()) {
            assert_sdk_denial(rt, &target, &answer);
        } else {
            assert_eq!(answer, "ok", "{target}: {out:#?}");
        }
    }
    // Not one request of a denied call reached moto.
    assert_eq!(moto.take_requests(), ALLOWED, "the requests moto got: {out:#?}");
    let state = moto.state();
    assert_eq!(state["tables"], serde_json::json!(["orders"]), "DeleteTable must not have happened");
    assert_eq!(state["items"], serde_json::json!(["1", "2"]), "PutItem happened");
    assert_eq!(state["objects"]["allowed-bucket"], serde_json::json!([rt.key()]));
    assert_eq!(state["objects"]["other-bucket"], serde_json::json!([]), "nothing written to other-bucket");
    // One block line per denied call, before it returned; nothing else.
    assert_eq!(api_events(&out, Block), DENIED, "{out:#?}");
    assert!(api_events(&out, Alert).is_empty(), "{out:#?}");
}

fn alert(rt: Runtime) {
    let moto = Moto::start();
    let layer = Layer::with_shims();
    let dir = TempDir::new("api-alert");
    let policy = policy(dir.path(), "alert", &ALLOWED);
    let out = run_calls(&layer, &moto, rt, Some(&policy));
    out.assert_success();
    for (target, answer) in answers(&out) {
        assert_eq!(answer, "ok", "{target}: {out:#?}");
    }
    assert_eq!(moto.take_requests(), CALLS, "every call reached moto");
    let state = moto.state();
    assert_eq!(state["tables"], serde_json::json!([]), "alert mode lets DeleteTable through");
    assert_eq!(state["objects"]["other-bucket"], serde_json::json!([rt.key()]));
    assert_eq!(api_events(&out, Alert), DENIED, "{out:#?}");
    assert!(api_events(&out, Block).is_empty(), "{out:#?}");
}

fn profile_and_learn(rt: Runtime) {
    let moto = Moto::start();
    let layer = Layer::with_shims();
    let raw = run_calls_raw(&layer, &moto, rt, None);
    let out = outcome(raw.clone());
    out.assert_success();
    for (target, answer) in answers(&out) {
        assert_eq!(answer, "ok", "{target}: {out:#?}");
    }
    let mut profiled = api_events(&out, Profile);
    assert_eq!(profiled, CALLS, "one profile line per call: {out:#?}");

    // `rampart learn` on the lines the run wrote.
    let dir = TempDir::new("api-learn");
    let log = dir.path().join("stderr.log");
    std::fs::write(&log, &raw.stderr).expect("write the log");
    let learned = dir.path().join("learned.json");
    let res = Command::new(rampart_bin()).arg("learn").arg("-o").arg(&learned).arg(&log).output().expect("learn");
    assert!(res.status.success(), "rampart learn: {}", text(&res.stderr));
    let policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&learned).expect("learned")).expect("learned JSON");
    let mut rules: Vec<&str> =
        policy["allow"]["api"].as_array().expect("allow.api").iter().map(|r| r.as_str().expect("a rule")).collect();
    rules.sort_unstable();
    profiled.sort_unstable();
    assert_eq!(rules, profiled, "the learned api rules: {policy:#}");

    // Under the learned api rules in block mode every call goes through
    // (api only: this moto listens on another port).
    let moto = Moto::start();
    let mut block_policy = policy.clone();
    block_policy["mode"] = "block".into();
    block_policy["block"] = serde_json::json!(["api"]);
    std::fs::write(&learned, block_policy.to_string()).expect("write");
    let out = run_calls(&layer, &moto, rt, Some(&learned));
    out.assert_success();
    for (target, answer) in answers(&out) {
        assert_eq!(answer, "ok", "{target}: {out:#?}");
    }
    assert!(api_events(&out, Block).is_empty() && api_events(&out, Alert).is_empty(), "{out:#?}");
}

#[test]
fn python_block_denies_in_process_and_no_request_reaches_aws() {
    block(Runtime::Python);
}

#[test]
fn node_block_denies_in_process_and_no_request_reaches_aws() {
    block(Runtime::Node);
}

#[test]
fn python_alert_lets_every_call_through_with_an_alert_line() {
    alert(Runtime::Python);
}

#[test]
fn node_alert_lets_every_call_through_with_an_alert_line() {
    alert(Runtime::Node);
}

#[test]
fn python_profile_lines_learn_into_the_api_rules() {
    profile_and_learn(Runtime::Python);
}

#[test]
fn node_profile_lines_learn_into_the_api_rules() {
    profile_and_learn(Runtime::Node);
}

/// A process of the runtime through the wrapper, no AWS anywhere.
fn plain(layer: &Layer, args: &[&str]) -> Outcome {
    let mut cmd = Command::new(layer.wrapper());
    cmd.args(args);
    wrapper_env(&mut cmd);
    outcome(cmd.stdin(Stdio::null()).output().expect("run"))
}

#[test]
fn python_shim_imports_nothing_until_botocore_is_imported() {
    let layer = Layer::with_shims();
    let code = "import sys, json\n\
                print(type(sys.modules['sitecustomize'].__spec__.loader).__name__)\n\
                print([type(f).__name__ if not isinstance(f, type) else f.__name__ for f in sys.meta_path][0])\n\
                print(sorted(m for m in sys.modules if 'boto' in m or 'rampart' in m))\n\
                import botocore.client\n\
                print(sorted(m for m in sys.modules if 'rampart' in m), botocore.client.BaseClient._rampart_hooked)\n";
    let out = plain(&layer, &[python(), "-X", "importtime", "-c", code]);
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    // The shim is in place (its finder first on sys.meta_path)...
    assert_eq!(lines.get(1), Some(&"RampartBotocoreFinder"), "{out:#?}");
    // ...but nothing of botocore nor of the hook is loaded until botocore.client is imported.
    assert_eq!(lines.get(2), Some(&"[]"), "{out:#?}");
    assert_eq!(lines.get(3), Some(&"['rampart_botocore'] True"), "{out:#?}");
    // -X importtime: at start (before `import botocore` in the code) the
    // shim imported no module of its own but sitecustomize.
    let start: Vec<&str> = out
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("import time:"))
        .map(|l| l.rsplit('|').next().unwrap_or_default().trim())
        .take_while(|m| *m != "botocore")
        .collect();
    assert!(start.contains(&"sitecustomize"), "{}", out.stderr);
    assert!(!start.iter().any(|m| m.contains("boto") || m.contains("rampart")), "{start:?}");
}

#[test]
fn node_shim_loads_nothing_until_the_sdk_is_required() {
    let layer = Layer::with_shims();
    let code = "const before = Object.keys(require.cache);\n\
                console.log(JSON.stringify(before.map((k) => k.split('/').pop())));\n\
                require('@aws-sdk/client-dynamodb');\n\
                const after = Object.keys(require.cache);\n\
                console.log(after.some((k) => k.includes('/@smithy/core/')), after.length > before.length);\n";
    let modules = sdk_js();
    let mut cmd = Command::new(layer.wrapper());
    cmd.args([node(), "-e", code]).env("NODE_PATH", &modules);
    wrapper_env(&mut cmd);
    let out = outcome(cmd.stdin(Stdio::null()).output().expect("node"));
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    // Only the shim itself was loaded before the SDK (node's own modules
    // are built in, not in require.cache).
    assert_eq!(lines.first(), Some(&r#"["rampart.js"]"#), "{out:#?}");
    assert_eq!(lines.get(1), Some(&"true true"), "{out:#?}");
}

#[test]
fn node_es_module_imports_of_the_sdk_are_checked_too() {
    // ES modules resolve packages from node_modules beside them (not
    // NODE_PATH): the fixture goes next to a link to the SDK.
    let moto = Moto::start();
    let layer = Layer::with_shims();
    let dir = TempDir::new("api-esm");
    std::os::unix::fs::symlink(sdk_js(), dir.path().join("node_modules")).expect("symlink");
    let fixture = dir.path().join("delete.mjs");
    std::fs::write(
        &fixture,
        "import { DynamoDBClient, DeleteTableCommand } from '@aws-sdk/client-dynamodb';\n\
         try { await new DynamoDBClient({}).send(new DeleteTableCommand({ TableName: 'orders' })); console.log('ok'); }\n\
         catch (e) { console.log(e.name, e.$metadata && e.$metadata.httpStatusCode); }\n",
    )
    .expect("write");
    let policy = policy(dir.path(), "block", &ALLOWED);
    let mut cmd = Command::new(layer.wrapper());
    cmd.arg(node()).arg(&fixture).env("RAMPART_POLICY", &policy);
    wrapper_env(&mut cmd);
    moto.aws(&mut cmd);
    let out = outcome(cmd.stdin(Stdio::null()).output().expect("node"));
    out.assert_success();
    assert_eq!(out.stdout.trim(), "AccessDeniedException 403", "{out:#?}");
    assert_eq!(api_events(&out, Block), ["dynamodb:DeleteTable"], "{out:#?}");
    assert!(moto.take_requests().is_empty(), "no request reached moto");
    assert_eq!(moto.state()["tables"], serde_json::json!(["orders"]));
}

#[test]
fn python_shim_failures_never_break_a_call() {
    // A shim that cannot load its hook (rampart_botocore.py missing from the
    // layer) leaves botocore as it is: calls work, unchecked.
    let moto = Moto::start();
    let layer = Layer::with_shims();
    let hook = layer.wrapper().with_file_name("python").join("rampart_botocore.py");
    std::fs::remove_file(&hook).expect("remove the hook");
    let mut cmd = Command::new(layer.wrapper());
    cmd.arg(python()).arg(Path::new(FIXTURES).join("sdk_calls.py")).args(ALLOWED);
    wrapper_env(&mut cmd);
    moto.aws(&mut cmd);
    let out = outcome(cmd.stdin(Stdio::null()).output().expect("python"));
    out.assert_success();
    let want: Vec<String> = ALLOWED.iter().map(|t| format!("{t} ok")).chain(["hooked False".to_owned()]).collect();
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), want, "{out:#?}");
}
