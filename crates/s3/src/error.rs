//! What went wrong, in a form both a person and the layer's error de-duplication can use.

use std::fmt;

/// The class of a failure. The layer de-duplicates its error lines by
/// [`ErrorKind::as_str`], so one broken network path logs once, not once per refresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Bad configuration: an invalid `s3://` URL, endpoint, region or CA bundle.
    Config,
    /// No usable credentials.
    Credentials,
    /// The host name did not resolve.
    Dns,
    /// The TCP connection failed (refused, unreachable, reset before a response).
    Connect,
    /// The whole request did not finish within the configured timeout.
    Timeout,
    /// The TLS handshake failed, including an untrusted certificate.
    Tls,
    /// HTTP 403: `AccessDenied`, `SignatureDoesNotMatch`, `InvalidAccessKeyId`, ...
    AccessDenied,
    /// HTTP 404 with `NoSuchBucket`.
    NoSuchBucket,
    /// HTTP 5xx.
    Server,
    /// Any other unexpected HTTP status, including redirects (wrong region).
    Status,
    /// The connection closed before the whole body (per `Content-Length`) arrived.
    Truncated,
    /// The object is larger than the caller's limit.
    TooLarge,
    /// The server's answer was not valid HTTP, or lacked something S3 always sends.
    Protocol,
}

impl ErrorKind {
    /// A stable short name (`"dns"`, `"timeout"`, `"access_denied"`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Credentials => "credentials",
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Tls => "tls",
            ErrorKind::AccessDenied => "access_denied",
            ErrorKind::NoSuchBucket => "no_such_bucket",
            ErrorKind::Server => "server",
            ErrorKind::Status => "status",
            ErrorKind::Truncated => "truncated",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Protocol => "protocol",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed S3 operation or configuration step.
///
/// Displayed as one line: what was attempted (`GET s3://bucket/key`), then why
/// it failed, with S3's own error code and message when the response had them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    /// `GET s3://bucket/key`; `None` for configuration errors.
    request: Option<String>,
    detail: String,
    status: Option<u16>,
    code: Option<String>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, detail: impl Into<String>) -> Error {
        Error { kind, request: None, detail: detail.into(), status: None, code: None }
    }

    pub(crate) fn config(detail: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, detail)
    }

    pub(crate) fn credentials(detail: impl Into<String>) -> Error {
        Error::new(ErrorKind::Credentials, detail)
    }

    pub(crate) fn with_request(mut self, request: String) -> Error {
        self.request = Some(request);
        self
    }

    pub(crate) fn with_status(mut self, status: u16, code: Option<String>) -> Error {
        self.status = Some(status);
        self.code = code;
        self
    }

    /// The class of the failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// S3's error code (`NoSuchBucket`, `SignatureDoesNotMatch`, ...), when the response had one.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.request {
            Some(request) => write!(f, "{request} failed: {}", self.detail),
            None => f.write_str(&self.detail),
        }
    }
}

impl std::error::Error for Error {}

/// The fields of an S3 error document (`<Error><Code>..</Code><Message>..</Message>..</Error>`).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct S3ErrorBody {
    pub code: Option<String>,
    pub message: Option<String>,
    /// `PermanentRedirect` / `AuthorizationHeaderMalformed` name the bucket's region.
    pub region: Option<String>,
    pub endpoint: Option<String>,
}

/// Reads the few fields rampart reports from an S3 error document. S3 error
/// bodies are flat and small, so a tag scan does the job of an XML parser
/// without adding one to a library loaded into every Lambda runtime.
pub(crate) fn parse_error_body(body: &[u8]) -> S3ErrorBody {
    let text = String::from_utf8_lossy(body);
    let Some(start) = text.find("<Error>") else {
        return S3ErrorBody::default();
    };
    let doc = &text[start..];
    S3ErrorBody {
        code: element(doc, "Code"),
        message: element(doc, "Message"),
        region: element(doc, "Region"),
        endpoint: element(doc, "Endpoint"),
    }
}

/// The unescaped, trimmed text of the first `<name>` element; `None` when absent or empty.
fn element(doc: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let from = doc.find(&open)? + open.len();
    let len = doc[from..].find(&close)?;
    let text = unescape(doc[from..from + len].trim());
    (!text.is_empty()).then_some(text)
}

/// Undoes XML's predefined entities and numeric character references.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').and_then(|semi| {
            let entity = &rest[1..semi];
            let ch = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => entity
                    .strip_prefix("#x")
                    .map(|hex| u32::from_str_radix(hex, 16))
                    .or_else(|| entity.strip_prefix('#').map(str::parse))
                    .and_then(Result::ok)
                    .and_then(char::from_u32),
            };
            ch.map(|c| (c, semi + 1))
        });
        match decoded {
            Some((c, used)) => {
                out.push(c);
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_error_documents() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message><AWSAccessKeyId>AK</AWSAccessKeyId><RequestId>4442587FB7D0A2F9</RequestId></Error>"#;
        let e = parse_error_body(body);
        assert_eq!(e.code.as_deref(), Some("SignatureDoesNotMatch"));
        assert!(e.message.as_deref().unwrap().starts_with("The request signature we calculated"));
        assert_eq!(e.region, None);

        let body = b"<Error>\n  <Code>PermanentRedirect</Code>\n  <Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message>\n  <Endpoint>b.s3.eu-west-1.amazonaws.com</Endpoint>\n  <Bucket>b</Bucket>\n</Error>";
        let e = parse_error_body(body);
        assert_eq!(e.code.as_deref(), Some("PermanentRedirect"));
        assert_eq!(e.endpoint.as_deref(), Some("b.s3.eu-west-1.amazonaws.com"));

        let body = b"<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region &apos;us-east-1&apos; is wrong; expecting &apos;eu-west-1&apos; &amp; more &#65;&#x42;</Message><Region>eu-west-1</Region></Error>";
        let e = parse_error_body(body);
        assert_eq!(e.message.as_deref(), Some("the region 'us-east-1' is wrong; expecting 'eu-west-1' & more AB"));
        assert_eq!(e.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn tolerates_bodies_that_are_not_s3_errors() {
        assert_eq!(parse_error_body(b""), S3ErrorBody::default());
        assert_eq!(parse_error_body(b"<html>502 Bad Gateway</html>"), S3ErrorBody::default());
        assert_eq!(parse_error_body(b"<Error><Code></Code><Message>unterminated"), S3ErrorBody::default());
        assert_eq!(unescape("a & b &bogus; &#xZZ; &"), "a & b &bogus; &#xZZ; &");
        assert_eq!(parse_error_body(&[0xff, 0xfe]), S3ErrorBody::default());
    }

    #[test]
    fn displays_request_and_detail() {
        let e = Error::new(ErrorKind::AccessDenied, "HTTP 403, SignatureDoesNotMatch: nope")
            .with_request("GET s3://b/k".into())
            .with_status(403, Some("SignatureDoesNotMatch".into()));
        assert_eq!(e.to_string(), "GET s3://b/k failed: HTTP 403, SignatureDoesNotMatch: nope");
        assert_eq!(e.kind().as_str(), "access_denied");
        assert_eq!(e.status(), Some(403));
        assert_eq!(e.code(), Some("SignatureDoesNotMatch"));
        assert_eq!(Error::config("bad").to_string(), "bad");
    }
}
