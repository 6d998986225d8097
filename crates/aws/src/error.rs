//! A failed Lambda or Logs request, in one line.

use std::fmt;

/// What went wrong: a configuration or credentials problem, no HTTP answer
/// (DNS, connect, timeout, TLS), or an error answer from the service.
///
/// Displayed as one line: `lambda:GetFunctionConfiguration orders failed:
/// ResourceNotFoundException: Function not found: arn:... (HTTP 404)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// `lambda:GetFunctionConfiguration orders`; empty for configuration errors.
    operation: String,
    detail: String,
    status: Option<u16>,
    code: Option<String>,
    /// The class of a configuration or transport failure (`rampart-s3`'s).
    kind: Option<rampart_s3::ErrorKind>,
}

impl Error {
    /// A configuration, credentials or transport failure found by `rampart-s3`.
    pub(crate) fn from_s3(operation: &str, e: &rampart_s3::Error) -> Error {
        Error { operation: operation.to_owned(), detail: e.to_string(), status: None, code: None, kind: Some(e.kind()) }
    }

    /// Bad configuration found here (an endpoint that does not parse).
    pub(crate) fn config(detail: impl Into<String>) -> Error {
        Error {
            operation: String::new(),
            detail: detail.into(),
            status: None,
            code: None,
            kind: Some(rampart_s3::ErrorKind::Config),
        }
    }

    /// An error answer: HTTP `status` with AWS's `code` and `message`.
    pub(crate) fn service(operation: &str, status: u16, code: Option<String>, message: Option<String>) -> Error {
        let mut detail = match (&code, &message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => "no error code in the answer".to_owned(),
        };
        detail.push_str(&format!(" (HTTP {status})"));
        Error { operation: operation.to_owned(), detail, status: Some(status), code, kind: None }
    }

    /// A 2xx answer that is not what the API documents.
    pub(crate) fn protocol(operation: &str, detail: impl Into<String>) -> Error {
        Error {
            operation: operation.to_owned(),
            detail: detail.into(),
            status: None,
            code: None,
            kind: Some(rampart_s3::ErrorKind::Protocol),
        }
    }

    /// AWS's error code (`ResourceNotFoundException`, `AccessDeniedException`, ...).
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The HTTP status, when the service answered.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The class of a failure that got no service answer (no credentials, DNS, connect, timeout, TLS...).
    pub fn kind(&self) -> Option<rampart_s3::ErrorKind> {
        self.kind
    }

    /// The operation and its subject, as in the message.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// Throttling, by code or HTTP 429: worth retrying after a pause.
    pub fn is_throttling(&self) -> bool {
        self.status == Some(429)
            || matches!(
                self.code(),
                Some(
                    "ThrottlingException"
                        | "Throttling"
                        | "TooManyRequestsException"
                        | "RequestLimitExceeded"
                        | "ProvisionedThroughputExceededException"
                )
            )
    }

    /// Worth sending again: throttling, a 5xx, or a connection that failed before an answer.
    pub(crate) fn is_retryable(&self) -> bool {
        self.is_throttling()
            || self.status.is_some_and(|s| (500..=599).contains(&s))
            || self.kind == Some(rampart_s3::ErrorKind::Connect)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operation.is_empty() {
            f.write_str(&self.detail)
        } else {
            write!(f, "{} failed: {}", self.operation, self.detail)
        }
    }
}

impl std::error::Error for Error {}

/// AWS's error code and message from an error answer. The code is in the
/// `X-Amzn-ErrorType` header (Lambda: `Code:http://internal...`) or the
/// body's `__type` (JSON 1.1: `com.amazonaws...#Code`), else `code`/`Code`;
/// the message in `message` or `Message`.
pub(crate) fn parse_error(header: Option<&str>, body: &[u8]) -> (Option<String>, Option<String>) {
    let doc: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    let text = |key: &str| doc.get(key).and_then(|v| v.as_str()).map(str::trim).filter(|s| !s.is_empty());
    let from_header = header.map(|h| h.split(':').next().unwrap_or(h).trim()).filter(|h| !h.is_empty());
    // Some front ends (and moto's authentication) answer in the query protocol's XML.
    let xml = String::from_utf8_lossy(body);
    let element = |name: &str| {
        let from = xml.find(&format!("<{name}>"))? + name.len() + 2;
        let len = xml[from..].find(&format!("</{name}>"))?;
        Some(xml[from..from + len].trim()).filter(|s| !s.is_empty())
    };
    let code = from_header
        .or_else(|| text("__type"))
        .or_else(|| text("code"))
        .or_else(|| text("Code"))
        .or_else(|| element("Code"))
        .map(|c| c.rsplit('#').next().unwrap_or(c).to_owned());
    let message = text("message")
        .or_else(|| text("Message"))
        .or_else(|| text("errorMessage"))
        .or_else(|| element("Message"))
        .map(|m| {
            // One line, and not a page of it.
            let one: String = m.split_whitespace().collect::<Vec<_>>().join(" ");
            if one.chars().count() > 500 { one.chars().take(500).chain("…".chars()).collect() } else { one }
        });
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_codes_and_messages_of_both_protocols() {
        // Lambda: the code in the header, the message in the body.
        let (code, message) = parse_error(
            Some("ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.awslambda/"),
            br#"{"Type":"User","Message":"Function not found: arn:aws:lambda:eu-west-1:1:function:x"}"#,
        );
        assert_eq!(code.as_deref(), Some("ResourceNotFoundException"));
        assert_eq!(message.as_deref(), Some("Function not found: arn:aws:lambda:eu-west-1:1:function:x"));
        // Logs (JSON 1.1): both in the body.
        let (code, message) = parse_error(
            None,
            br#"{"__type":"com.amazonaws.logs#ResourceNotFoundException","message":"The specified log group does not exist."}"#,
        );
        assert_eq!(code.as_deref(), Some("ResourceNotFoundException"));
        assert_eq!(message.as_deref(), Some("The specified log group does not exist."));
        let (code, message) = parse_error(
            None,
            b"<ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error></Errors></ErrorResponse>",
        );
        assert_eq!(code.as_deref(), Some("InvalidClientTokenId"));
        assert_eq!(message.as_deref(), Some("The security token included in the request is invalid."));
        let (code, message) = parse_error(None, b"<html>502 Bad Gateway</html>");
        assert_eq!((code, message), (None, None));
        let (_, message) = parse_error(None, "{\"message\":\"a\\n  b\"}".as_bytes());
        assert_eq!(message.as_deref(), Some("a b"));
    }

    #[test]
    fn says_it_in_one_line_and_classifies() {
        let e = Error::service(
            "lambda:GetFunctionConfiguration orders",
            404,
            Some("ResourceNotFoundException".into()),
            Some("Function not found".into()),
        );
        assert_eq!(
            e.to_string(),
            "lambda:GetFunctionConfiguration orders failed: ResourceNotFoundException: Function not found (HTTP 404)"
        );
        assert!(!e.is_retryable());
        let e = Error::service("logs:FilterLogEvents", 400, Some("ThrottlingException".into()), None);
        assert!(e.is_throttling() && e.is_retryable());
        assert!(Error::service("x", 429, None, None).is_throttling());
        assert!(Error::service("x", 503, Some("ServiceUnavailableException".into()), None).is_retryable());
        assert!(!Error::service("x", 403, Some("AccessDeniedException".into()), None).is_retryable());
    }
}
