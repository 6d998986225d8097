//! End to end: `rampart learn` on a hand-made CloudWatch export of a Python
//! function (tests/data/orders-cloudwatch.log), then `rampart policy check`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rampart_policy::{Access, Connect, InputSource, Matcher, Policy, Proto};

const LOG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/orders-cloudwatch.log");

/// The exact policy `rampart learn` must produce: everything seen, each
/// generalisation as specified (temp names, numbered files, ephemeral
/// loopback ports), nothing from the block line, the cut target or the
/// malformed line.
const EXPECTED: &str = r#"{
  "version": 1,
  "mode": "alert",
  "allow": {
    "file": [
      "r /etc/hosts",
      "r /etc/resolv.conf",
      "r /etc/ssl/certs/ca-certificates.crt",
      "rw /tmp/*.json",
      "rw /tmp/*/invoice.html.j2",
      "w /tmp/exports/orders-*.csv",
      "r /var/lang/lib/python3.12/encodings/idna.py",
      "r /var/lang/lib/python3.12/json/__init__.py",
      "r /var/lang/lib/python3.12/json/decoder.py",
      "r /var/lang/lib/python3.12/lib-dynload/_json.cpython-312-x86_64-linux-gnu.so",
      "r /var/lang/lib/python3.12/lib-dynload/_ssl.cpython-312-x86_64-linux-gnu.so",
      "r /var/runtime/awslambdaric/bootstrap.py",
      "r /var/runtime/bootstrap.py",
      "r /var/runtime/boto3/__init__.py",
      "r /var/runtime/botocore/data/dynamodb/2012-08-10/service-2.json.gz",
      "r /var/runtime/botocore/data/endpoints.json",
      "r /var/runtime/botocore/data/sqs/2012-11-05/service-2.json.gz",
      "r /var/task/app.py",
      "r /var/task/config/settings.json",
      "r /var/task/data/rates-2026.json",
      "r /var/task/data/zones-*.json",
      "r /var/task/orders/__init__.py",
      "r /var/task/orders/db.py"
    ],
    "network": [
      "127.0.0.1:32768-60999",
      "dynamodb.eu-west-1.amazonaws.com:443",
      "git.example.com:443",
      "sqs.eu-west-1.amazonaws.com:443",
      "udp:169.254.78.1:53",
      "udp:169.254.79.129:2000",
      "unix:/var/run/nscd/socket"
    ],
    "process": [
      "/usr/bin/git"
    ],
    "api": [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "sqs:SendMessage"
    ],
    "input": [
      "aws:sqs"
    ]
  }
}
"#;

/// The `rampart` binary `cargo test --workspace` built next to this test.
fn rampart() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/learn_cloudwatch-HASH → target/<profile>/rampart
    let bin = exe.parent().and_then(Path::parent).map(|d| d.join("rampart")).expect("target dir");
    assert!(
        bin.is_file(),
        "{} is missing: build it first (`cargo build -p rampart-cli`, or run `cargo test --workspace`)",
        bin.display()
    );
    bin
}

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(rampart()).args(args).current_dir(dir).output().expect("run rampart")
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("UTF-8 output")
}

/// 1-based number of the first line of the log containing `needle`.
fn line_of(needle: &str) -> usize {
    let log = std::fs::read_to_string(LOG).expect("sample log");
    log.lines().position(|l| l.contains(needle)).map(|i| i + 1).unwrap_or_else(|| panic!("{needle} not in log"))
}

#[test]
fn learn_from_a_cloudwatch_export() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["learn", "-o", "policy.json", LOG], dir.path());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(text(&out.stdout), "");
    let policy = std::fs::read_to_string(dir.path().join("policy.json")).unwrap();
    assert_eq!(policy, EXPECTED, "stderr:\n{stderr}");

    // The summary: what was read, what was generalised and from what.
    assert!(stderr.contains("read 78 lines (53 rampart, 25 other)"), "{stderr}");
    assert!(stderr.contains("added 35 rules:"), "{stderr}");
    assert!(
        stderr.contains(
            "rw /tmp/*.json    # random temp name (from 3 paths: /tmp/tmp7hq0_vzr.json, /tmp/tmpk3x9q2ab.json, …)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("w /tmp/exports/orders-*.csv    # numbered files (from 3 paths:"), "{stderr}");
    assert!(
        stderr.contains(
            "127.0.0.1:32768-60999    # ephemeral local port (from 2 targets: 127.0.0.1:41877, 127.0.0.1:52310)"
        ),
        "{stderr}"
    );

    // The malformed line is reported with its line number.
    let bad = line_of(r#""target":"/var/task/orders/models.py","acc"#);
    assert!(stderr.contains("1 malformed rampart line:"), "{stderr}");
    assert!(stderr.contains(&format!("  line {bad}: invalid JSON")), "{stderr}");
    // The block line is reported and not learned.
    let block = line_of("\"type\":\"block\"");
    assert!(stderr.contains(&format!("  line {block}: block line not learned: network 203.0.113.50:4444")), "{stderr}");
    assert!(stderr.contains("learning from block lines would allow what the policy blocked"), "{stderr}");
    assert!(!policy.contains("203.0.113.50"));
    // The cut target is reported and not learned.
    let cut = line_of("\"cut\":true");
    assert!(stderr.contains(&format!("  line {cut}: target was cut")), "{stderr}");
    assert!(!policy.contains(".git"));

    // `rampart policy check` accepts it.
    let check = run(&["policy", "check", "policy.json"], dir.path());
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    assert_eq!(text(&check.stdout), "policy.json: ok (mode alert; file 23, network 7, process 1, api 3, input 1)\n");

    // Learning the same log again into that policy adds nothing and leaves
    // the file as it was.
    let again = run(&["learn", "--policy", "policy.json", LOG], dir.path());
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again.stderr).contains("added no rules"));
    assert_eq!(std::fs::read_to_string(dir.path().join("policy.json")).unwrap(), EXPECTED);
}

#[test]
fn learned_policy_allows_what_was_seen_and_nothing_near_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["learn", LOG], dir.path());
    assert_eq!(out.status.code(), Some(0));
    let m: Matcher = Policy::parse(&text(&out.stdout)).expect("valid policy").compile();
    let r = |p: &str| m.allows_file(p.as_bytes(), Access::R);
    let w = |p: &str| m.allows_file(p.as_bytes(), Access::W);
    let tcp = |ip: Option<&str>, name: Option<&str>, port| {
        m.allows_connect(&Connect {
            proto: Proto::Tcp,
            ip: ip.map(|i| i.parse::<IpAddr>().unwrap()),
            name: name.map(str::as_bytes),
            port,
        })
    };

    // Seen.
    assert!(r("/var/task/app.py") && r("/etc/ssl/certs/ca-certificates.crt"));
    assert!(r("/var/lang/lib/python3.12/json/decoder.py"));
    assert!(w("/tmp/tmp7hq0_vzr.json") && r("/tmp/tmp7hq0_vzr.json"));
    assert!(w("/tmp/exports/orders-0002.csv"));
    assert!(r("/var/task/data/zones-2.json"));
    assert!(tcp(None, Some("dynamodb.eu-west-1.amazonaws.com"), 443));
    assert!(tcp(Some("127.0.0.1"), None, 41877));
    assert!(m.allows_connect(&Connect {
        proto: Proto::Udp,
        ip: Some("169.254.78.1".parse().unwrap()),
        name: None,
        port: 53
    }));
    assert!(m.allows_unix(b"/var/run/nscd/socket"));
    assert!(m.allows_process(b"/usr/bin/git"));
    assert!(m.allows_api("dynamodb", Some("GetItem"), None) && m.allows_api("sqs", Some("SendMessage"), None));
    assert!(m.allows_input(InputSource::Sqs));

    // As generalised: other random temp names, other numbered exports.
    assert!(w("/tmp/tmpz9y8x7w6.json"));
    assert!(w("/tmp/exports/orders-0999.csv"));
    assert!(tcp(Some("127.0.0.1"), None, 60999));

    // Not seen, or seen only in lines that must not be learned.
    assert!(!r("/etc/shadow"));
    assert!(!r("/etc/passwd"));
    assert!(!r("/var/task/orders/models.py"));
    assert!(!w("/var/task/app.py"));
    assert!(!r("/var/task/secrets.py"));
    assert!(!w("/tmp/tmpd9e1xq7f/.git/objects/pack/x.idx"));
    assert!(!w("/tmp/evil.sh") && !w("/tmp/tmpz9y8x7w6"));
    assert!(!r("/var/task/data/zones-1.yaml"));
    assert!(!tcp(Some("203.0.113.50"), None, 4444));
    assert!(!tcp(Some("127.0.0.1"), None, 8080));
    assert!(!tcp(None, Some("s3.eu-west-1.amazonaws.com"), 443));
    assert!(!tcp(None, Some("dynamodb.eu-west-1.amazonaws.com"), 80));
    assert!(!m.allows_process(b"/bin/sh"));
    assert!(!m.allows_api("dynamodb", Some("DeleteTable"), None));
    assert!(!m.allows_input(InputSource::ApiGateway));
}

#[test]
fn json_summary_of_the_export() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["learn", "--json", "-o", "p.json", LOG], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let j: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let c = &j["counts"];
    assert_eq!(c["lines"], 78);
    assert_eq!(c["rampart"], 53);
    assert_eq!(c["non_rampart"], 25);
    assert_eq!(c["malformed"], 1);
    assert_eq!(c["block_skipped"], 1);
    assert_eq!(c["cut"], 1);
    assert_eq!(c["status_ignored"], 4);
    assert_eq!(j["added"]["network"].as_array().unwrap().len(), 7);
    let kinds: Vec<&str> = j["warnings"].as_array().unwrap().iter().map(|w| w["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["cut", "malformed", "block"]);
}
