//! The S3 servers the policy-fetch suites run against: the s3s-fs launcher
//! ([`rampart_tests::s3s`]) and the misbehaving stand-in
//! ([`rampart_tests::faulty_s3`]).
//!
//! s3s-fs's behaviour that the suites build on (the points listed in
//! `tests/src/s3s.rs`) is pinned here with requests signed by botocore, an
//! independent signer, so a different s3s-fs version that changes it fails
//! here first rather than as a puzzling fetcher failure. s3s-fs and botocore
//! must be installed (`cargo xtask test` installs both); without them these
//! tests fail, they never pass silently.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rampart_tests::faulty_s3::{FAULT_ETAG, Fault, FaultyS3, GARBAGE_BODY};
use rampart_tests::s3s::{REGION, S3Server, TEST_ACCESS_KEY, TEST_SECRET_KEY};
use serde_json::Value;

// ---------------------------------------------------------------- raw HTTP

/// A response as read off the wire.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Whether the body ended early (connection closed before Content-Length).
    short: bool,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 connection to a loopback server.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(endpoint: &str) -> Conn {
        let addr = endpoint.strip_prefix("http://").expect("http endpoint");
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
        Conn { writer: stream.try_clone().expect("clone stream"), reader: BufReader::new(stream) }
    }

    fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        self.writer.write_all(request.as_bytes()).expect("send request");
    }

    /// Reads a response head; `Err` when the read fails (timeout, reset).
    fn read_head(&mut self) -> std::io::Result<(u16, Vec<(String, String)>)> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status line");
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                return Ok((status, headers));
            }
            let (name, value) = line.split_once(':').expect("header line");
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }

    fn read_response(&mut self, head_only: bool) -> Response {
        let (status, headers) = self.read_head().expect("response head");
        let length = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse::<usize>().expect("content-length"));
        let mut body = Vec::new();
        let mut short = false;
        if !head_only && status != 304 {
            let length = length.expect("every answer has a Content-Length");
            self.reader.by_ref().take(length as u64).read_to_end(&mut body).expect("read body");
            short = body.len() < length;
        }
        Response { status, headers, body, short }
    }

    fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        self.send(method, path, headers);
        self.read_response(method == "HEAD")
    }

    /// Whether the server closed the connection (read gives EOF).
    fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.reader.read(&mut byte), Ok(0))
    }
}

fn get(endpoint: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    Conn::open(endpoint).request("GET", path, headers)
}

/// The `<Code>` of an S3 XML error body.
fn error_code(body: &str) -> Option<&str> {
    let start = body.find("<Code>")? + "<Code>".len();
    let end = body[start..].find("</Code>")? + start;
    Some(&body[start..end])
}

// ----------------------------------------------------------------- s3s-fs

#[test]
fn s3s_fs_answers_on_loopback_and_rejects_unsigned_requests() {
    let server = S3Server::start();
    assert!(server.endpoint().starts_with("http://127.0.0.1:"), "{}", server.endpoint());
    server.create_bucket("bkt");
    assert!(server.root().join("bkt").is_dir());
    assert_eq!(server.object_path("bkt", "a/policy.json"), server.root().join("bkt/a/policy.json"));

    let response = get(&server.endpoint(), "/bkt/a/policy.json", &[]);
    assert_eq!(response.status, 403, "{response:?}");
    assert_eq!(error_code(&response.text()), Some("AccessDenied"), "{}", response.text());
}

#[test]
fn s3s_fs_env_names_endpoint_keys_and_region() {
    let server = S3Server::start_with("AKIDOTHER", "other-secret");
    assert_eq!((server.access_key(), server.secret_key()), ("AKIDOTHER", "other-secret"));
    let env = server.env();
    let var = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    assert_eq!(var("AWS_ENDPOINT_URL"), Some(server.endpoint().as_str()));
    assert_eq!(var("AWS_ACCESS_KEY_ID"), Some("AKIDOTHER"));
    assert_eq!(var("AWS_SECRET_ACCESS_KEY"), Some("other-secret"));
    assert_eq!(var("AWS_REGION"), Some(REGION));
    assert_eq!(env.len(), 4, "{env:?}");
}

#[test]
fn s3s_fs_servers_run_side_by_side_and_stop_on_drop() {
    let one = S3Server::start();
    let two = S3Server::start();
    assert_ne!(one.port(), two.port());
    assert_ne!(one.root(), two.root());
    let (port, root) = (one.port(), one.root());
    drop(one);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "s3s-fs still listens on {port} after drop");
    assert!(!root.exists(), "{} left behind", root.display());
    assert_eq!(get(&two.endpoint(), "/", &[]).status, 403);
}

/// Runs requests against s3s-fs signed by botocore; prints one JSON object:
/// label -> {status, code, etag, meta, body}.
const BOTOCORE_PROBE: &str = r#"
import sys, json, hashlib, http.client
try:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError as e:
    sys.stderr.write("botocore is not importable: %s\n" % e)
    sys.exit(3)
port, ak, sk, region = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

def req(method, path, body=b"", headers=None, secret=None, token=None, key=None, alter=None):
    r = AWSRequest(method=method, url="http://127.0.0.1:%d%s" % (port, path), data=body, headers=dict(headers or {}))
    r.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    S3SigV4Auth(Credentials(key or ak, secret or sk, token), "s3", region).add_auth(r)
    p = r.prepare()
    sent = dict(p.headers)
    sent.update(alter or {})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=sent)
    resp = c.getresponse()
    data = resp.read().decode("utf-8", "replace")
    h = dict((k.lower(), v) for k, v in resp.getheaders())
    code = data.split("<Code>")[1].split("</Code>")[0] if "<Code>" in data else None
    meta = dict((k[len("x-amz-meta-"):], v) for k, v in h.items() if k.startswith("x-amz-meta-"))
    return {"status": resp.status, "code": code, "etag": h.get("etag"), "meta": meta, "body": data}

out = {}
body = b'{"version": 1, "mode": "alert"}'
out["put"] = req("PUT", "/bkt/fn/policy.json", body, {"x-amz-meta-rampart-sha256": "abc", "x-amz-meta-Mixed": "V"})
out["get"] = req("GET", "/bkt/fn/policy.json")
out["head"] = req("HEAD", "/bkt/fn/policy.json")
out["get_if_none_match"] = req("GET", "/bkt/fn/policy.json", headers={"If-None-Match": out["get"]["etag"] or '"x"'})
out["get_wrong_secret"] = req("GET", "/bkt/fn/policy.json", secret="wrong-secret")
out["get_session_token"] = req("GET", "/bkt/fn/policy.json", token="FwoGZXIvYXdzEXAMPLETOKEN")
out["get_unknown_key"] = req("GET", "/bkt/fn/policy.json", key="AKIDUNKNOWN")
out["get_token_altered"] = req("GET", "/bkt/fn/policy.json", token="T1", alter={"X-Amz-Security-Token": "T2"})
out["put_if_none_match_star"] = req("PUT", "/bkt/fn/policy.json", b"{}", {"If-None-Match": "*"})
out["put_missing_bucket"] = req("PUT", "/newbucket/fn/policy.json", b"{}")
out["get_missing_key"] = req("GET", "/bkt/fn/none.json")
out["get_missing_bucket_key"] = req("GET", "/nobucket/fn/policy.json")
out["list_missing_bucket"] = req("GET", "/nobucket2?list-type=2")
out["md5"] = hashlib.md5(body).hexdigest()
print(json.dumps(out))
"#;

#[test]
fn s3s_fs_behaviour_the_suites_rely_on() {
    let server = S3Server::start();
    server.create_bucket("bkt");
    let output = Command::new("python3")
        .args(["-c", BOTOCORE_PROBE, &server.port().to_string(), TEST_ACCESS_KEY, TEST_SECRET_KEY, REGION])
        .stdin(Stdio::null())
        .output()
        .expect("run python3 (is it installed?)");
    assert!(
        output.status.success(),
        "botocore probe failed ({}; `cargo xtask test` installs botocore): {}\n--- s3s-fs ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );
    let results: Value = serde_json::from_slice(&output.stdout).expect("probe output is JSON");
    let r = |label: &str| results[label].clone();
    let etag = format!("\"{}\"", results["md5"].as_str().expect("md5"));

    // (b) ETag is the quoted MD5 on PUT and GET; the bytes land in object_path.
    assert_eq!(r("put")["status"], 200, "{}", r("put"));
    assert_eq!(r("put")["etag"], etag.as_str());
    assert_eq!(r("get")["status"], 200, "{}", r("get"));
    assert_eq!(r("get")["etag"], etag.as_str());
    assert_eq!(r("get")["body"], r#"{"version": 1, "mode": "alert"}"#);
    let stored = std::fs::read(server.object_path("bkt", "fn/policy.json")).expect("object file");
    assert_eq!(stored, br#"{"version": 1, "mode": "alert"}"#);
    // (d) user metadata comes back, names lowercased, on GET and HEAD.
    for label in ["get", "head"] {
        assert_eq!(r(label)["meta"]["rampart-sha256"], "abc", "{label}: {}", r(label));
        assert_eq!(r(label)["meta"]["mixed"], "V", "{label}: {}", r(label));
    }
    // (c) If-None-Match is ignored: a matching tag still gets 200 and the body.
    assert_eq!(r("get_if_none_match")["status"], 200, "s3s-fs now honours If-None-Match: update s3s.rs's notes");
    // (a) a wrong secret is a 403 SignatureDoesNotMatch.
    assert_eq!(r("get_wrong_secret")["status"], 403);
    assert_eq!(r("get_wrong_secret")["code"], "SignatureDoesNotMatch");
    assert_eq!(
        (r("get_unknown_key")["status"].clone(), r("get_unknown_key")["code"].clone()),
        (403.into(), "NotSignedUp".into())
    );
    // (e) a signed session token is accepted (and not checked), but it is
    // part of the signature.
    assert_eq!(r("get_session_token")["status"], 200, "{}", r("get_session_token"));
    assert_eq!(r("get_token_altered")["code"], "SignatureDoesNotMatch", "{}", r("get_token_altered"));
    // Conditional PUT works; the object is unchanged.
    assert_eq!(r("put_if_none_match_star")["status"], 412, "{}", r("put_if_none_match_star"));
    assert_eq!(r("put_if_none_match_star")["code"], "PreconditionFailed");
    // (f) and (g): NoSuchKey for a missing key, even under a missing bucket.
    assert_eq!(
        (r("get_missing_key")["status"].clone(), r("get_missing_key")["code"].clone()),
        (404.into(), "NoSuchKey".into())
    );
    assert_eq!(
        (r("get_missing_bucket_key")["status"].clone(), r("get_missing_bucket_key")["code"].clone()),
        (404.into(), "NoSuchKey".into())
    );
    assert_eq!(r("list_missing_bucket")["code"], "NoSuchBucket", "{}", r("list_missing_bucket"));
    // A PUT under a missing bucket creates it.
    assert_eq!(r("put_missing_bucket")["status"], 200, "{}", r("put_missing_bucket"));
    assert_eq!(std::fs::read(server.object_path("newbucket", "fn/policy.json")).expect("object file"), b"{}");
}

// -------------------------------------------------------------- faulty S3

const POLICY: &[u8] = br#"{"version": 1, "mode": "block", "allow": {"file": ["r /tmp/**"]}}"#;

fn faulty_with_object() -> FaultyS3 {
    let server = FaultyS3::start();
    server.set_object(POLICY, "etag-1", &[("rampart-sha256", "abc"), ("Owner", "ops")]);
    server
}

#[test]
fn faulty_serves_the_object_with_etag_and_metadata() {
    let server = faulty_with_object();
    assert!(server.endpoint().starts_with("http://127.0.0.1:"));
    let response = get(&server.endpoint(), "/bkt/fn/policy.json", &[]);
    assert_eq!(response.status, 200);
    assert_eq!(response.body, POLICY);
    assert_eq!(response.header("etag"), Some("\"etag-1\""));
    assert_eq!(response.header("x-amz-meta-rampart-sha256"), Some("abc"));
    assert_eq!(response.header("x-amz-meta-owner"), Some("ops"));
    // Any path serves the same object.
    assert_eq!(get(&server.endpoint(), "/other/key?x=1", &[]).body, POLICY);
}

#[test]
fn faulty_answers_304_only_for_the_current_etag() {
    let server = faulty_with_object();
    let endpoint = server.endpoint();
    let same = get(&endpoint, "/b/k", &[("If-None-Match", "\"etag-1\"")]);
    assert_eq!(same.status, 304);
    assert!(same.body.is_empty());
    assert_eq!(same.header("etag"), Some("\"etag-1\""));
    assert_eq!(get(&endpoint, "/b/k", &[("If-None-Match", "\"etag-0\"")]).status, 200);

    server.set_object(b"{\"version\": 1}", "\"etag-2\"", &[]);
    let changed = get(&endpoint, "/b/k", &[("If-None-Match", "\"etag-1\"")]);
    assert_eq!(changed.status, 200);
    assert_eq!(changed.body, b"{\"version\": 1}");
    assert_eq!(changed.header("etag"), Some("\"etag-2\""));
}

#[test]
fn faulty_404s_without_an_object() {
    let server = faulty_with_object();
    server.remove_object();
    let response = get(&server.endpoint(), "/b/k", &[]);
    assert_eq!(response.status, 404);
    assert_eq!(error_code(&response.text()), Some("NoSuchKey"));
    assert_eq!(response.header("content-type"), Some("application/xml"));
    let fresh = FaultyS3::start();
    assert_eq!(get(&fresh.endpoint(), "/b/k", &[]).status, 404);
}

#[test]
fn faulty_keeps_connections_alive_and_records_requests() {
    let server = faulty_with_object();
    let mut conn = Conn::open(&server.endpoint());
    for i in 0..3 {
        let response = conn.request("GET", &format!("/bkt/k{i}"), &[("X-Amz-Date", "20260101T000000Z")]);
        assert_eq!(response.status, 200);
        assert_eq!(response.body, POLICY);
    }
    let head = conn.request("HEAD", "/bkt/k", &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(POLICY.len().to_string().as_str()));
    let last = conn.request("GET", "/bkt/last", &[("Connection", "close")]);
    assert_eq!(last.status, 200);
    assert!(conn.closed(), "Connection: close was not honoured");

    let requests = server.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/bkt/k0", "/bkt/k1", "/bkt/k2", "/bkt/k", "/bkt/last"]);
    assert_eq!(requests[3].method, "HEAD");
    assert_eq!(requests[0].header("x-amz-date"), Some("20260101T000000Z"));
    assert_eq!(requests[0].header("X-AMZ-DATE"), Some("20260101T000000Z"));
    assert!(requests[0].headers.iter().any(|(n, _)| n == "x-amz-date"), "names are lowercased");
    server.clear_requests();
    assert!(server.requests().is_empty());
}

#[test]
fn faulty_status_faults_send_s3_error_bodies() {
    let server = faulty_with_object();
    for (status, code) in [(403, "AccessDenied"), (500, "InternalError"), (503, "SlowDown")] {
        server.set_fault(Fault::Status(status));
        let response = get(&server.endpoint(), "/b/k", &[]);
        assert_eq!(response.status, status);
        assert_eq!(error_code(&response.text()), Some(code), "{}", response.text());
        assert_eq!(response.header("etag"), None);
    }
    server.set_fault(Fault::None);
    assert_eq!(get(&server.endpoint(), "/b/k", &[]).status, 200);
}

#[test]
fn faulty_hang_holds_the_answer_until_the_fault_changes() {
    let server = faulty_with_object();
    server.set_fault(Fault::Hang);
    let mut conn = Conn::open(&server.endpoint());
    conn.writer.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
    conn.send("GET", "/b/k", &[]);
    let started = Instant::now();
    let err = conn.read_head().expect_err("a hanging server answered");
    assert!(matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(server.wait_for_requests(1, Duration::from_secs(5)), "the request was not recorded");

    server.set_fault(Fault::None);
    conn.writer.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let response = conn.read_response(false);
    assert_eq!((response.status, response.body.as_slice()), (200, POLICY));
}

#[test]
fn faulty_drop_closes_hanging_connections() {
    let server = faulty_with_object();
    server.set_fault(Fault::Hang);
    let mut conn = Conn::open(&server.endpoint());
    conn.send("GET", "/b/k", &[]);
    assert!(server.wait_for_requests(1, Duration::from_secs(5)));
    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(5), "drop took {:?}", started.elapsed());
    assert!(conn.closed(), "the hanging connection stayed open after drop");
}

#[test]
fn faulty_truncate_sends_half_the_body_then_closes() {
    let server = faulty_with_object();
    server.set_fault(Fault::Truncate);
    let mut conn = Conn::open(&server.endpoint());
    let response = conn.request("GET", "/b/k", &[]);
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-length"), Some(POLICY.len().to_string().as_str()));
    assert!(response.short);
    assert_eq!(response.body, &POLICY[..POLICY.len() / 2]);
    assert!(conn.closed());
}

#[test]
fn faulty_huge_streams_fifty_megabytes() {
    const SIZE: usize = 50 * 1000 * 1000;
    let server = faulty_with_object();
    server.set_fault(Fault::Huge(SIZE));
    let mut conn = Conn::open(&server.endpoint());
    conn.send("GET", "/b/k", &[]);
    let (status, headers) = conn.read_head().expect("head");
    assert_eq!(status, 200);
    let length = headers.iter().find(|(n, _)| n == "content-length").map(|(_, v)| v.as_str());
    assert_eq!(length, Some(SIZE.to_string().as_str()));
    assert!(headers.iter().any(|(n, v)| n == "etag" && v == FAULT_ETAG));
    let mut counted = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    while counted < SIZE {
        let n = conn.reader.read(&mut buf).expect("read body");
        assert!(n > 0, "body ended at {counted} of {SIZE}");
        counted += n;
    }
    assert_eq!(counted, SIZE);
    // Still usable afterwards (keep-alive).
    server.set_fault(Fault::None);
    assert_eq!(conn.request("GET", "/b/k", &[]).body, POLICY);

    // A client that gives up early does not wedge the server.
    server.set_fault(Fault::Huge(SIZE));
    let mut quitter = Conn::open(&server.endpoint());
    quitter.send("GET", "/b/k", &[]);
    quitter.read_head().expect("head");
    drop(quitter);
    server.set_fault(Fault::None);
    assert_eq!(get(&server.endpoint(), "/b/k", &[]).status, 200);
}

#[test]
fn faulty_garbage_is_not_json() {
    let server = faulty_with_object();
    server.set_fault(Fault::Garbage);
    let response = get(&server.endpoint(), "/b/k", &[("If-None-Match", "\"etag-1\"")]);
    assert_eq!(response.status, 200);
    assert_eq!(response.body, GARBAGE_BODY);
    assert!(serde_json::from_slice::<Value>(&response.body).is_err());
    assert_eq!(response.header("etag"), Some(FAULT_ETAG));
}
