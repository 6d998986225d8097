//! Runs every case of the AWS Signature Version 4 test suite (header signing).
//!
//! The data is aws-c-auth's `tests/aws-signing-test-suite/v4` (Apache-2.0),
//! copied unchanged into `../shared/testdata/aws-signing-test-suite-v4` next to
//! the workspace (see its SOURCE.md). Each case folder has `context.json`,
//! `request.txt` and the expected `header-canonical-request.txt`,
//! `header-string-to-sign.txt`, `header-signature.txt` and
//! `header-signed-request.txt`, and the same four `query-*` files for query
//! signing (presigned URLs); all are checked.

use std::fs;
use std::path::{Path, PathBuf};

use rampart_sigv4::{
    Credentials, Options, Request, canonical_request, presign_query, presigned_canonical_request, sha256_hex,
    sign_headers, signature, string_to_sign,
};

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/aws-signing-test-suite-v4")
}

/// A request parsed from `request.txt`.
struct HttpRequest {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Parses `METHOD TARGET HTTP/1.1`, `Name:value` lines (a line starting with
/// whitespace continues the previous value, joined with `\n`), a blank line
/// and the body. The target may contain spaces, so the version is cut from
/// the end.
fn parse_request(text: &str) -> HttpRequest {
    let (head, body) = match text.split_once("\n\n") {
        Some((h, b)) => (h, b.as_bytes().to_vec()),
        None => (text.trim_end_matches('\n'), Vec::new()),
    };
    let mut lines = head.split('\n');
    let first = lines.next().expect("request line");
    let (method, rest) = first.split_once(' ').expect("method");
    let (target, _version) = rest.rsplit_once(' ').expect("HTTP version");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let (_, value) = headers.last_mut().expect("continuation line after a header");
            value.push('\n');
            value.push_str(line);
        } else {
            let (name, value) = line.split_once(':').unwrap_or_else(|| panic!("header line {line:?}"));
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    HttpRequest { method: method.to_owned(), path: path.to_owned(), query: query.to_owned(), headers, body }
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
}

/// Runs one case; returns what differed.
fn run_case(dir: &Path) -> Vec<String> {
    let ctx: serde_json::Value = serde_json::from_str(&read(dir, "context.json")).expect("context.json");
    let str_of = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let c = &ctx["credentials"];
    let access_key_id = str_of(&c["access_key_id"]).expect("access_key_id");
    let secret_access_key = str_of(&c["secret_access_key"]).expect("secret_access_key");
    let token = str_of(&c["token"]);
    let region = str_of(&ctx["region"]).expect("region");
    let service = str_of(&ctx["service"]).expect("service");
    let timestamp = str_of(&ctx["timestamp"]).expect("timestamp");
    let flag = |name: &str| ctx[name].as_bool().unwrap_or(false);
    // "2015-08-30T12:36:00Z" -> "20150830T123600Z"
    let amz_date: String = timestamp.chars().filter(|&ch| ch != '-' && ch != ':').collect();
    assert_eq!(amz_date.len(), 16, "timestamp {timestamp:?}");

    let creds = Credentials {
        access_key_id: &access_key_id,
        secret_access_key: &secret_access_key,
        session_token: token.as_deref(),
    };
    let opts = Options {
        normalize_path: ctx["normalize"].as_bool().unwrap_or(true),
        encode_path: service != "s3",
        omit_session_token: flag("omit_session_token"),
        sign_payload_header: flag("sign_body"),
    };
    let http = parse_request(&read(dir, "request.txt"));
    let headers: Vec<(&str, &str)> = http.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let payload = sha256_hex(&http.body);
    let req = Request {
        method: &http.method,
        path: &http.path,
        query: &http.query,
        headers: &headers,
        payload_sha256: &payload,
    };

    let mut diffs = Vec::new();
    let mut check = |what: &str, got: &str, want: &str| {
        if got != want {
            diffs.push(format!("{what}:\n--- got\n{got}\n--- want\n{want}"));
        }
    };
    let creq = canonical_request(&req, &creds, &amz_date, &opts);
    check("canonical request", &creq, &read(dir, "header-canonical-request.txt"));
    let sts = string_to_sign(&creq, &amz_date, &region, &service);
    check("string to sign", &sts, &read(dir, "header-string-to-sign.txt"));
    let sig = signature(&secret_access_key, &amz_date, &region, &service, &sts);
    check("signature", &sig, read(dir, "header-signature.txt").trim_end());

    // The signed request is the original plus exactly the headers we add.
    let signed = parse_request(&read(dir, "header-signed-request.txt"));
    let mut want_added: Vec<(String, String)> = signed
        .headers
        .iter()
        .filter(|h| !http.headers.contains(h))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    let mut got_added: Vec<(String, String)> = sign_headers(&req, &creds, &region, &service, &amz_date, &opts)
        .into_iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .collect();
    want_added.sort();
    got_added.sort();
    check("added headers", &format!("{got_added:#?}"), &format!("{want_added:#?}"));

    // Query signing (presigned URL).
    let expires = ctx["expiration_in_seconds"].as_u64().expect("expiration_in_seconds");
    let creq = presigned_canonical_request(&req, &creds, &region, &service, &amz_date, expires, &opts);
    check("query canonical request", &creq, &read(dir, "query-canonical-request.txt"));
    let sts = string_to_sign(&creq, &amz_date, &region, &service);
    check("query string to sign", &sts, &read(dir, "query-string-to-sign.txt"));
    let sig = signature(&secret_access_key, &amz_date, &region, &service, &sts);
    check("query signature", &sig, read(dir, "query-signature.txt").trim_end());
    let signed = parse_request(&read(dir, "query-signed-request.txt"));
    let query = presign_query(&req, &creds, &region, &service, &amz_date, expires, &opts);
    check("signed query", &query, &signed.query);
    check("headers of the presigned request", &format!("{:?}", signed.headers), &format!("{:?}", http.headers));
    diffs
}

#[test]
fn aws_signing_test_suite_v4() {
    let root = suite_dir();
    assert!(
        root.is_dir(),
        "AWS SigV4 test suite not found at {}: it is aws-c-auth's tests/aws-signing-test-suite/v4 \
         (https://github.com/awslabs/aws-c-auth, Apache-2.0), kept in ../shared/testdata next to the workspace",
        root.display()
    );
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .expect("read suite dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("context.json").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 38, "expected at least 38 cases in {}, found {}", root.display(), cases.len());

    let mut failures = Vec::new();
    for dir in &cases {
        let diffs = run_case(dir);
        if !diffs.is_empty() {
            failures.push(format!("{}:\n{}", dir.file_name().unwrap().to_string_lossy(), diffs.join("\n")));
        }
    }
    eprintln!("sigv4 suite: {} of {} cases pass", cases.len() - failures.len(), cases.len());
    assert!(failures.is_empty(), "{} of {} cases fail:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}
