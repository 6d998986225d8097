//! The byte protocol between `librampart.so` and `librampart_fetch.so`.
//!
//! The fetcher (HTTPS, TLS, SigV4, ed25519) lives in a second library that
//! only the process the wrapper started `dlopen`s, so that every exec'd
//! child keeps mapping a small library (DESIGN.md: "keep children cheap").
//! The two are separate Rust cdylibs, each with its own std, so nothing
//! richer than bytes may cross: the configuration goes in as
//! `NAME=value` entries, each ended by a NUL (the variables the root
//! captured at start, plus the fetcher's own settings); a reply comes back
//! as four lines (outcome, ETag, error kind, message) and then the body.
//! Both directions are encoded and decoded here, so the two libraries
//! cannot drift apart.
#![forbid(unsafe_code)]

/// Bumped on any incompatible change; the symbols carry it
/// (`rampart_fetch_open_v1`...), so a mismatched pair fails to link
/// rather than misread each other.
pub const VERSION: u32 = 1;

/// Settings the fetcher reads besides the captured AWS variables.
pub mod keys {
    /// Where the policy is: `s3://bucket/prefix`.
    pub const POLICY: &str = "RAMPART_POLICY";
    /// `AWS_LAMBDA_FUNCTION_NAME`: the prefix when the URL has none.
    pub const FUNCTION: &str = "AWS_LAMBDA_FUNCTION_NAME";
    /// Public key (`ed25519:...`) policies must be signed with.
    pub const KEY: &str = "RAMPART_POLICY_KEY";
    /// Whole-request timeout, milliseconds.
    pub const TIMEOUT_MS: &str = "rampart.timeout_ms";
    /// Largest policy object accepted, bytes.
    pub const MAX_BYTES: &str = "rampart.max_bytes";
}

/// Encodes `NAME=value` pairs; a pair whose name or value holds a NUL or
/// whose name holds `=` is left out (it could not be decoded faithfully).
pub fn encode_config<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in pairs {
        if name.is_empty() || name.contains(['\0', '=']) || value.contains('\0') {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value.as_bytes());
        out.push(0);
    }
    out
}

/// The pairs of an encoded configuration (entries that are not UTF-8 or
/// have no `=` are skipped).
pub fn decode_config(bytes: &[u8]) -> Vec<(&str, &str)> {
    bytes.split(|&b| b == 0).filter_map(|entry| std::str::from_utf8(entry).ok()?.split_once('=')).collect()
}

/// What one conditional GET of the policy object came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A new object: its ETag (as S3 sent it) and bytes; its signature,
    /// when a key is configured, has been verified.
    Object { etag: String, body: Vec<u8> },
    /// 304: the ETag sent is still current.
    NotModified,
    /// 404 NoSuchKey: no policy at the location yet.
    NotFound,
    /// Anything else. `kind` is short and stable (`timeout`, `dns`,
    /// `access-denied`, `signature`...) so the caller can report one line
    /// per distinct failure; `message` is for people.
    Failed { kind: String, message: String },
}

const OBJECT: &str = "object";
const NOT_MODIFIED: &str = "not-modified";
const NOT_FOUND: &str = "not-found";
const FAILED: &str = "failed";

impl Reply {
    pub fn encode(&self) -> Vec<u8> {
        let (outcome, etag, kind, message, body): (&str, &str, &str, &str, &[u8]) = match self {
            Reply::Object { etag, body } => (OBJECT, etag, "", "", body),
            Reply::NotModified => (NOT_MODIFIED, "", "", "", &[]),
            Reply::NotFound => (NOT_FOUND, "", "", "", &[]),
            Reply::Failed { kind, message } => (FAILED, "", kind, message, &[]),
        };
        let mut out = Vec::with_capacity(body.len() + 64 + message.len());
        for field in [outcome, etag, kind, message] {
            // A field is one line: line breaks inside become spaces.
            out.extend(field.bytes().map(|b| if b == b'\n' { b' ' } else { b }));
            out.push(b'\n');
        }
        out.extend_from_slice(body);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Reply, String> {
        let mut rest = bytes;
        let mut fields = [""; 4];
        for field in &mut fields {
            let end = rest.iter().position(|&b| b == b'\n').ok_or("fetcher reply: missing header line")?;
            let (line, tail) = rest.split_at(end);
            *field = std::str::from_utf8(line).map_err(|_| "fetcher reply: header is not UTF-8")?;
            rest = tail.get(1..).unwrap_or_default();
        }
        let [outcome, etag, kind, message] = fields;
        match outcome {
            OBJECT => Ok(Reply::Object { etag: etag.to_owned(), body: rest.to_vec() }),
            NOT_MODIFIED => Ok(Reply::NotModified),
            NOT_FOUND => Ok(Reply::NotFound),
            FAILED => Ok(Reply::Failed { kind: kind.to_owned(), message: message.to_owned() }),
            other => Err(format!("fetcher reply: unknown outcome {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_and_drops_what_cannot() {
        let bytes = encode_config([("A", "1"), ("B", "x=y"), ("C", ""), ("BAD=", "v"), ("N", "nul\0"), ("", "e")]);
        assert_eq!(decode_config(&bytes), vec![("A", "1"), ("B", "x=y"), ("C", "")]);
    }

    #[test]
    fn replies_round_trip() {
        let replies = [
            Reply::Object { etag: "\"abc\"".into(), body: b"{\n\"version\": 1}\n\n".to_vec() },
            Reply::Object { etag: String::new(), body: Vec::new() },
            Reply::NotModified,
            Reply::NotFound,
            Reply::Failed { kind: "timeout".into(), message: "no answer in 5 s".into() },
        ];
        for r in replies {
            assert_eq!(Reply::decode(&r.encode()), Ok(r.clone()), "{r:?}");
        }
    }

    #[test]
    fn line_breaks_in_fields_cannot_forge_a_body() {
        let r = Reply::Failed { kind: "x".into(), message: "one\ntwo".into() };
        assert_eq!(Reply::decode(&r.encode()), Ok(Reply::Failed { kind: "x".into(), message: "one two".into() }));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&b""[..], b"object\n", b"what\n\n\n\n", b"\xff\n\n\n\n"] {
            assert!(Reply::decode(bytes).is_err(), "{bytes:?}");
        }
    }
}
