//! `rampart policy push|pull|mode s3://...` against s3s-fs, a real S3
//! server that checks every request's signature. Each run of `rampart`
//! gets a cleared environment with HOME in a temporary directory, so the
//! developer's own ~/.aws and AWS_* variables never take part.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rampart_tests::s3s::S3Server;
use rampart_tests::{CliOutput as Out, rampart_cli};
use serde_json::Value;

const BUCKET: &str = "policies";
const URL: &str = "s3://policies/orders";
const KEY: &str = "orders/policy.json";

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

const COUNTS: &str = "file 3, network 3, process 2, api 2, input 2";

/// A server with one bucket, a working directory and a HOME of its own.
struct World {
    s3: S3Server,
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let s3 = S3Server::start();
        s3.create_bucket(BUCKET);
        World { s3, dir: tempfile::tempdir().unwrap(), home: tempfile::tempdir().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) {
        fs::write(self.path(name), text).unwrap();
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap()
    }

    /// The bytes s3s-fs stored for the policy object, if any.
    fn stored(&self) -> Option<Vec<u8>> {
        fs::read(self.s3.object_path(BUCKET, KEY)).ok()
    }

    /// Runs `rampart` with only `env` (plus HOME).
    fn run_env(&self, args: &[&str], env: &[(String, String)]) -> Out {
        rampart_cli(args, self.home.path(), self.dir.path(), env)
    }

    /// Runs `rampart` with the server's endpoint, credentials and region.
    fn run(&self, args: &[&str]) -> Out {
        self.run_env(args, &self.s3.env())
    }

    /// Runs `rampart` with the server's environment plus `extra`.
    fn run_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Out {
        let mut env = self.s3.env();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.run_env(args, &env)
    }

    /// Makes a key pair in `name`; returns the public key text.
    fn keygen(&self, name: &str) -> String {
        let out = self.run(&["policy", "keygen", "-o", name]);
        out.ok();
        out.stdout.lines().find_map(|l| l.strip_prefix("public key: ")).expect("public key line").to_string()
    }

    fn aws_file(&self, name: &str, text: &str) -> PathBuf {
        let dir = self.home.path().join(".aws");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        path
    }
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn md5_etag_like(s: &str) -> bool {
    let s = s.trim_matches('"');
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

// ---------------------------------------------------------------- push and pull

#[test]
fn push_then_pull_roundtrip_signed() {
    let w = World::new();
    let public = w.keygen("k.secret");
    w.write("p.json", SAMPLE);
    let out = w.run(&["policy", "push", "p.json", URL, "--key", "k.secret"]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "pushed p.json to s3://policies/orders/policy.json", "{}", out.stdout);
    let etag = lines[1].strip_prefix("ETag ").and_then(|l| l.split(';').next()).expect("ETag");
    assert!(md5_etag_like(etag), "{}", out.stdout);
    assert!(lines[1].ends_with(&format!("; mode block; {COUNTS}; signed by {public}")), "{}", out.stdout);
    // Stored byte for byte.
    assert_eq!(w.stored().unwrap(), SAMPLE.as_bytes());

    // Pulled byte for byte, with the signature beside it; verified with the public key.
    let out = w.run(&["policy", "pull", URL, "-o", "got.json", "--pubkey", &public]);
    out.ok();
    assert_eq!(w.read("got.json"), SAMPLE);
    let sig = w.read("got.json.sig");
    assert!(sig.starts_with("ed25519:"), "{sig:?}");
    assert_eq!(
        out.stdout,
        format!(
            "pulled s3://policies/orders/policy.json to got.json and got.json.sig\n\
             ETag {etag}; mode block; {COUNTS}; signature verified with {public}\n"
        )
    );
    // The same signature `policy sign` makes (ed25519 is deterministic).
    w.write("q.json", SAMPLE);
    w.run(&["policy", "sign", "q.json", "--key", "k.secret"]).ok();
    assert_eq!(w.read("q.json.sig"), sig);

    // Standard output gets the bytes only; the summary goes to stderr.
    let out = w.run_with(&["policy", "pull", URL], &[("RAMPART_POLICY_KEY", &public)]);
    out.ok();
    assert_eq!(out.stdout, SAMPLE);
    assert!(out.stderr.contains("signature verified with"), "{}", out.stderr);
    // Without a public key it still pulls, and says the signature was not checked.
    let out = w.run(&["policy", "pull", URL, "-o", "plain.json"]);
    out.ok();
    assert!(out.stdout.contains("signed, not verified: no --pubkey or RAMPART_POLICY_KEY"), "{}", out.stdout);
    assert_eq!(w.read("plain.json.sig"), sig);
}

#[test]
fn push_uses_file_sig_and_pull_removes_a_stale_one() {
    let w = World::new();
    let public = w.keygen("k.secret");
    w.write("p.json", SAMPLE);
    w.run(&["policy", "sign", "p.json", "--key", "k.secret"]).ok();
    // FILE.sig is uploaded as it is, checked first when the public key is known.
    let out = w.run(&["policy", "push", "p.json", URL, "--pubkey", &public]);
    out.ok();
    assert!(out.stdout.contains(&format!("signature from p.json.sig verified with {public}")), "{}", out.stdout);
    w.run(&["policy", "pull", URL, "-o", "got.json", "--pubkey", &public]).ok();
    assert_eq!(w.read("got.json.sig"), w.read("p.json.sig"));

    // A stale FILE.sig is refused when it can be checked: nothing uploaded.
    let changed = SAMPLE.replace("\"mode\": \"block\"", "\"mode\": \"alert\"");
    w.write("p.json", &changed);
    let err = w.run(&["policy", "push", "p.json", URL, "--pubkey", &public]).fails();
    assert!(err.contains("p.json.sig: signature does not match the policy"), "{err}");
    assert!(err.ends_with("nothing uploaded"), "{err}");
    assert_eq!(w.stored().unwrap(), SAMPLE.as_bytes());

    // Unsigned: refused when a public key says signatures are required, else uploaded.
    fs::remove_file(w.path("p.json.sig")).unwrap();
    let err = w.run_with(&["policy", "push", "p.json", URL], &[("RAMPART_POLICY_KEY", &public)]).fails();
    assert!(err.contains("not signed, and RAMPART_POLICY_KEY is set"), "{err}");
    assert_eq!(w.stored().unwrap(), SAMPLE.as_bytes());
    let out = w.run(&["policy", "push", "p.json", URL]);
    out.ok();
    assert!(
        out.stdout.contains("mode alert; file 3, network 3, process 2, api 2, input 2; unsigned"),
        "{}",
        out.stdout
    );
    assert_eq!(w.stored().unwrap(), changed.as_bytes());
    // Pulling the unsigned policy over got.json removes its old signature.
    let out = w.run(&["policy", "pull", URL, "-o", "got.json"]);
    out.ok();
    assert!(out.stdout.contains("(removed the stale got.json.sig)"), "{}", out.stdout);
    assert!(!w.path("got.json.sig").exists());
    assert_eq!(w.read("got.json"), changed);
    // ...and with a public key an unsigned object is refused.
    let err = w.run(&["policy", "pull", URL, "-o", "x.json", "--pubkey", &public]).fails();
    assert!(err.contains("not signed, but --pubkey is set"), "{err}");
    assert!(!w.path("x.json").exists());

    // Something that is not a signature is not uploaded as one.
    w.write("p.json.sig", "hello\n");
    let err = w.run(&["policy", "push", "p.json", URL]).fails();
    assert!(err.contains("p.json.sig: not a signature"), "{err}");
    fs::remove_file(w.path("p.json.sig")).unwrap();

    // A key that is not the expected one is refused before anything is sent.
    let other = w.keygen("other.secret");
    assert_ne!(other, public);
    let err = w.run(&["policy", "push", "p.json", URL, "--key", "other.secret", "--pubkey", &public]).fails();
    assert!(err.contains("other.secret: this secret key belongs to"), "{err}");
    assert_eq!(w.stored().unwrap(), changed.as_bytes());
}

#[test]
fn invalid_policy_is_not_uploaded() {
    let w = World::new();
    w.write("bad.json", &SAMPLE.replace("\"s3:*\"", "\"s3\""));
    let err = w.run(&["policy", "push", "bad.json", URL]).fails();
    assert!(err.starts_with("rampart: bad.json: allow.api[1]: \"s3\":"), "{err}");
    assert!(err.ends_with("(nothing uploaded)"), "{err}");
    assert_eq!(w.stored(), None);
    assert!(!w.s3.root().join(BUCKET).join("orders").exists());
    // Nor over a good one.
    w.write("p.json", SAMPLE);
    w.run(&["policy", "push", "p.json", URL]).ok();
    w.write("bad.json", "{\"version\": 1, \"mode\": \"block\"");
    w.run(&["policy", "push", "bad.json", URL]).fails();
    assert_eq!(w.stored().unwrap(), SAMPLE.as_bytes());
}

#[test]
fn pull_when_there_is_no_policy_yet() {
    let w = World::new();
    let err = w.run(&["policy", "pull", URL, "-o", "p.json"]).fails();
    assert_eq!(
        err,
        "rampart: s3://policies/orders/policy.json: no policy there yet (the layer runs in profile mode until one is pushed with `rampart policy push`)"
    );
    assert!(!w.path("p.json").exists());
    let err = w.run(&["policy", "mode", URL, "block"]).fails();
    assert!(err.contains("no policy there yet (push one first"), "{err}");
    // A location without a prefix is refused: the layer would read another key.
    let err = w.run(&["policy", "pull", "s3://policies"]).fails();
    assert!(err.contains("give the prefix too: s3://policies/PREFIX"), "{err}");
    let err = w.run(&["policy", "pull", "https://policies/x"]).fails();
    assert!(err.contains("not an S3 location"), "{err}");
}

// ---------------------------------------------------------------- mode

#[test]
fn mode_at_s3_changes_only_the_mode() {
    let w = World::new();
    w.write("p.json", SAMPLE);
    w.run(&["policy", "push", "p.json", URL]).ok();
    let out = w.run(&["policy", "mode", URL, "alert"]);
    out.ok();
    assert!(
        out.stdout.starts_with("s3://policies/orders/policy.json: mode alert (was block)\nETag "),
        "{}",
        out.stdout
    );
    assert!(out.stdout.ends_with(&format!("; mode alert; {COUNTS}; unsigned\n")), "{}", out.stdout);
    let mut expected = json(SAMPLE.as_bytes());
    expected["mode"] = "alert".into();
    assert_eq!(json(&w.stored().unwrap()), expected);

    let out = w.run(&["policy", "mode", URL, "block"]);
    out.ok();
    assert_eq!(json(&w.stored().unwrap()), json(SAMPLE.as_bytes()));
    let before = w.stored().unwrap();
    let out = w.run(&["policy", "mode", URL, "block"]);
    out.ok();
    assert_eq!(out.stdout, "s3://policies/orders/policy.json: mode is already block; nothing changed\n");
    assert_eq!(w.stored().unwrap(), before);
    let err = w.run(&["policy", "mode", URL, "off"]).fails();
    assert!(err.contains("expected profile, alert or block"), "{err}");
    assert_eq!(w.stored().unwrap(), before);
}

#[test]
fn mode_on_a_signed_object_needs_the_key() {
    let w = World::new();
    let public = w.keygen("k.secret");
    let _other = w.keygen("other.secret");
    w.write("p.json", SAMPLE);
    w.run(&["policy", "push", "p.json", URL, "--key", "k.secret"]).ok();

    let err = w.run(&["policy", "mode", URL, "alert"]).fails();
    assert!(err.contains("the policy there is signed: give --key SECRET_FILE"), "{err}");
    assert!(err.ends_with("nothing changed"), "{err}");
    assert_eq!(w.stored().unwrap(), SAMPLE.as_bytes());

    // Another key cannot re-sign it: it would vouch for rules it never signed.
    let err = w.run(&["policy", "mode", URL, "alert", "--key", "other.secret"]).fails();
    assert!(err.contains("signature does not match the policy"), "{err}");
    assert_eq!(w.stored().unwrap(), SAMPLE.as_bytes());

    let out = w.run(&["policy", "mode", URL, "alert", "--key", "k.secret"]);
    out.ok();
    assert!(out.stdout.ends_with(&format!("signed by {public}\n")), "{}", out.stdout);
    assert_eq!(json(&w.stored().unwrap())["mode"], "alert");
    // The new object verifies.
    w.run(&["policy", "pull", URL, "-o", "got.json", "--pubkey", &public]).ok();
    assert_eq!(json(w.read("got.json").as_bytes())["mode"], "alert");

    // An unsigned object is not signed blindly.
    w.run(&["policy", "push", "p.json", URL]).ok();
    let err = w.run(&["policy", "mode", URL, "alert", "--key", "k.secret"]).fails();
    assert!(err.contains("the policy there is not signed"), "{err}");
    // With a public key set, an unsigned change is refused too.
    let err = w.run_with(&["policy", "mode", URL, "alert"], &[("RAMPART_POLICY_KEY", &public)]).fails();
    assert!(err.contains("RAMPART_POLICY_KEY is set, so the layer requires signed policies"), "{err}");
    assert_eq!(w.stored().unwrap(), SAMPLE.as_bytes());
}

#[test]
fn tampered_object_fails_verification() {
    let w = World::new();
    let public = w.keygen("k.secret");
    w.write("p.json", SAMPLE);
    w.run(&["policy", "push", "p.json", URL, "--key", "k.secret"]).ok();
    // Someone with write access to the bucket loosens the policy, keeping the metadata.
    let loosened = SAMPLE.replace("\"r /var/task/**\"", "\"rw /**\"");
    fs::write(w.s3.object_path(BUCKET, KEY), &loosened).unwrap();
    w.run(&["policy", "pull", URL, "-o", "plain.json"]).ok();
    assert_eq!(w.read("plain.json"), loosened, "the server serves the changed bytes");
    for out in [
        w.run(&["policy", "pull", URL, "-o", "got.json", "--pubkey", &public]),
        w.run_with(&["policy", "pull", URL, "-o", "got.json"], &[("RAMPART_POLICY_KEY", &public)]),
    ] {
        let err = out.fails();
        assert!(
            err.contains(
                "signature does not match the policy — it was changed after signing or signed with another key"
            ),
            "{err}"
        );
        assert!(err.ends_with("nothing written"), "{err}");
        assert!(!w.path("got.json").exists());
    }
    // A malformed public key is an error, not "no key".
    let err = w.run_with(&["policy", "pull", URL], &[("RAMPART_POLICY_KEY", "ed25519:abc")]).fails();
    assert!(err.contains("RAMPART_POLICY_KEY: public key"), "{err}");
    // A public key in a file works as well as the text.
    w.write("pub.key", &format!("{public}\n"));
    let err = w.run(&["policy", "pull", URL, "--pubkey", "pub.key"]).fails();
    assert!(err.contains("signature does not match"), "{err}");
}

// ---------------------------------------------------------------- errors

#[test]
fn wrong_secret_is_access_denied() {
    let w = World::new();
    w.write("p.json", SAMPLE);
    let mut env = w.s3.env();
    for (k, v) in &mut env {
        if k == "AWS_SECRET_ACCESS_KEY" {
            *v = "not-the-secret".into();
        }
    }
    for args in [&["policy", "push", "p.json", URL][..], &["policy", "pull", URL], &["policy", "mode", URL, "alert"]] {
        let err = w.run_env(args, &env).fails();
        assert!(err.starts_with("rampart: access denied: "), "{err}");
        assert!(err.contains("SignatureDoesNotMatch"), "{err}");
        assert!(err.contains("the secret access key does not belong to the access key id"), "{err}");
    }
    assert_eq!(w.stored(), None);
}

/// A loopback HTTP server that gives every request the same reply and
/// keeps each request's head, for what s3s-fs cannot do: it creates a
/// missing bucket on PUT and answers NoSuchKey under one on GET, where S3
/// answers 404 NoSuchBucket; and its log does not show the signing region.
struct Canned {
    endpoint: String,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Canned {
    fn start(status: &str, headers: &str, body: &str) -> Canned {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let heads = Arc::new(Mutex::new(Vec::new()));
        let reply =
            format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        let seen = Arc::clone(&heads);
        // Serves until the test process exits.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                seen.lock().unwrap().push(head);
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        Canned { endpoint, heads }
    }

    /// The region in each request's credential scope (`Credential=AK/DATE/REGION/s3/aws4_request`).
    fn regions(&self) -> Vec<String> {
        self.heads
            .lock()
            .unwrap()
            .iter()
            .map(|head| {
                let scope = head.split("Credential=").nth(1).expect("a signed request");
                scope.split('/').nth(2).unwrap().to_string()
            })
            .collect()
    }
}

#[test]
fn missing_bucket_is_named() {
    let w = World::new();
    w.write("p.json", SAMPLE);
    let canned = Canned::start(
        "404 Not Found",
        "Content-Type: application/xml\r\n",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket</Code>\
         <Message>The specified bucket does not exist</Message><BucketName>no-such-bucket</BucketName></Error>",
    );
    let endpoint = [("AWS_ENDPOINT_URL", canned.endpoint.as_str())];
    for args in [
        &["policy", "push", "p.json", "s3://no-such-bucket/orders"][..],
        &["policy", "pull", "s3://no-such-bucket/orders"],
        &["policy", "mode", "s3://no-such-bucket/orders", "alert"],
    ] {
        let err = w.run_with(args, &endpoint).fails();
        assert!(err.starts_with("rampart: the bucket no-such-bucket does not exist: "), "{err}");
        assert!(err.contains("NoSuchBucket"), "{err}");
    }
    assert_eq!(canned.regions().len(), 3);
}

#[test]
fn region_comes_from_the_environment_then_the_profile() {
    let w = World::new();
    w.write("p.json", SAMPLE);
    let canned = Canned::start("200 OK", "ETag: \"0123456789abcdef0123456789abcdef\"\r\n", "");
    w.aws_file(
        "credentials",
        "[default]\naws_access_key_id = AK\naws_secret_access_key = SK\n\n\
         [other]\naws_access_key_id = AK2\naws_secret_access_key = SK2\n",
    );
    w.aws_file("config", "[default]\nregion = eu-west-2\n\n[profile other]\nregion = ap-south-1\n");
    let run = |extra: &[(&str, &str)]| {
        let mut env = vec![("AWS_ENDPOINT_URL".to_string(), canned.endpoint.clone())];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let out = w.run_env(&["policy", "push", "p.json", URL], &env);
        out.ok();
        assert!(out.stdout.contains("ETag \"0123456789abcdef0123456789abcdef\""), "{}", out.stdout);
    };
    run(&[]);
    run(&[("AWS_PROFILE", "other")]);
    run(&[("AWS_PROFILE", "other"), ("AWS_DEFAULT_REGION", "ca-central-1")]);
    run(&[("AWS_PROFILE", "other"), ("AWS_DEFAULT_REGION", "ca-central-1"), ("AWS_REGION", "sa-east-1")]);
    assert_eq!(canned.regions(), ["eu-west-2", "ap-south-1", "ca-central-1", "sa-east-1"]);
    // An invalid region in the config file is reported with where it came from.
    w.aws_file("config", "[default]\nregion = EU_WEST\n");
    let err =
        w.run_env(&["policy", "push", "p.json", URL], &[("AWS_ENDPOINT_URL".into(), canned.endpoint.clone())]).fails();
    assert!(err.contains("\"EU_WEST\" (region in [default] of"), "{err}");
    assert!(err.contains("is not a valid AWS region"), "{err}");
    assert_eq!(canned.regions().len(), 4, "nothing sent");
}

#[test]
fn network_failure_is_reported() {
    let w = World::new();
    w.write("p.json", SAMPLE);
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = w
        .run_with(&["policy", "push", "p.json", URL], &[("AWS_ENDPOINT_URL", &format!("http://127.0.0.1:{port}"))])
        .fails();
    assert!(err.starts_with("rampart: network failure: "), "{err}");
}

#[test]
fn no_credentials_says_where_it_looked() {
    let w = World::new();
    w.write("p.json", SAMPLE);
    let env =
        vec![("AWS_ENDPOINT_URL".to_string(), w.s3.endpoint()), ("AWS_REGION".to_string(), "us-east-1".to_string())];
    let err = w.run_env(&["policy", "push", "p.json", URL], &env).fails();
    assert!(err.starts_with("rampart: no AWS credentials found for profile \"default\": looked in "), "{err}");
    assert!(err.contains("--profile or AWS_PROFILE"), "{err}");
    assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
    let credentials = w.home.path().join(".aws/credentials");
    assert!(err.contains(&credentials.display().to_string()), "{err}");
    assert_eq!(w.stored(), None);
}

// ---------------------------------------------------------------- shared config files

fn profile_files(w: &World) {
    // The default profile has a wrong secret: using it would be access denied.
    w.aws_file(
        "credentials",
        &format!(
            "[default]\naws_access_key_id = {ak}\naws_secret_access_key = wrong\n\n\
             [rampart-test]\naws_access_key_id = {ak}\naws_secret_access_key = {sk}\n",
            ak = w.s3.access_key(),
            sk = w.s3.secret_key()
        ),
    );
    w.aws_file("config", "[default]\nregion = eu-west-1\n\n[profile rampart-test]\nregion = us-east-1\n");
}

fn endpoint_only(w: &World, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![("AWS_ENDPOINT_URL".to_string(), w.s3.endpoint())];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

#[test]
fn credentials_from_a_named_profile() {
    let w = World::new();
    profile_files(&w);
    w.write("p.json", SAMPLE);
    let err = w.run_env(&["policy", "push", "p.json", URL], &endpoint_only(&w, &[])).fails();
    assert!(err.contains("access denied"), "the default profile is used without --profile: {err}");
    w.run_env(&["policy", "push", "p.json", URL, "--profile", "rampart-test"], &endpoint_only(&w, &[])).ok();
    assert_eq!(w.stored().unwrap(), SAMPLE.as_bytes());
    w.run_env(&["policy", "pull", URL, "-o", "got.json"], &endpoint_only(&w, &[("AWS_PROFILE", "rampart-test")])).ok();
    assert_eq!(w.read("got.json"), SAMPLE);
    // --profile wins over AWS_PROFILE.
    let err = w
        .run_env(
            &["policy", "pull", URL, "--profile", "default"],
            &endpoint_only(&w, &[("AWS_PROFILE", "rampart-test")]),
        )
        .fails();
    assert!(err.contains("access denied"), "{err}");
    // A profile that is not there is named.
    let err = w.run_env(&["policy", "pull", URL, "--profile", "nope"], &endpoint_only(&w, &[])).fails();
    assert!(err.contains("nope"), "{err}");
    // Files elsewhere, named by AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE.
    let moved = w.dir.path().join("creds");
    fs::rename(w.home.path().join(".aws/credentials"), &moved).unwrap();
    let moved_config = w.dir.path().join("conf");
    fs::rename(w.home.path().join(".aws/config"), &moved_config).unwrap();
    w.run_env(
        &["policy", "pull", URL, "--profile", "rampart-test"],
        &endpoint_only(
            &w,
            &[
                ("AWS_SHARED_CREDENTIALS_FILE", moved.to_str().unwrap()),
                ("AWS_CONFIG_FILE", moved_config.to_str().unwrap()),
            ],
        ),
    )
    .ok();
}
