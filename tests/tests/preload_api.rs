//! End to end: the `api` category from a C program (tests/runtimes/c/
//! apicalls.c) under `rampart run`.
//!
//! - Service level, from host names: real AWS endpoint names are mapped to
//!   127.0.0.1 inside a private mount namespace (`unshare -m`, a
//!   bind-mounted copy of /etc/hosts: the machine's own file is never
//!   touched), a loopback listener takes the connections that are let
//!   through. The program resolves each name with `getaddrinfo` and
//!   connects, as an SDK does.
//! - Action level, the SDK channel: every open entry point on
//!   `/dev/rampart/api/SERVICE:Action[@BUCKET]`.
//!
//! Needs root for `unshare -m` and `mount --bind` (as `cargo xtask test`
//! runs here); without it the service-level tests fail saying so.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use rampart_event::Event;
use rampart_event::EventType::{self, Alert, Block, Profile};
use rampart_policy::Category;
use rampart_tests::cases::accepted;
use rampart_tests::runtimes_common::TempDir;
use rampart_tests::{Outcome, cprog, outcome, rampart_run, write_policy};

const DYNAMODB: &str = "dynamodb.eu-west-1.amazonaws.com";
const MY_BUCKET: &str = "mybucket.s3.eu-west-1.amazonaws.com";
const OTHER_BUCKET: &str = "otherbucket.s3.eu-west-1.amazonaws.com";
const PATH_STYLE: &str = "s3.eu-west-1.amazonaws.com";
const SQS: &str = "sqs.eu-west-1.amazonaws.com";
/// Under no network rule: the network check comes first.
const STS: &str = "sts.amazonaws.com";
const HOSTS: [&str; 6] = [DYNAMODB, MY_BUCKET, OTHER_BUCKET, PATH_STYLE, SQS, STS];

/// Allows one service (DynamoDB, one action) and one bucket; SQS and the
/// other bucket are denied at service level; STS is not under the network
/// rule.
const POLICY: &str = r#"{"version": 1, "mode": "block", "block": ["network", "api"], "allow": {
  "file": ["r /**", "rw /dev/**", "rw /tmp/**"], "process": ["/**"],
  "network": ["*.eu-west-1.amazonaws.com:*"],
  "api": ["dynamodb:GetItem", "s3:*@mybucket"]}}"#;

const TIMEOUT: Duration = Duration::from_secs(30);

fn program() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let out = cprog::suite_dir("preload_api").join("apicalls");
        cprog::compile("apicalls.c", &out, &["-O2", "-D_FORTIFY_SOURCE=2", "-Wall", "-Wextra", "-Werror"]);
        out
    })
}

/// A scratch directory with the policy and a hosts file that maps every
/// name in [`HOSTS`] to 127.0.0.1.
fn setup() -> (TempDir, PathBuf, PathBuf) {
    let dir = TempDir::new("preload-api");
    let policy = write_policy(dir.path(), POLICY);
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, format!("127.0.0.1 localhost\n127.0.0.1 {}\n", HOSTS.join(" "))).expect("write hosts");
    (dir, policy, hosts)
}

/// `cmd` run inside a new mount namespace in which `hosts` is /etc/hosts.
fn in_namespace(cmd: &Command, hosts: &Path) -> Outcome {
    let probe = Command::new("unshare").args(["-m", "true"]).output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "`unshare -m` does not work here ({probe:?}): this suite needs root (or CAP_SYS_ADMIN) for a private \
         mount namespace with its own /etc/hosts"
    );
    let mut ns = Command::new("unshare");
    ns.args(["-m", "--", "sh", "-c", r#"mount --bind "$0" /etc/hosts && exec "$@""#]).arg(hosts);
    ns.arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => ns.env(k, v),
            None => ns.env_remove(k),
        };
    }
    let (_, out) = rampart_tests::cases::output_with_timeout(&mut ns, TIMEOUT);
    outcome(out)
}

/// Connects to every name in [`HOSTS`] under `mode`; returns the outcome
/// and how many connections reached the listener.
fn connect_all(mode: &str) -> (Outcome, usize) {
    let (_dir, policy, hosts) = setup();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("local addr").port().to_string();
    let mut cmd = rampart_run(Some(&policy), Some(mode));
    cmd.arg(program()).arg("connect").args(HOSTS).arg(&port);
    let out = in_namespace(&cmd, &hosts);
    assert_eq!(out.code, Some(0), "{out:#?}");
    let reached = accepted(&listener).len();
    (out, reached)
}

/// What the program printed for `host`.
fn result<'a>(out: &'a Outcome, host: &str) -> &'a str {
    let prefix = format!("{host} ");
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no result for {host}: {out:#?}"))
}

fn api_lines(out: &Outcome, kind: EventType) -> Vec<&Event> {
    out.events.iter().filter(|e| e.kind == kind && e.cat == Some(Category::Api)).collect()
}

/// The one api line of `kind` with `target`; its fields checked.
fn api_line<'a>(
    out: &'a Outcome,
    kind: EventType,
    target: &str,
    region: Option<&str>,
    bucket: Option<&str>,
) -> &'a Event {
    let lines: Vec<&Event> = api_lines(out, kind).into_iter().filter(|e| e.target.as_deref() == Some(target)).collect();
    assert_eq!(lines.len(), 1, "one {kind} line for {target}: {out:#?}");
    let e = lines[0];
    assert_eq!(e.op.as_deref(), Some("connect"));
    let service = target.split(':').next().unwrap();
    assert_eq!(e.service.as_deref(), Some(service), "{e:?}");
    assert_eq!((e.region.as_deref(), e.bucket.as_deref()), (region, bucket), "{e:?}");
    e
}

#[test]
fn block_denies_the_service_and_bucket_the_policy_does_not_name() {
    let (out, reached) = connect_all("block");
    assert_eq!(result(&out, DYNAMODB), "ok");
    assert_eq!(result(&out, MY_BUCKET), "ok");
    assert_eq!(result(&out, PATH_STYLE), "ok", "path-style: the bucket is not known, any s3 rule allows");
    assert_eq!(result(&out, OTHER_BUCKET), "errno=EACCES");
    assert_eq!(result(&out, SQS), "errno=EACCES");
    assert_eq!(result(&out, STS), "errno=EACCES");
    assert_eq!(reached, 3, "only the allowed connections reach the listener");
    api_line(&out, Block, "s3:*@otherbucket", Some("eu-west-1"), Some("otherbucket"));
    api_line(&out, Block, "sqs:*", Some("eu-west-1"), None);
    assert_eq!(api_lines(&out, Block).len(), 2, "{out:#?}");
    // STS: the network check denies first; no api line for it.
    let net: Vec<&Event> = out.of(Block).into_iter().filter(|e| e.cat == Some(Category::Network)).collect();
    assert_eq!(net.len(), 1, "{out:#?}");
    assert!(net[0].target.as_deref().is_some_and(|t| t.starts_with("sts.amazonaws.com:")), "{net:?}");
    assert!(api_lines(&out, Alert).is_empty(), "{out:#?}");
}

#[test]
fn alert_reports_and_lets_everything_through() {
    let (out, reached) = connect_all("alert");
    for host in HOSTS {
        assert_eq!(result(&out, host), "ok", "{host}");
    }
    assert_eq!(reached, HOSTS.len());
    api_line(&out, Alert, "s3:*@otherbucket", Some("eu-west-1"), Some("otherbucket"));
    api_line(&out, Alert, "sqs:*", Some("eu-west-1"), None);
    // Not denied by the network rule in alert mode, so its api check runs.
    api_line(&out, Alert, "sts:*", None, None);
    assert_eq!(api_lines(&out, Alert).len(), 3, "{out:#?}");
    assert!(out.of(Block).is_empty(), "{out:#?}");
}

#[test]
fn profile_reports_every_endpoint_once_with_its_fields() {
    let (out, reached) = connect_all("profile");
    assert_eq!(reached, HOSTS.len());
    api_line(&out, Profile, "dynamodb:*", Some("eu-west-1"), None);
    api_line(&out, Profile, "s3:*@mybucket", Some("eu-west-1"), Some("mybucket"));
    api_line(&out, Profile, "s3:*@otherbucket", Some("eu-west-1"), Some("otherbucket"));
    api_line(&out, Profile, "s3:*", Some("eu-west-1"), None);
    api_line(&out, Profile, "sqs:*", Some("eu-west-1"), None);
    api_line(&out, Profile, "sts:*", None, None);
    assert_eq!(api_lines(&out, Profile).len(), HOSTS.len(), "{out:#?}");
    // The profile lines learn into the rules that allow them again.
    let lines: String = out.events.iter().filter(|e| e.cat == Some(Category::Api)).map(|e| {
        format!(
            "{{\"rampart\":1,\"type\":\"profile\",\"cat\":\"api\",\"op\":\"connect\",\"target\":{},\"pid\":1,\"ts\":1}}\n",
            serde_json::to_string(e.target.as_deref().unwrap()).unwrap()
        )
    }).collect();
    let learned = Command::new(rampart_tests::rampart_bin())
        .arg("learn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(lines.as_bytes())?;
            c.wait_with_output()
        })
        .expect("rampart learn");
    assert!(learned.status.success(), "{}", String::from_utf8_lossy(&learned.stderr));
    let p = rampart_policy::Policy::parse(&String::from_utf8_lossy(&learned.stdout)).expect("learned policy");
    let mut rules: Vec<String> = p.api.iter().map(|r| r.to_string()).collect();
    rules.sort();
    // `s3:*` (the path-style connection) covers both bucket rules.
    assert_eq!(rules, ["dynamodb:*", "s3:*", "sqs:*", "sts:*"]);
}

/// The SDK channel on every open entry point the program calls.
const OPENS: [&str; 6] = ["open", "open64", "openat", "fopen", "opendir", "freopen"];

fn sdk(mode: &str, query: &str) -> Outcome {
    let (_dir, policy, _) = setup();
    let mut cmd = rampart_run(Some(&policy), Some(mode));
    cmd.arg(program()).args(["sdk", query]);
    let (_, out) = rampart_tests::cases::output_with_timeout(&mut cmd, TIMEOUT);
    let out = outcome(out);
    assert_eq!(out.code, Some(0), "{out:#?}");
    out
}

fn sdk_results(out: &Outcome) -> Vec<String> {
    out.stdout.lines().filter_map(|l| l.strip_prefix("sdk ")).map(str::to_owned).collect()
}

fn expect_all(out: &Outcome, errno: &str) {
    let want: Vec<String> = OPENS.iter().map(|op| format!("{op} errno={errno}")).collect();
    assert_eq!(sdk_results(out), want, "{out:#?}");
}

#[test]
fn sdk_channel_denied_action_is_eacces_on_every_open() {
    let out = sdk("block", "s3:GetObject@otherbucket");
    expect_all(&out, "EACCES");
    let lines = api_lines(&out, Block);
    assert_eq!(lines.len(), OPENS.len(), "{out:#?}");
    for (e, op) in lines.iter().zip(OPENS) {
        assert_eq!(e.op.as_deref(), Some(op));
        assert_eq!(e.target.as_deref(), Some("s3:GetObject@otherbucket"));
        assert_eq!((e.service.as_deref(), e.bucket.as_deref()), (Some("s3"), Some("otherbucket")));
    }
    let out = sdk("block", "dynamodb:DeleteTable");
    expect_all(&out, "EACCES");
}

#[test]
fn sdk_channel_allowed_or_not_blocked_is_enoent() {
    for (mode, query, kind) in [
        ("block", "dynamodb:GetItem", None),
        ("block", "s3:GetObject@mybucket", None),
        ("alert", "dynamodb:DeleteTable", Some(Alert)),
        ("profile", "dynamodb:GetItem", Some(Profile)),
        ("off", "dynamodb:DeleteTable", None),
    ] {
        let out = sdk(mode, query);
        expect_all(&out, "ENOENT");
        let lines = out.events.iter().filter(|e| e.cat == Some(Category::Api) && e.kind != EventType::Status);
        let kinds: Vec<EventType> = lines.map(|e| e.kind).collect();
        match kind {
            None => assert!(kinds.is_empty(), "{mode} {query}: {out:#?}"),
            // Alert lines are rate-limited per target, profile lines once.
            Some(k) => assert_eq!(kinds, [k], "{mode} {query}: {out:#?}"),
        }
    }
}

#[test]
fn sdk_channel_malformed_query_is_enoent_without_a_decision() {
    for query in ["s3", "s3:*", "s3:GetObject@", "s3:Get/Object", "s3:GetObject@a@b"] {
        let out = sdk("block", query);
        expect_all(&out, "ENOENT");
        assert!(api_lines(&out, Block).is_empty(), "{query}: {out:#?}");
        let status: Vec<&Event> =
            out.events.iter().filter(|e| e.kind == EventType::Status && e.cat == Some(Category::Api)).collect();
        assert_eq!(status.len(), 1, "one status line per process: {out:#?}");
    }
}

#[test]
fn without_the_library_the_channel_is_enoent() {
    let out = Command::new(program()).args(["sdk", "dynamodb:GetItem"]).output().expect("run apicalls");
    let out = outcome(out);
    expect_all(&out, "ENOENT");
}
