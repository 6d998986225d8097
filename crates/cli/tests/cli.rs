//! Runs the `rampart` binary for each command and each error case.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

const SAMPLE: &str = r#"{
  "version": 1,
  "mode": "block",
  "block": ["file", "network", "process", "api", "input"],
  "allow": {
    "file":    ["r /var/task/**", "rw /tmp/**", "r /etc/ssl/certs/*"],
    "network": ["*.amazonaws.com:443", "10.0.0.0/8:5432", "udp:169.254.78.1:53"],
    "process": ["/usr/bin/git", "/var/task/bin/*"],
    "api":     ["dynamodb:GetItem", "s3:*"],
    "input":   ["aws:sqs", "aws:apigateway"]
  }
}
"#;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_in(dir: &Path, args: &[&str], stdin: &str) -> Out {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rampart");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code().expect("exited, not killed (a panic with panic=abort would be a signal)"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Asserts the one-line `rampart: ...` error with exit code 2 and returns it.
fn fails(out: &Out) -> String {
    assert_eq!(out.code, 2, "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    assert!(out.stderr.starts_with("rampart: "), "{:?}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{:?}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{:?}", out.stderr);
    out.stderr.trim_end().to_string()
}

struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir { tmp: tempfile::tempdir().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, text).unwrap();
        p
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap()
    }

    fn run(&self, args: &[&str]) -> Out {
        run_in(self.tmp.path(), args, "")
    }

    fn run_stdin(&self, args: &[&str], stdin: &str) -> Out {
        run_in(self.tmp.path(), args, stdin)
    }

    /// Names in the directory (to check no temporary file is left behind).
    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(self.tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        v.sort();
        v
    }
}

fn event(kind: &str, cat: &str, target: &str, access: Option<&str>) -> String {
    let access = access.map(|a| format!(",\"access\":\"{a}\"")).unwrap_or_default();
    format!(
        r#"{{"rampart":1,"type":"{kind}","cat":"{cat}","op":"x","target":"{target}"{access},"pid":8,"req":null,"fn":"orders","ts":1795773600000}}"#
    )
}

fn log() -> String {
    [
        "START RequestId: 8f5d0c1e-3b2a-4c5d-9e8f-0a1b2c3d4e5f Version: $LATEST".to_string(),
        format!(
            "2026-11-27T10:00:00.123Z\t8f5d0c1e\tINFO\t{}",
            event("profile", "file", "/var/task/app.py", Some("r"))
        ),
        format!("2026-11-27T10:00:00.124Z 8f5d0c1e {}", event("profile", "file", "/tmp/tmpa8f3k2x9", Some("w"))),
        event("profile", "network", "dynamodb.eu-west-1.amazonaws.com:443", None),
        event("block", "file", "/etc/shadow", Some("r")),
        "{\"rampart\":1,\"type\":\"profile\",\"cat\":\"file\",\"tar".to_string(),
        "END RequestId: 8f5d0c1e-3b2a-4c5d-9e8f-0a1b2c3d4e5f".to_string(),
    ]
    .join("\n")
        + "\n"
}

// ---------------------------------------------------------------- help

#[test]
fn help_for_every_command() {
    let d = Dir::new();
    let top = d.run(&["--help"]);
    assert_eq!(top.code, 0);
    assert!(top.stdout.contains("learn") && top.stdout.contains("policy"), "{}", top.stdout);
    let learn = d.run(&["learn", "--help"]);
    assert_eq!(learn.code, 0);
    for flag in ["--policy <IN>", "--output <OUT>", "--json", "[LOG]..."] {
        assert!(learn.stdout.contains(flag), "{flag}: {}", learn.stdout);
    }
    assert!(learn.stdout.contains("Block lines are never learned"));
    for sub in ["check", "show", "allow", "mode", "diff", "keygen", "sign", "push", "pull"] {
        let h = d.run(&["policy", sub, "--help"]);
        assert_eq!(h.code, 0, "{sub}");
        assert!(h.stdout.contains("Usage: rampart policy"), "{sub}: {}", h.stdout);
    }
    assert_eq!(d.run(&["--version"]).code, 0);
}

#[test]
fn usage_errors_are_one_line() {
    let d = Dir::new();
    for args in [&[][..], &["policy"], &["frob"], &["policy", "frob"], &["learn", "--bogus"], &["policy", "check"]] {
        fails(&d.run(args));
    }
}

// ---------------------------------------------------------------- learn

#[test]
fn learn_stdin_to_stdout() {
    let d = Dir::new();
    for args in [&["learn"][..], &["learn", "-"]] {
        let out = d.run_stdin(args, &log());
        assert_eq!(out.code, 0, "{}", out.stderr);
        let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(doc["mode"], "alert");
        assert_eq!(doc["allow"]["file"], serde_json::json!(["w /tmp/*", "r /var/task/app.py"]));
        assert_eq!(doc["allow"]["network"], serde_json::json!(["dynamodb.eu-west-1.amazonaws.com:443"]));
        assert!(out.stderr.contains("added 3 rules"), "{}", out.stderr);
        assert!(
            out.stderr.contains("w /tmp/*    # random temp name (from 1 path: /tmp/tmpa8f3k2x9)"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("line 5: block line not learned: file r /etc/shadow"), "{}", out.stderr);
        assert!(out.stderr.contains("line 6: "), "{}", out.stderr);
        assert!(!out.stdout.contains("shadow"));
    }
}

#[test]
fn learn_files_name_their_lines() {
    let d = Dir::new();
    d.write("a.log", &log());
    d.write("b.log", &event("profile", "input", "aws:sqs", None));
    let out = d.run(&["learn", "a.log", "b.log"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("\"aws:sqs\""));
    assert!(out.stderr.contains("a.log: line 5: block line not learned"), "{}", out.stderr);
}

#[test]
fn learn_extends_a_policy_in_place() {
    let d = Dir::new();
    d.write("policy.json", SAMPLE);
    d.write("a.log", &log());
    let out = d.run(&["learn", "--policy", "policy.json", "a.log"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    let doc = rampart_doc(&d.read("policy.json"));
    assert_eq!(doc["mode"], "block");
    // /var/task/app.py, /tmp/... and *.amazonaws.com are already allowed.
    assert_eq!(doc["allow"]["file"], serde_json::json!(["r /var/task/**", "rw /tmp/**", "r /etc/ssl/certs/*"]));
    assert!(out.stderr.contains("added no rules"), "{}", out.stderr);
    assert!(out.stderr.contains("policy.json: unchanged"), "{}", out.stderr);
    // Untouched byte for byte when nothing is new.
    assert_eq!(d.read("policy.json"), SAMPLE);

    d.write("b.log", &event("profile", "file", "/etc/hosts", Some("r")));
    let out = d.run(&["learn", "--policy", "policy.json", "b.log"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = rampart_doc(&d.read("policy.json"));
    assert_eq!(
        doc["allow"]["file"],
        serde_json::json!(["r /var/task/**", "rw /tmp/**", "r /etc/ssl/certs/*", "r /etc/hosts"])
    );
    assert_eq!(doc["block"].as_array().unwrap().len(), 5);
    assert!(out.stderr.contains("wrote policy.json"));
    assert_eq!(d.names(), ["a.log", "b.log", "policy.json"]);
}

fn rampart_doc(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn learn_to_an_output_file_leaves_the_input_policy() {
    let d = Dir::new();
    d.write("policy.json", SAMPLE);
    d.write("b.log", &event("profile", "file", "/etc/hosts", Some("r")));
    let out = d.run(&["learn", "--policy", "policy.json", "-o", "new.json", "b.log"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(d.read("policy.json"), SAMPLE);
    assert!(d.read("new.json").contains("\"r /etc/hosts\""));
    let check = d.run(&["policy", "check", "new.json"]);
    assert_eq!(check.code, 0);
}

#[test]
fn learn_json_summary() {
    let d = Dir::new();
    d.write("a.log", &log());
    let err = fails(&d.run(&["learn", "--json", "a.log"]));
    assert!(err.contains("-o OUT or --policy IN"), "{err}");
    fails(&d.run(&["learn", "--json", "-o", "-", "a.log"]));
    let out = d.run(&["learn", "--json", "-o", "out.json", "a.log"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "");
    let j: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(j["policy"], "out.json");
    assert_eq!(j["added"]["file"][0]["rule"], "w /tmp/*");
    assert_eq!(j["added"]["file"][0]["generalised"], serde_json::json!(["random temp name"]));
    assert_eq!(j["counts"]["block_skipped"], 1);
    assert_eq!(j["counts"]["malformed"], 1);
    assert_eq!(j["warnings"][1]["kind"], "malformed");
    assert_eq!(j["warnings"][1]["line"], 6);
    assert!(d.read("out.json").contains("\"w /tmp/*\""));
}

#[test]
fn learn_errors() {
    let d = Dir::new();
    d.write("a.log", &log());
    let err = fails(&d.run(&["learn", "missing.log"]));
    assert_eq!(err, "rampart: missing.log: No such file or directory");
    fails(&d.run(&["learn", "--policy", "missing.json", "a.log"]));
    let bad = SAMPLE.replace("\"r /etc/ssl/certs/*\"", "\"rw/tmp/**\"");
    d.write("bad.json", &bad);
    let err = fails(&d.run(&["learn", "--policy", "bad.json", "a.log"]));
    assert_eq!(err, r#"rampart: bad.json: allow.file[2]: "rw/tmp/**": expected "r|w|rw GLOB""#);
    assert_eq!(d.read("bad.json"), bad);
    d.write("notjson.json", "{ nope");
    assert!(fails(&d.run(&["learn", "--policy", "notjson.json", "a.log"])).contains("invalid JSON"));
    // A directory as a log or as the output.
    fs::create_dir(d.path("sub")).unwrap();
    fails(&d.run(&["learn", "sub"]));
    assert!(fails(&d.run(&["learn", "-o", "sub", "a.log"])).contains("is a directory"));
    // Unwritable places, even for root.
    fails(&d.run(&["learn", "-o", "/proc/rampart-test-policy.json", "a.log"]));
    fails(&d.run(&["learn", "-o", "a.log/x.json", "a.log"]));
    fails(&d.run(&["learn", "-o", "no/such/dir/x.json", "a.log"]));
    // Compressed exports.
    fs::write(d.path("x.gz"), [0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
    assert!(fails(&d.run(&["learn", "x.gz"])).contains("gzip"));
    assert_eq!(d.names(), ["a.log", "bad.json", "notjson.json", "sub", "x.gz"]);
}

#[test]
fn learn_survives_garbage() {
    let d = Dir::new();
    let mut bytes = b"\xff\xfe binary \x00 junk\n{\"rampart\":1,\"type\":\"profile\"}\n{\"rampart\":1,\n".to_vec();
    bytes.extend_from_slice(event("profile", "file", "/var/task/\u{e9}t\u{e9}.py", Some("r")).as_bytes());
    bytes.extend_from_slice(b"\n{\"rampart\":1,\"type\":\"profile\",\"cat\":\"file\",\"target\":\"/x\",\"access\":\"q\",\"pid\":1,\"ts\":1}\n");
    fs::write(d.path("g.log"), bytes).unwrap();
    let out = d.run(&["learn", "g.log"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("r /var/task/\u{e9}t\u{e9}.py"), "{}", out.stdout);
    assert!(out.stderr.contains("3 malformed rampart lines"), "{}", out.stderr);
    assert!(out.stderr.contains("line 2: "), "{}", out.stderr);
    assert!(out.stderr.contains("line 5: "), "{}", out.stderr);
}

// ---------------------------------------------------------------- check

#[test]
fn policy_check() {
    let d = Dir::new();
    d.write("p.json", SAMPLE);
    let out = d.run(&["policy", "check", "p.json"]);
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, "p.json: ok (mode block; file 3, network 3, process 2, api 2, input 2)\n");
    let partial =
        SAMPLE.replace(r#""block": ["file", "network", "process", "api", "input"],"#, r#""block": ["file"],"#);
    d.write("partial.json", &partial);
    let out = d.run(&["policy", "check", "partial.json"]);
    assert_eq!(
        out.stdout,
        "partial.json: ok (mode block, blocking file; file 3, network 3, process 2, api 2, input 2)\n"
    );

    d.write("bad.json", &SAMPLE.replace("\"r /etc/ssl/certs/*\"", "\"r /etc/ssl/certs/*\", \"rw/tmp/**\""));
    let err = fails(&d.run(&["policy", "check", "bad.json"]));
    assert_eq!(err, r#"rampart: bad.json: allow.file[3]: "rw/tmp/**": expected "r|w|rw GLOB""#);
    d.write("cat.json", &SAMPLE.replace("\"input\":   [", "\"inputs\":   ["));
    assert!(fails(&d.run(&["policy", "check", "cat.json"])).contains("allow.inputs: unknown category"));
    d.write("glob.json", &SAMPLE.replace("\"/var/task/bin/*\"", "\"/var/task/bin**\""));
    assert!(fails(&d.run(&["policy", "check", "glob.json"])).starts_with("rampart: glob.json: allow.process[1]"));
    d.write("json.json", "{\"version\": 1,");
    assert!(fails(&d.run(&["policy", "check", "json.json"])).starts_with("rampart: json.json: invalid JSON"));
    assert_eq!(fails(&d.run(&["policy", "check", "missing.json"])), "rampart: missing.json: No such file or directory");
    // Several files: each reported; exit 2 when any is bad.
    let out = d.run(&["policy", "check", "p.json", "missing.json"]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.starts_with("p.json: ok"));
    assert_eq!(out.stderr.lines().count(), 1);
}

// ---------------------------------------------------------------- show

#[test]
fn policy_show() {
    let d = Dir::new();
    d.write("p.json", &SAMPLE.replace("\"rw /tmp/**\"", "\"wr /tmp//**\""));
    let out = d.run(&["policy", "show", "p.json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("mode: block"), "{}", out.stdout);
    assert!(out.stdout.contains("blocked categories: file, network, process, api, input"));
    assert!(out.stdout.contains("file (3):\n  r /var/task/**\n  wr /tmp//**\n"), "{}", out.stdout);
    assert!(out.stdout.contains("input (2):\n  aws:sqs\n  aws:apigateway\n"));

    let out = d.run(&["policy", "show", "--json", "p.json"]);
    assert_eq!(out.code, 0);
    let j: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(j["allow"]["file"][1], "rw /tmp/**");
    assert_eq!(j["version"], 1);
    // The canonical form is stable.
    d.write("canon.json", &out.stdout);
    assert_eq!(d.run(&["policy", "show", "--json", "canon.json"]).stdout, out.stdout);

    d.write("empty.json", r#"{"version":1,"mode":"profile"}"#);
    let out = d.run(&["policy", "show", "empty.json"]);
    assert!(out.stdout.contains("network: none allowed"), "{}", out.stdout);
    fails(&d.run(&["policy", "show", "missing.json"]));
}

// ---------------------------------------------------------------- allow

#[test]
fn policy_allow() {
    let d = Dir::new();
    d.write("p.json", SAMPLE);
    let out = d.run(&["policy", "allow", "p.json", "file", "r /etc/ssl/**", "r /var/task/x.py", "wr /opt/data"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("added: file r /etc/ssl/**"), "{}", out.stdout);
    assert!(out.stdout.contains("already allowed: file r /var/task/x.py (by \"r /var/task/**\")"));
    assert!(out.stdout.contains("added: file rw /opt/data"));
    let doc = rampart_doc(&d.read("p.json"));
    assert_eq!(
        doc["allow"]["file"],
        serde_json::json!(["r /var/task/**", "rw /tmp/**", "r /etc/ssl/certs/*", "r /etc/ssl/**", "rw /opt/data"])
    );
    assert_eq!(doc["mode"], "block");

    // Present already: nothing written.
    let before = d.read("p.json");
    let out = d.run(&["policy", "allow", "p.json", "network", "*.amazonaws.com:443", "s3.eu-west-1.amazonaws.com:443"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("already present: network *.amazonaws.com:443"), "{}", out.stdout);
    assert!(out.stdout.contains("already allowed: network s3.eu-west-1.amazonaws.com:443"), "{}", out.stdout);
    assert!(out.stdout.contains("p.json: unchanged"));
    assert_eq!(d.read("p.json"), before);

    let out = d.run(&["policy", "allow", "p.json", "api", "sqs:SendMessage", "sqs:SendMessage"]);
    assert!(out.stdout.contains("added: api sqs:SendMessage\nalready present: api sqs:SendMessage"), "{}", out.stdout);
    assert_eq!(rampart_doc(&d.read("p.json"))["allow"]["api"].as_array().unwrap().len(), 3);
    assert_eq!(d.names(), ["p.json"]);
}

#[test]
fn policy_allow_errors_leave_the_file() {
    let d = Dir::new();
    d.write("p.json", SAMPLE);
    // One bad rule among good ones: nothing is written.
    let err = fails(&d.run(&["policy", "allow", "p.json", "file", "r /etc/hosts", "rw/tmp/**"]));
    assert_eq!(err, r#"rampart: file rule "rw/tmp/**": expected "r|w|rw GLOB""#);
    let err = fails(&d.run(&["policy", "allow", "p.json", "files", "r /etc/hosts"]));
    assert!(err.contains("unknown category \"files\""), "{err}");
    fails(&d.run(&["policy", "allow", "p.json", "network", "example.com"]));
    fails(&d.run(&["policy", "allow", "p.json", "file", "r /a/b**"]));
    fails(&d.run(&["policy", "allow", "p.json", "input", "aws:smtp"]));
    fails(&d.run(&["policy", "allow", "missing.json", "file", "r /etc/hosts"]));
    assert_eq!(d.read("p.json"), SAMPLE);
    // An invalid policy is not edited.
    let bad = SAMPLE.replace("\"s3:*\"", "\"s3\"");
    d.write("bad.json", &bad);
    fails(&d.run(&["policy", "allow", "bad.json", "file", "r /etc/hosts"]));
    assert_eq!(d.read("bad.json"), bad);
    assert_eq!(d.names(), ["bad.json", "p.json"]);
}

#[cfg(unix)]
#[test]
fn writes_keep_permissions_and_follow_symlinks() {
    use std::os::unix::fs::PermissionsExt;
    let d = Dir::new();
    let p = d.write("real.json", SAMPLE);
    fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("real.json", d.path("link.json")).unwrap();
    let out = d.run(&["policy", "mode", "link.json", "alert"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(fs::symlink_metadata(d.path("link.json")).unwrap().file_type().is_symlink());
    assert!(d.read("real.json").contains("\"mode\": \"alert\""));
    assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o640);
    assert_eq!(d.names(), ["link.json", "real.json"]);
}

#[cfg(unix)]
#[test]
fn read_only_directory_leaves_the_file() {
    use std::os::unix::fs::PermissionsExt;
    let d = Dir::new();
    fs::create_dir(d.path("ro")).unwrap();
    d.write("ro/p.json", SAMPLE);
    fs::set_permissions(d.path("ro"), fs::Permissions::from_mode(0o555)).unwrap();
    // Root may write anyway: then there is nothing to check here.
    let probe = d.path("ro/.probe");
    let root = fs::write(&probe, "").is_ok();
    let _ = fs::remove_file(&probe);
    if !root {
        let err = fails(&d.run(&["policy", "mode", "ro/p.json", "alert"]));
        assert!(err.contains("Permission denied"), "{err}");
        fails(&d.run(&["policy", "allow", "ro/p.json", "file", "r /etc/hosts"]));
        assert_eq!(d.read("ro/p.json"), SAMPLE);
        assert_eq!(fs::read_dir(d.path("ro")).unwrap().count(), 1);
    }
    fs::set_permissions(d.path("ro"), fs::Permissions::from_mode(0o755)).unwrap();
}

// ---------------------------------------------------------------- mode

#[test]
fn policy_mode() {
    let d = Dir::new();
    d.write("p.json", SAMPLE);
    let out = d.run(&["policy", "mode", "p.json", "alert"]);
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, "p.json: mode alert (was block)\n");
    let doc = rampart_doc(&d.read("p.json"));
    assert_eq!(doc["mode"], "alert");
    assert_eq!(doc["allow"]["file"][1], "rw /tmp/**");
    let before = d.read("p.json");
    let out = d.run(&["policy", "mode", "p.json", "alert"]);
    assert_eq!(out.stdout, "p.json: mode is already alert\n");
    assert_eq!(d.read("p.json"), before);
    for bad in ["off", "Block", "deny", ""] {
        let err = fails(&d.run(&["policy", "mode", "p.json", bad]));
        assert!(err.contains("expected profile, alert or block"), "{err}");
    }
    fails(&d.run(&["policy", "mode", "missing.json", "block"]));
    assert_eq!(d.read("p.json"), before);
    assert_eq!(d.run(&["policy", "mode", "p.json", "profile"]).code, 0);
    assert_eq!(rampart_doc(&d.read("p.json"))["mode"], "profile");
    assert_eq!(d.names(), ["p.json"]);
}

// ---------------------------------------------------------------- diff

#[test]
fn policy_diff() {
    let d = Dir::new();
    d.write("a.json", SAMPLE);
    // Same rules spelled differently: identical.
    d.write("same.json", &SAMPLE.replace("\"rw /tmp/**\"", "\"wr /tmp//**/\""));
    let out = d.run(&["policy", "diff", "a.json", "same.json"]);
    assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (0, "", ""));

    let b = SAMPLE
        .replace("\"mode\": \"block\"", "\"mode\": \"alert\"")
        .replace("\"r /etc/ssl/certs/*\"", "\"r /etc/ssl/**\"")
        .replace("\"s3:*\"", "\"s3:GetObject\", \"sqs:SendMessage\"");
    d.write("b.json", &b);
    let out = d.run(&["policy", "diff", "a.json", "b.json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "--- a.json\n+++ b.json\n- mode block\n+ mode alert\nfile:\n\
         - r /etc/ssl/certs/*    # B allows it too, by \"r /etc/ssl/**\"\n+ r /etc/ssl/**\n\
         api:\n- s3:*\n+ s3:GetObject    # A allows it too, by \"s3:*\"\n+ sqs:SendMessage\n"
    );

    d.write(
        "c.json",
        &SAMPLE.replace(r#""block": ["file", "network", "process", "api", "input"],"#, r#""block": ["file"],"#),
    );
    let out = d.run(&["policy", "diff", "a.json", "c.json"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("- block file, network, process, api, input\n+ block file\n"), "{}", out.stdout);

    fails(&d.run(&["policy", "diff", "a.json", "missing.json"]));
    d.write("bad.json", "[]");
    assert_eq!(
        fails(&d.run(&["policy", "diff", "bad.json", "a.json"])),
        "rampart: bad.json: a policy is a JSON object"
    );
}

// ---------------------------------------------------------------- keys and signatures

/// The public key `keygen` printed.
fn printed_public_key(stdout: &str) -> rampart_sign::PublicKey {
    let line = stdout.lines().find_map(|l| l.strip_prefix("public key: ")).expect("a `public key:` line");
    rampart_sign::PublicKey::parse(line).unwrap()
}

#[cfg(unix)]
#[test]
fn keygen_writes_a_private_secret_and_prints_the_public_key() {
    use std::os::unix::fs::PermissionsExt;
    let d = Dir::new();
    let out = d.run(&["policy", "keygen", "-o", "k.secret"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let public = printed_public_key(&out.stdout);
    assert!(
        out.stdout.contains(&format!("Set RAMPART_POLICY_KEY={} in the function's environment", public.to_text())),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("mode 0600"), "{}", out.stdout);
    let text = d.read("k.secret");
    assert!(text.starts_with("rampart-ed25519-secret:") && text.ends_with('\n'), "{text:?}");
    assert!(!out.stdout.contains(text.trim()), "the secret must not be printed");
    let secret = rampart_sign::SecretKey::parse(&text).unwrap();
    assert_eq!(secret.public(), public);
    assert_eq!(fs::metadata(d.path("k.secret")).unwrap().permissions().mode() & 0o777, 0o600);

    // Never overwritten by accident.
    let err = fails(&d.run(&["policy", "keygen", "-o", "k.secret"]));
    assert!(err.contains("k.secret: already exists (--force replaces it)"), "{err}");
    assert_eq!(d.read("k.secret"), text);
    // A dangling symlink is not followed either.
    std::os::unix::fs::symlink("elsewhere", d.path("link.secret")).unwrap();
    fails(&d.run(&["policy", "keygen", "-o", "link.secret"]));
    assert!(!d.path("elsewhere").exists());
    fs::remove_file(d.path("link.secret")).unwrap();

    // --force replaces it with a new key, still 0600 even if the old file was not.
    fs::set_permissions(d.path("k.secret"), fs::Permissions::from_mode(0o644)).unwrap();
    let out = d.run(&["policy", "keygen", "-o", "k.secret", "--force"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_ne!(printed_public_key(&out.stdout), public);
    assert_ne!(d.read("k.secret"), text);
    assert_eq!(fs::metadata(d.path("k.secret")).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(d.names(), ["k.secret"]);

    fails(&d.run(&["policy", "keygen"]));
    let err = fails(&d.run(&["policy", "keygen", "-o", "no/such/dir/k"]));
    assert!(err.contains("No such file or directory"), "{err}");
}

#[test]
fn sign_writes_a_signature_that_verifies() {
    let d = Dir::new();
    let out = d.run(&["policy", "keygen", "-o", "k.secret"]);
    let public = printed_public_key(&out.stdout);
    d.write("p.json", SAMPLE);
    let out = d.run(&["policy", "sign", "p.json", "--key", "k.secret"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "wrote p.json.sig (mode block; file 3, network 3, process 2, api 2, input 2; signed by {})\n",
            public.to_text()
        )
    );
    let sig = d.read("p.json.sig");
    assert!(sig.starts_with("ed25519:") && sig.ends_with('\n'), "{sig:?}");
    assert_eq!(public.verify(SAMPLE.as_bytes(), &sig), Ok(()));
    // The exact bytes are signed: one more space and it no longer verifies.
    assert!(public.verify(format!("{SAMPLE} ").as_bytes(), &sig).is_err());
    assert_eq!(d.read("p.json"), SAMPLE);
    assert_eq!(d.names(), ["k.secret", "p.json", "p.json.sig"]);
}

#[test]
fn sign_errors() {
    let d = Dir::new();
    d.run(&["policy", "keygen", "-o", "k.secret"]);
    // An invalid policy is not signed.
    d.write("bad.json", &SAMPLE.replace("\"s3:*\"", "\"s3\""));
    let err = fails(&d.run(&["policy", "sign", "bad.json", "--key", "k.secret"]));
    assert!(err.starts_with("rampart: bad.json: allow.api[1]: \"s3\":"), "{err}");
    assert!(err.ends_with("(not signed)"), "{err}");
    assert!(!d.path("bad.json.sig").exists());
    // Keys that are not secret keys.
    d.write("p.json", SAMPLE);
    d.write("pub.key", "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n");
    let err = fails(&d.run(&["policy", "sign", "p.json", "--key", "pub.key"]));
    assert!(err.contains("pub.key: secret key must start with `rampart-ed25519-secret:`"), "{err}");
    d.write("short.key", "rampart-ed25519-secret:AAAA\n");
    let err = fails(&d.run(&["policy", "sign", "p.json", "--key", "short.key"]));
    assert!(err.contains("secret key must be 32 bytes, found 3"), "{err}");
    d.write("junk.key", "rampart-ed25519-secret:***\n");
    let err = fails(&d.run(&["policy", "sign", "p.json", "--key", "junk.key"]));
    assert!(err.contains("not valid base64"), "{err}");
    let err = fails(&d.run(&["policy", "sign", "p.json", "--key", "missing.key"]));
    assert!(err.contains("missing.key: No such file or directory"), "{err}");
    fails(&d.run(&["policy", "sign", "p.json"]));
    fails(&d.run(&["policy", "sign", "missing.json", "--key", "k.secret"]));
    assert!(!d.path("p.json.sig").exists());
}

#[test]
fn local_edits_re_sign_with_key_and_warn_without() {
    let d = Dir::new();
    let public = printed_public_key(&d.run(&["policy", "keygen", "-o", "k.secret"]).stdout);
    d.write("p.json", SAMPLE);
    assert_eq!(d.run(&["policy", "sign", "p.json", "--key", "k.secret"]).code, 0);
    let out = d.run(&["policy", "mode", "p.json", "alert", "--key", "k.secret"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("p.json: mode alert (was block)\nwrote p.json.sig (signed by "), "{}", out.stdout);
    assert_eq!(public.verify(d.read("p.json").as_bytes(), &d.read("p.json.sig")), Ok(()));

    // Without the key the signature goes stale, and the user is told.
    let out = d.run(&["policy", "mode", "p.json", "block"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("warning: p.json.sig no longer matches p.json"), "{}", out.stderr);
    assert!(public.verify(d.read("p.json").as_bytes(), &d.read("p.json.sig")).is_err());
    let out = d.run(&["policy", "allow", "p.json", "file", "r /opt/**"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("warning: p.json.sig no longer matches p.json"), "{}", out.stderr);
    // S3-only options on a file are a mistake.
    let err = fails(&d.run(&["policy", "mode", "p.json", "alert", "--profile", "x"]));
    assert!(err.contains("s3:// locations only"), "{err}");
}
