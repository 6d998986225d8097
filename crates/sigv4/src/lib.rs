//! AWS Signature Version 4 header signing, as S3 needs it.
//!
//! The layer signs S3 `GET`/`HEAD` requests for the policy object and the CLI
//! signs `PUT`s (issue 4). This crate does the signing only: no HTTP, no clock,
//! no credential lookup. It is safe Rust on top of RustCrypto's `sha2` and `hmac`.
//!
//! # Use
//!
//! ```
//! use rampart_sigv4::{amz_date, sign_headers, Credentials, Options, Request, EMPTY_SHA256};
//!
//! let creds = Credentials { access_key_id: "AKID", secret_access_key: "secret", session_token: Some("token") };
//! let req = Request {
//!     method: "GET",
//!     path: "/prefix/policy.json",
//!     query: "",
//!     headers: &[("host", "bucket.s3.us-east-1.amazonaws.com")],
//!     payload_sha256: EMPTY_SHA256,
//! };
//! let date = amz_date(1_764_280_000);
//! let added = sign_headers(&req, &creds, "us-east-1", "s3", &date, &Options::S3);
//! // Send the request with its own headers plus `added`:
//! // X-Amz-Date, X-Amz-Security-Token, x-amz-content-sha256, Authorization.
//! assert_eq!(added.len(), 4);
//! ```
//!
//! # The request
//!
//! [`Request`] describes the request exactly as it goes on the wire:
//!
//! - `path`: the path as sent, already URI-encoded (for S3: `/` + the key
//!   encoded with [`uri_encode`] keeping `/`, prefixed by `/bucket` for
//!   path-style addressing). S3 signs it unchanged
//!   ([`Options::S3`]); other services normalise it (`.`, `..`, `//`) and
//!   encode it once more ([`Options::SERVICE`]).
//! - `query`: the raw query string as sent, without `?` (build it with
//!   [`encode_query`]). Each key and value is percent-decoded and re-encoded
//!   per RFC 3986 (unreserved `A-Za-z0-9-._~` kept), then the pairs are sorted
//!   by key, then value. A `+` is a literal plus, not a space.
//! - `headers`: every header given is signed. Include `host`. The names
//!   `authorization`, `x-amz-date`, `x-amz-security-token` and
//!   `x-amz-content-sha256` are ignored here: the signer supplies them.
//! - `payload_sha256`: lowercase hex SHA-256 of the body ([`sha256_hex`],
//!   [`EMPTY_SHA256`]) or `UNSIGNED-PAYLOAD`.
//!
//! Canonical headers: names lowercased, values trimmed with every run of
//! whitespace (spaces, tabs, folded line breaks) turned into one space,
//! repeated names joined with `,` in the order given, sorted by name.
//!
//! # Steps
//!
//! [`canonical_request`] → [`string_to_sign`] → [`signature`] (with
//! [`signing_key`]); [`sign_headers`] does all three and returns the headers
//! to add. [`amz_date`] formats a Unix time as `YYYYMMDDTHHMMSSZ`.
//!
//! Query signing (presigned URLs) is there too: [`presigned_canonical_request`]
//! and [`presign_query`], which returns the query string to send.
//!
//! Tested against the AWS signing test suite (aws-c-auth's copy in
//! `../shared/testdata/aws-signing-test-suite-v4`, all 38 cases, header and
//! query signing) and the S3 API reference's GET Object and presigned GET examples.
#![forbid(unsafe_code)]

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The algorithm name in the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Hex SHA-256 of the empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The payload hash that tells S3 the body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// AWS credentials; `session_token` is set for temporary credentials (Lambda's).
#[derive(Clone, Copy, Debug)]
pub struct Credentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: Option<&'a str>,
}

/// The request to sign, as it is sent (see the crate documentation).
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// `GET`, `HEAD`, `PUT`, ...
    pub method: &'a str,
    /// The path as sent, already URI-encoded.
    pub path: &'a str,
    /// The raw query string as sent, without `?`; empty for none.
    pub query: &'a str,
    /// The headers to sign (name, value); must include `host`.
    pub headers: &'a [(&'a str, &'a str)],
    /// Lowercase hex SHA-256 of the body, or [`UNSIGNED_PAYLOAD`].
    pub payload_sha256: &'a str,
}

/// How a service wants its requests canonicalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Remove `.` and `..` segments and empty segments (`//`) from the path. S3: false.
    pub normalize_path: bool,
    /// URI-encode the (already encoded) path once more. S3: false.
    pub encode_path: bool,
    /// Add `X-Amz-Security-Token` after signing instead of signing it.
    pub omit_session_token: bool,
    /// Send and sign `x-amz-content-sha256` (the payload hash). S3 requires it.
    pub sign_payload_header: bool,
}

impl Options {
    /// S3: path signed as sent, payload hash header signed.
    pub const S3: Options =
        Options { normalize_path: false, encode_path: false, omit_session_token: false, sign_payload_header: true };
    /// Every other service: path normalised and encoded once more.
    pub const SERVICE: Options =
        Options { normalize_path: true, encode_path: true, omit_session_token: false, sign_payload_header: false };
}

/// Formats a Unix time (seconds, UTC) as `YYYYMMDDTHHMMSSZ`.
pub fn amz_date(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let rem = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Howard Hinnant's `civil_from_days` for days since 1970-01-01 (no negatives).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Lowercase hex SHA-256 of `data` (the payload hash).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// RFC 3986 percent-encoding: everything but `A-Za-z0-9-._~` (and `/` unless
/// `encode_slash`) becomes `%XX` with upper-case hex.
pub fn uri_encode(bytes: &[u8], encode_slash: bool) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || (b == b'/' && !encode_slash) {
            s.push(char::from(b));
        } else {
            s.push('%');
            s.push(char::from(DIGITS[usize::from(b >> 4)]));
            s.push(char::from(DIGITS[usize::from(b & 15)]));
        }
    }
    s
}

/// Builds a query string from decoded (key, value) pairs, encoding both with
/// [`uri_encode`]; what [`Request::query`] expects.
pub fn encode_query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&uri_encode(k.as_bytes(), true));
        out.push('=');
        out.push_str(&uri_encode(v.as_bytes(), true));
    }
    out
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits stays as is.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (b.get(i + 1).and_then(|&c| hex_val(c)), b.get(i + 2).and_then(|&c| hex_val(c)))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex_val(c: u8) -> Option<u8> {
    char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// The canonical URI: the path, normalised and encoded once more as `opts` say.
pub fn canonical_path(path: &str, opts: &Options) -> String {
    let normalized;
    let path = if opts.normalize_path {
        normalized = normalize_path(path);
        normalized.as_str()
    } else {
        path
    };
    let path = if path.is_empty() { "/" } else { path };
    if opts.encode_path { uri_encode(path.as_bytes(), false) } else { path.to_owned() }
}

/// Removes `.`, `..` and empty segments; keeps a trailing `/`.
fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for seg in &segments {
        out.push('/');
        out.push_str(seg);
    }
    if segments.is_empty() || path.ends_with('/') {
        out.push('/');
    }
    out
}

/// The canonical query string: pairs decoded, re-encoded, sorted, `&`-joined.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&percent_decode(k), true), uri_encode(&percent_decode(v), true))
        })
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Header names the signer supplies itself; ignored in [`Request::headers`].
const SIGNER_HEADERS: [&str; 4] = ["authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"];

/// Trims and turns every run of whitespace (including folded lines) into one space.
fn canonical_value(value: &str) -> String {
    value.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
}

/// The request's own headers, lowercased and normalised, minus [`SIGNER_HEADERS`].
fn request_headers(req: &Request<'_>) -> Vec<(String, String)> {
    req.headers
        .iter()
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), canonical_value(v)))
        .filter(|(n, _)| !SIGNER_HEADERS.contains(&n.as_str()))
        .collect()
}

/// Sorts by name (stable: repeated names keep their order) and joins repeated names with `,`.
fn join_headers(mut all: Vec<(String, String)>) -> Vec<(String, String)> {
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let mut joined: Vec<(String, String)> = Vec::with_capacity(all.len());
    for (name, value) in all {
        match joined.last_mut() {
            Some((last, v)) if *last == name => {
                v.push(',');
                v.push_str(&value);
            }
            _ => joined.push((name, value)),
        }
    }
    joined
}

/// The headers signed by header signing, as sorted (name, joined value) pairs.
fn canonical_headers(
    req: &Request<'_>,
    creds: &Credentials<'_>,
    amz_date: &str,
    opts: &Options,
) -> Vec<(String, String)> {
    let mut all = request_headers(req);
    all.push(("x-amz-date".to_owned(), amz_date.to_owned()));
    if let Some(token) = creds.session_token
        && !opts.omit_session_token
    {
        all.push(("x-amz-security-token".to_owned(), canonical_value(token)));
    }
    if opts.sign_payload_header {
        all.push(("x-amz-content-sha256".to_owned(), req.payload_sha256.to_owned()));
    }
    join_headers(all)
}

fn signed_header_names(headers: &[(String, String)]) -> String {
    headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(";")
}

fn build_canonical_request(req: &Request<'_>, query: &str, headers: &[(String, String)], opts: &Options) -> String {
    let mut out = String::new();
    out.push_str(req.method);
    out.push('\n');
    out.push_str(&canonical_path(req.path, opts));
    out.push('\n');
    out.push_str(&canonical_query(query));
    out.push('\n');
    for (name, value) in headers {
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_header_names(headers));
    out.push('\n');
    out.push_str(req.payload_sha256);
    out
}

/// The canonical request (task 1 of the AWS docs) for header signing.
pub fn canonical_request(req: &Request<'_>, creds: &Credentials<'_>, amz_date: &str, opts: &Options) -> String {
    build_canonical_request(req, req.query, &canonical_headers(req, creds, amz_date, opts), opts)
}

/// The date part (`YYYYMMDD`) of an `amz_date`.
fn date_of(amz_date: &str) -> &str {
    amz_date.get(..8).unwrap_or(amz_date)
}

/// `YYYYMMDD/region/service/aws4_request`.
pub fn credential_scope(amz_date: &str, region: &str, service: &str) -> String {
    format!("{}/{region}/{service}/aws4_request", date_of(amz_date))
}

/// The string to sign (task 2) for a canonical request.
pub fn string_to_sign(canonical_request: &str, amz_date: &str, region: &str, service: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        credential_scope(amz_date, region, service),
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The signing key (task 3): HMAC chain over date, region, service, `aws4_request`.
/// Callers may cache it for a day per region and service.
pub fn signing_key(secret_access_key: &str, amz_date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret_access_key}").as_bytes(), date_of(amz_date).as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The hex signature of a string to sign (task 4).
pub fn signature(secret_access_key: &str, amz_date: &str, region: &str, service: &str, string_to_sign: &str) -> String {
    hex(&hmac(&signing_key(secret_access_key, amz_date, region, service), string_to_sign.as_bytes()))
}

/// Signs `req` and returns the headers to add to it: `X-Amz-Date`,
/// `X-Amz-Security-Token` (when the credentials have a token),
/// `x-amz-content-sha256` (when `opts.sign_payload_header`) and `Authorization`.
pub fn sign_headers(
    req: &Request<'_>,
    creds: &Credentials<'_>,
    region: &str,
    service: &str,
    amz_date: &str,
    opts: &Options,
) -> Vec<(String, String)> {
    let creq = canonical_request(req, creds, amz_date, opts);
    let sts = string_to_sign(&creq, amz_date, region, service);
    let sig = signature(creds.secret_access_key, amz_date, region, service, &sts);
    let signed = signed_header_names(&canonical_headers(req, creds, amz_date, opts));
    let mut out = vec![("X-Amz-Date".to_owned(), amz_date.to_owned())];
    if let Some(token) = creds.session_token {
        out.push(("X-Amz-Security-Token".to_owned(), token.to_owned()));
    }
    if opts.sign_payload_header {
        out.push(("x-amz-content-sha256".to_owned(), req.payload_sha256.to_owned()));
    }
    out.push((
        "Authorization".to_owned(),
        format!(
            "{ALGORITHM} Credential={}/{}, SignedHeaders={signed}, Signature={sig}",
            creds.access_key_id,
            credential_scope(amz_date, region, service)
        ),
    ));
    out
}

/// A query parameter name and its decoded value.
type QueryParam = (&'static str, String);

/// The query parameters of a presigned request, in the order they are sent,
/// without `X-Amz-Signature`, plus the signed header names.
fn presign_params(
    req: &Request<'_>,
    creds: &Credentials<'_>,
    scope: &str,
    amz_date: &str,
    expires_secs: u64,
) -> (Vec<QueryParam>, Vec<(String, String)>) {
    let headers = join_headers(request_headers(req));
    let mut params = vec![
        ("X-Amz-Algorithm", ALGORITHM.to_owned()),
        ("X-Amz-Credential", format!("{}/{scope}", creds.access_key_id)),
        ("X-Amz-Date", amz_date.to_owned()),
        ("X-Amz-SignedHeaders", signed_header_names(&headers)),
        ("X-Amz-Expires", expires_secs.to_string()),
    ];
    if let Some(token) = creds.session_token {
        params.push(("X-Amz-Security-Token", token.to_owned()));
    }
    (params, headers)
}

/// Appends encoded `key=value` pairs to a raw query string.
fn append_query(query: &str, params: &[(&str, String)]) -> String {
    let mut out = query.to_owned();
    for (k, v) in params {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&uri_encode(k.as_bytes(), true));
        out.push('=');
        out.push_str(&uri_encode(v.as_bytes(), true));
    }
    out
}

/// The canonical request for query signing (a presigned URL valid for
/// `expires_secs`): the `X-Amz-*` parameters join the query, only the
/// request's own headers are signed, and `opts.sign_payload_header` does not
/// apply. The session token is signed unless `opts.omit_session_token`.
pub fn presigned_canonical_request(
    req: &Request<'_>,
    creds: &Credentials<'_>,
    region: &str,
    service: &str,
    amz_date: &str,
    expires_secs: u64,
    opts: &Options,
) -> String {
    let scope = credential_scope(amz_date, region, service);
    let (mut params, headers) = presign_params(req, creds, &scope, amz_date, expires_secs);
    if opts.omit_session_token {
        params.retain(|(k, _)| *k != "X-Amz-Security-Token");
    }
    build_canonical_request(req, &append_query(req.query, &params), &headers, opts)
}

/// Query signing: returns the request's query string (`req.query`) with the
/// `X-Amz-*` parameters and `X-Amz-Signature` appended, ready to send after
/// `?`. The request's headers are sent unchanged.
pub fn presign_query(
    req: &Request<'_>,
    creds: &Credentials<'_>,
    region: &str,
    service: &str,
    amz_date: &str,
    expires_secs: u64,
    opts: &Options,
) -> String {
    let creq = presigned_canonical_request(req, creds, region, service, amz_date, expires_secs, opts);
    let sts = string_to_sign(&creq, amz_date, region, service);
    let sig = signature(creds.secret_access_key, amz_date, region, service, &sts);
    let scope = credential_scope(amz_date, region, service);
    let (mut params, _) = presign_params(req, creds, &scope, amz_date, expires_secs);
    params.push(("X-Amz-Signature", sig));
    append_query(req.query, &params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_formats_utc() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(1_369_353_600), "20130524T000000Z");
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
        assert_eq!(amz_date(951_868_799), "20000229T235959Z");
        assert_eq!(amz_date(4_107_542_399), "21000228T235959Z");
        assert_eq!(amz_date(4_107_542_400), "21000301T000000Z");
        assert_eq!(amz_date(1_709_164_800), "20240229T000000Z");
        assert_eq!(amz_date(1_767_225_599), "20251231T235959Z");
    }

    #[test]
    fn encodes_per_rfc3986() {
        assert_eq!(uri_encode(b"a b/c~d+e", false), "a%20b/c~d%2Be");
        assert_eq!(uri_encode(b"a b/c", true), "a%20b%2Fc");
        assert_eq!(uri_encode("ሴ".as_bytes(), true), "%E1%88%B4");
        assert_eq!(encode_query(&[("prefix", "a/b c"), ("list-type", "2")]), "prefix=a%2Fb%20c&list-type=2");
        assert_eq!(canonical_query("prefix=a%2Fb%20c&list-type=2&acl"), "acl=&list-type=2&prefix=a%2Fb%20c");
        assert_eq!(canonical_query("a=%zz&b=%2f"), "a=%25zz&b=%2F");
    }

    #[test]
    fn normalizes_paths() {
        for (raw, want) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("//example//", "/example/"),
            ("/a/./b/../c", "/a/c"),
            ("/../a", "/a"),
        ] {
            assert_eq!(normalize_path(raw), want, "{raw:?}");
        }
        assert_eq!(canonical_path("//a b/../", &Options::S3), "//a b/../");
        assert_eq!(canonical_path("/a%20b//", &Options::SERVICE), "/a%2520b/");
    }

    /// The example credentials of the S3 API reference's examples below.
    const DOCS_CREDENTIALS: Credentials<'static> = Credentials {
        access_key_id: "AKIAIOSFODNN7EXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        session_token: None,
    };

    /// The S3 API reference, "Signature Calculations for the Authorization
    /// Header: Transferring Payload in a Single Chunk", Example: GET Object.
    #[test]
    fn s3_get_object_example() {
        let creds = DOCS_CREDENTIALS;
        let req = Request {
            method: "GET",
            path: "/test.txt",
            query: "",
            headers: &[("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")],
            payload_sha256: EMPTY_SHA256,
        };
        let date = "20130524T000000Z";
        let creq = canonical_request(&req, &creds, date, &Options::S3);
        assert_eq!(
            creq,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
             x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let sts = string_to_sign(&creq, date, "us-east-1", "s3");
        assert_eq!(
            sts,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\
             7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        );
        let sig = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
        assert_eq!(signature(creds.secret_access_key, date, "us-east-1", "s3", &sts), sig);
        let added = sign_headers(&req, &creds, "us-east-1", "s3", date, &Options::S3);
        assert_eq!(
            added,
            vec![
                ("X-Amz-Date".to_owned(), date.to_owned()),
                ("x-amz-content-sha256".to_owned(), EMPTY_SHA256.to_owned()),
                (
                    "Authorization".to_owned(),
                    format!(
                        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
                         SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature={sig}"
                    )
                ),
            ]
        );
    }

    /// The S3 API reference, "Authenticating Requests: Using Query Parameters
    /// (AWS Signature Version 4)", the presigned GET example.
    #[test]
    fn s3_presigned_get_example() {
        let creds = DOCS_CREDENTIALS;
        let req = Request {
            method: "GET",
            path: "/test.txt",
            query: "",
            headers: &[("Host", "examplebucket.s3.amazonaws.com")],
            payload_sha256: UNSIGNED_PAYLOAD,
        };
        let date = "20130524T000000Z";
        let creq = presigned_canonical_request(&req, &creds, "us-east-1", "s3", date, 86_400, &Options::S3);
        assert_eq!(
            creq,
            "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F\
             us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\n\
             host:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD"
        );
        let query = presign_query(&req, &creds, "us-east-1", "s3", date, 86_400, &Options::S3);
        assert!(
            query.ends_with("&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"),
            "{query}"
        );
    }

    #[test]
    fn session_token_is_signed_unless_omitted() {
        let creds = Credentials { access_key_id: "AKID", secret_access_key: "s", session_token: Some("tok") };
        let req = Request {
            method: "HEAD",
            path: "/k",
            query: "",
            headers: &[("host", "h"), ("X-Amz-Date", "ignored")],
            payload_sha256: EMPTY_SHA256,
        };
        let creq = canonical_request(&req, &creds, "20240101T000000Z", &Options::S3);
        assert!(creq.contains("\nx-amz-security-token:tok\n"), "{creq}");
        assert!(!creq.contains("ignored"), "{creq}");
        let opts = Options { omit_session_token: true, ..Options::S3 };
        let added = sign_headers(&req, &creds, "eu-west-1", "s3", "20240101T000000Z", &opts);
        assert!(added.contains(&("X-Amz-Security-Token".to_owned(), "tok".to_owned())));
        assert!(added.last().unwrap().1.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
    }
}
