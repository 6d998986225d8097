//! Signed GET, PUT and HEAD of single objects over one reused HTTP agent.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rampart_sigv4 as sigv4;
use ureq::http::{HeaderMap, Response};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};
use ureq::{Agent, Body};

use crate::config::{Config, Endpoint};
use crate::error::{Error, ErrorKind, parse_error_body};
use crate::location::validate_bucket;

/// How much of an error response's body is read for its code and message.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// The user metadata header prefix.
const META_PREFIX: &str = "x-amz-meta-";

/// An S3 client for single-object operations.
///
/// It keeps one `ureq` agent, so the layer's refreshes reuse the TLS
/// connection instead of paying a handshake every few seconds. Redirects are
/// never followed: S3 redirects only when the region is wrong, and saying so is
/// more useful than a silent second request to another region.
pub struct Client {
    agent: Agent,
    config: Config,
    endpoint: Option<Endpoint>,
}

/// The answer to a conditional GET.
#[derive(Debug, PartialEq, Eq)]
pub enum GetObject {
    /// 304: the object still has the ETag given in `if_none_match`.
    NotModified,
    /// 404 `NoSuchKey` (the bucket exists, the object does not).
    NotFound,
    Found(Object),
}

/// An object as GET returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// The ETag, quotes included, as S3 sent it; pass it back as `if_none_match`.
    pub etag: Option<String>,
    pub body: Vec<u8>,
    /// User metadata: names lowercased, without the `x-amz-meta-` prefix.
    pub metadata: Vec<(String, String)>,
}

/// Where one request goes and how it is named in messages.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub url: String,
    /// The `Host` header, signed.
    pub host: String,
    /// The URI-encoded path, as sent and signed.
    pub path: String,
    /// `s3://bucket/key`.
    pub name: String,
}

impl Client {
    /// Checks the configuration and builds the agent; no request is made.
    pub fn new(config: Config) -> Result<Client, Error> {
        let endpoint = match &config.endpoint {
            Some(url) => Some(
                Endpoint::parse(url)
                    .map_err(|why| Error::config(format!("S3 endpoint {url:?} is not valid: {why}")))?,
            ),
            None => None,
        };
        if config.region.is_empty() || !config.region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(Error::config(format!("{:?} is not a valid AWS region", config.region)));
        }
        let agent = http_agent(&config)?;
        Ok(Client { agent, config, endpoint })
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Path-style against an endpoint override; otherwise virtual-hosted,
    /// except for dotted bucket names, which S3's wildcard certificate does not cover.
    pub(crate) fn target(&self, bucket: &str, key: &str) -> Target {
        let key_path = sigv4::uri_encode(key.as_bytes(), false);
        let name = format!("s3://{bucket}/{key}");
        match &self.endpoint {
            Some(ep) => {
                let path = format!("{}/{bucket}/{key_path}", ep.base);
                Target {
                    url: format!("{}://{}{path}", ep.scheme, ep.authority),
                    host: ep.host_header.clone(),
                    path,
                    name,
                }
            }
            None => {
                let domain = if self.config.region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
                let regional = format!("s3.{}.{domain}", self.config.region);
                let (host, path) = if bucket.contains('.') {
                    (regional, format!("/{bucket}/{key_path}"))
                } else {
                    (format!("{bucket}.{regional}"), format!("/{key_path}"))
                };
                Target { url: format!("https://{host}{path}"), host, path, name }
            }
        }
    }

    /// GET `bucket/key`, conditional on `if_none_match` (an ETag as S3
    /// returned it, quotes included). The body is read up to `max_bytes`; one
    /// byte more is [`ErrorKind::TooLarge`], and the rest is not read.
    pub fn get_object(
        &self,
        bucket: &str,
        key: &str,
        if_none_match: Option<&str>,
        max_bytes: u64,
    ) -> Result<GetObject, Error> {
        let target = self.check_target("GET", bucket, key)?;
        let what = format!("GET {}", target.name);
        let unsigned: Vec<(&str, &str)> = if_none_match.map(|etag| ("If-None-Match", etag)).into_iter().collect();
        let mut resp = self.send("GET", &target, &[], &unsigned, None).map_err(|e| e.with_request(what.clone()))?;
        match resp.status().as_u16() {
            200 => {
                let etag = header(resp.headers(), "etag");
                let metadata = metadata(resp.headers());
                let body = read_body(&mut resp, max_bytes).map_err(|e| e.with_request(what))?;
                Ok(GetObject::Found(Object { etag, body, metadata }))
            }
            304 => Ok(GetObject::NotModified),
            _ => {
                let e = self.status_error(&mut resp, true);
                if e.status() == Some(404) && e.kind() != ErrorKind::NoSuchBucket {
                    Ok(GetObject::NotFound)
                } else {
                    Err(e.with_request(what))
                }
            }
        }
    }

    /// PUT `body` at `bucket/key` with user metadata (names without the
    /// `x-amz-meta-` prefix); returns the new object's ETag.
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: &[u8],
        content_type: &str,
        metadata: &[(&str, &str)],
    ) -> Result<Option<String>, Error> {
        let target = self.check_target("PUT", bucket, key)?;
        let what = format!("PUT {}", target.name);
        let mut signed: Vec<(String, &str)> = vec![("content-type".to_owned(), content_type)];
        for (name, value) in metadata {
            let valid_name = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !valid_name {
                return Err(Error::config(format!("invalid metadata name {name:?}")).with_request(what));
            }
            if !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
                return Err(Error::config(format!("metadata {name:?}: only printable ASCII values can be sent"))
                    .with_request(what));
            }
            signed.push((format!("{META_PREFIX}{}", name.to_ascii_lowercase()), value));
        }
        let signed: Vec<(&str, &str)> = signed.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let mut resp = self.send("PUT", &target, &signed, &[], Some(body)).map_err(|e| e.with_request(what.clone()))?;
        match resp.status().as_u16() {
            200 => {
                let etag = header(resp.headers(), "etag");
                // Drain the (empty) body so the connection goes back to the pool.
                let _ = io::copy(&mut resp.body_mut().as_reader().take(ERROR_BODY_LIMIT), &mut io::sink());
                Ok(etag)
            }
            _ => Err(self.status_error(&mut resp, true).with_request(what)),
        }
    }

    /// HEAD `bucket/key`: `Some(etag)` when it exists (empty if the server
    /// sent no ETag), `None` for 404, which for HEAD may also mean a missing
    /// bucket: a HEAD response has no body to tell them apart.
    pub fn head_object(&self, bucket: &str, key: &str) -> Result<Option<String>, Error> {
        let target = self.check_target("HEAD", bucket, key)?;
        let what = format!("HEAD {}", target.name);
        let mut resp = self.send("HEAD", &target, &[], &[], None).map_err(|e| e.with_request(what.clone()))?;
        match resp.status().as_u16() {
            200 => Ok(Some(header(resp.headers(), "etag").unwrap_or_default())),
            404 => Ok(None),
            _ => Err(self.status_error(&mut resp, false).with_request(what)),
        }
    }

    fn check_target(&self, method: &str, bucket: &str, key: &str) -> Result<Target, Error> {
        let name = format!("{method} s3://{bucket}/{key}");
        validate_bucket(bucket)
            .map_err(|why| Error::config(format!("invalid bucket name: {why}")).with_request(name.clone()))?;
        if key.is_empty() {
            return Err(Error::config("the object key is empty").with_request(name));
        }
        Ok(self.target(bucket, key))
    }

    /// Signs and sends one request. `signed` headers join the signature;
    /// `unsigned` ones (`If-None-Match`) do not need to.
    fn send(
        &self,
        method: &str,
        target: &Target,
        signed: &[(&str, &str)],
        unsigned: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response<Body>, Error> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let date = sigv4::amz_date(now);
        let payload_hash = match body {
            Some(b) if !b.is_empty() => sigv4::sha256_hex(b),
            _ => sigv4::EMPTY_SHA256.to_owned(),
        };
        let mut headers: Vec<(&str, &str)> = vec![("host", &target.host)];
        headers.extend_from_slice(signed);
        let creds = &self.config.credentials;
        let creds = sigv4::Credentials {
            access_key_id: &creds.access_key_id,
            secret_access_key: &creds.secret_access_key,
            session_token: creds.session_token.as_deref(),
        };
        let request =
            sigv4::Request { method, path: &target.path, query: "", headers: &headers, payload_sha256: &payload_hash };
        let added = sigv4::sign_headers(&request, &creds, &self.config.region, "s3", &date, &sigv4::Options::S3);
        let mut builder = ureq::http::Request::builder().method(method).uri(&target.url);
        for (name, value) in headers.iter().chain(unsigned) {
            builder = builder.header(*name, *value);
        }
        for (name, value) in &added {
            builder = builder.header(name, value);
        }
        let result = match body {
            Some(b) => builder.body(b).map(|r| self.agent.run(r)),
            None => builder.body(()).map(|r| self.agent.run(r)),
        };
        let result = result.map_err(|e| Error::config(format!("cannot build the request: {e}")))?;
        result.map_err(|e| transport_error(e, &target.host, &self.config))
    }

    /// The error for an unexpected status, with S3's code and message from the
    /// body when there is one, and the bucket's region when S3 names another.
    fn status_error(&self, resp: &mut Response<Body>, has_body: bool) -> Error {
        let status = resp.status().as_u16();
        let header_region = header(resp.headers(), "x-amz-bucket-region");
        let mut body = Vec::new();
        if has_body {
            let _ = resp.body_mut().as_reader().take(ERROR_BODY_LIMIT).read_to_end(&mut body);
        }
        let doc = parse_error_body(&body);
        let kind = match (status, doc.code.as_deref()) {
            (403, _) => ErrorKind::AccessDenied,
            (404, Some("NoSuchBucket")) => ErrorKind::NoSuchBucket,
            (500..=599, _) => ErrorKind::Server,
            _ => ErrorKind::Status,
        };
        let reason = resp.status().canonical_reason().map(|r| format!(" {r}")).unwrap_or_default();
        let mut detail = format!("HTTP {status}{reason}");
        match (&doc.code, &doc.message) {
            (Some(code), Some(message)) => detail.push_str(&format!(", {code}: {message}")),
            (Some(code), None) => detail.push_str(&format!(", {code}")),
            (None, Some(message)) => detail.push_str(&format!(": {message}")),
            (None, None) => {}
        }
        let region = header_region.or(doc.region);
        match region {
            Some(r) if r != self.config.region => detail
                .push_str(&format!(" (the bucket is in region {r}, not {}: set AWS_REGION={r})", self.config.region)),
            _ if (300..400).contains(&status) => {
                let to = doc.endpoint.or_else(|| header(resp.headers(), "location"));
                detail.push_str(&match to {
                    Some(to) => format!(" (S3 redirects to {to}: is AWS_REGION the bucket's region?)"),
                    None => " (S3 redirects: is AWS_REGION the bucket's region?)".to_owned(),
                });
            }
            _ => {}
        }
        Error::new(kind, detail).with_status(status, doc.code)
    }
}

/// The `ureq` agent every rampart AWS client uses: rustls with the *ring*
/// provider, Mozilla's roots plus `config.ca_bundle`, `config.timeout` for a
/// whole request, HTTP errors as responses, no redirects, no proxies.
pub fn http_agent(config: &Config) -> Result<Agent, Error> {
    let roots = match &config.ca_bundle {
        Some(path) => RootCerts::Specific(Arc::new(crate::roots::with_bundle(path)?)),
        None => RootCerts::WebPki,
    };
    let tls = TlsConfig::builder().provider(TlsProvider::Rustls).root_certs(roots).build();
    Ok(Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(config.timeout))
        // Proxies from the environment are not honoured: the layer must not
        // read the live environment, and S3 is reached directly in Lambda.
        .proxy(None)
        .user_agent(concat!("rampart/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls)
        .build()
        .new_agent())
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn metadata(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(name, value)| {
            let short = name.as_str().strip_prefix(META_PREFIX)?;
            Some((short.to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        })
        .collect();
    out.sort();
    out
}

/// Reads at most `max_bytes`, refusing a larger body without reading it and
/// reporting a body shorter than its `Content-Length` as truncated.
fn read_body(resp: &mut Response<Body>, max_bytes: u64) -> Result<Vec<u8>, Error> {
    let declared = header(resp.headers(), "content-length").and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared
        && len > max_bytes
    {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!("the object is {len} bytes, more than the limit of {max_bytes} bytes"),
        ));
    }
    let capacity = usize::try_from(declared.unwrap_or(0).min(max_bytes)).unwrap_or(0);
    let mut body = Vec::with_capacity(capacity);
    let mut reader = resp.body_mut().as_reader().take(max_bytes.saturating_add(1));
    if let Err(e) = reader.read_to_end(&mut body) {
        let got = body.len();
        let of = declared.map(|l| format!(" of {l}")).unwrap_or_default();
        return Err(match ureq::Error::from(e) {
            ureq::Error::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
                Error::new(ErrorKind::Truncated, format!("the connection closed after {got}{of} bytes of the body"))
            }
            ureq::Error::Timeout(_) => {
                Error::new(ErrorKind::Timeout, format!("timed out after {got}{of} bytes of the body"))
            }
            other => {
                let e = transport_error_kind(&other);
                Error::new(e, format!("reading the body failed after {got}{of} bytes: {other}"))
            }
        });
    }
    let got = body.len() as u64;
    if got > max_bytes {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!("the object is larger than the limit of {max_bytes} bytes"),
        ));
    }
    if let Some(len) = declared
        && got != len
    {
        return Err(Error::new(ErrorKind::Truncated, format!("the body has {got} of {len} bytes")));
    }
    Ok(body)
}

/// Classifies a failure that produced no HTTP response.
fn transport_error_kind(e: &ureq::Error) -> ErrorKind {
    match e {
        ureq::Error::Timeout(_) => ErrorKind::Timeout,
        ureq::Error::HostNotFound => ErrorKind::Dns,
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::TlsRequired => ErrorKind::Tls,
        ureq::Error::Pem(_) | ureq::Error::BadUri(_) | ureq::Error::Http(_) => ErrorKind::Config,
        ureq::Error::ConnectionFailed => ErrorKind::Connect,
        ureq::Error::Io(io) => io_error_kind(io),
        _ => ErrorKind::Protocol,
    }
}

fn io_error_kind(io: &io::Error) -> ErrorKind {
    if io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
        return ErrorKind::Tls;
    }
    match io.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ErrorKind::Timeout,
        io::ErrorKind::InvalidData => ErrorKind::Protocol,
        // std reports getaddrinfo failures with an unstable kind; the message is stable.
        _ if io.to_string().starts_with("failed to lookup address information") => ErrorKind::Dns,
        _ => ErrorKind::Connect,
    }
}

/// The error for a request that got no HTTP response from `host`, classified
/// (DNS, connect, timeout, TLS, protocol) and said in one line.
pub fn transport_error(e: ureq::Error, host: &str, config: &Config) -> Error {
    let kind = transport_error_kind(&e);
    let detail = match (kind, &e) {
        (ErrorKind::Timeout, _) => format!("no complete response from {host} within {:?} ({e})", config.timeout),
        (ErrorKind::Dns, ureq::Error::Io(io)) => format!("cannot resolve {host}: {io}"),
        (ErrorKind::Dns, _) => format!("cannot resolve {host}: no address found"),
        (ErrorKind::Connect, ureq::Error::Io(io)) => format!("cannot connect to {host}: {io}"),
        (ErrorKind::Connect, _) => format!("cannot connect to {host}"),
        (ErrorKind::Tls, ureq::Error::Io(io)) => format!("TLS with {host} failed: {io}"),
        (ErrorKind::Tls, _) => format!("TLS with {host} failed: {e}"),
        (ErrorKind::Protocol, _) => format!("invalid HTTP response from {host}: {e}"),
        _ => e.to_string(),
    };
    Error::new(kind, detail)
}

/// Parses the PEM certificates of a CA bundle file.
pub(crate) fn bundle_certs(path: &std::path::Path) -> Result<Vec<Certificate<'static>>, Error> {
    let pem = std::fs::read(path)
        .map_err(|e| Error::config(format!("cannot read the CA bundle {} (AWS_CA_BUNDLE): {e}", path.display())))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::config(format!("the CA bundle {} is not valid PEM: {e}", path.display())));
            }
        }
    }
    if certs.is_empty() {
        return Err(Error::config(format!("the CA bundle {} holds no PEM certificate", path.display())));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Credentials;
    use std::time::Duration;

    fn client(region: &str, endpoint: Option<&str>) -> Client {
        Client::new(Config {
            region: region.to_owned(),
            endpoint: endpoint.map(str::to_owned),
            credentials: Credentials {
                access_key_id: "AK".into(),
                secret_access_key: "SK".into(),
                session_token: None,
            },
            timeout: Duration::from_secs(1),
            ca_bundle: None,
        })
        .unwrap()
    }

    fn t(url: &str, host: &str, path: &str) -> (String, String, String) {
        (url.to_owned(), host.to_owned(), path.to_owned())
    }

    fn target(c: &Client, bucket: &str, key: &str) -> (String, String, String) {
        let t = c.target(bucket, key);
        assert_eq!(t.name, format!("s3://{bucket}/{key}"));
        (t.url, t.host, t.path)
    }

    #[test]
    fn virtual_hosted_addressing() {
        let c = client("eu-west-1", None);
        assert_eq!(
            target(&c, "my-bucket", "fn/policy.json"),
            t(
                "https://my-bucket.s3.eu-west-1.amazonaws.com/fn/policy.json",
                "my-bucket.s3.eu-west-1.amazonaws.com",
                "/fn/policy.json"
            )
        );
        assert_eq!(
            target(&c, "my.dotted.bucket", "a b/ü+x.json"),
            t(
                "https://s3.eu-west-1.amazonaws.com/my.dotted.bucket/a%20b/%C3%BC%2Bx.json",
                "s3.eu-west-1.amazonaws.com",
                "/my.dotted.bucket/a%20b/%C3%BC%2Bx.json"
            )
        );
        let c = client("cn-north-1", None);
        assert_eq!(target(&c, "b-1", "k").1, "b-1.s3.cn-north-1.amazonaws.com.cn");
    }

    #[test]
    fn path_style_addressing_with_an_endpoint() {
        let c = client("us-east-1", Some("http://127.0.0.1:9000"));
        assert_eq!(
            target(&c, "my.bucket", "fn/policy.json"),
            t("http://127.0.0.1:9000/my.bucket/fn/policy.json", "127.0.0.1:9000", "/my.bucket/fn/policy.json")
        );
        let c = client("us-east-1", Some("https://store.example:443/s3/"));
        assert_eq!(
            target(&c, "b-1", "x y"),
            t("https://store.example:443/s3/b-1/x%20y", "store.example", "/s3/b-1/x%20y")
        );
    }

    #[test]
    fn rejects_bad_configuration() {
        let cfg = |region: &str, endpoint: Option<&str>, bundle: Option<&str>| Config {
            region: region.to_owned(),
            endpoint: endpoint.map(str::to_owned),
            credentials: Credentials {
                access_key_id: "AK".into(),
                secret_access_key: "SK".into(),
                session_token: None,
            },
            timeout: Duration::from_secs(1),
            ca_bundle: bundle.map(Into::into),
        };
        for (config, says) in [
            (cfg("eu-west-1", Some("s3.example"), None), "S3 endpoint \"s3.example\" is not valid"),
            (cfg("", None, None), "not a valid AWS region"),
            (cfg("a/b", None, None), "not a valid AWS region"),
            (cfg("r", None, Some("/nonexistent/ca.pem")), "cannot read the CA bundle /nonexistent/ca.pem"),
            (cfg("r", None, Some("/dev/null")), "holds no PEM certificate"),
        ] {
            let e = Client::new(config).err().expect(says);
            assert_eq!(e.kind(), ErrorKind::Config);
            assert!(e.to_string().contains(says), "{e}");
        }
        let c = client("eu-west-1", None);
        let e = c.get_object("Bad_Bucket", "k", None, 10).unwrap_err();
        assert_eq!(
            e.to_string(),
            "GET s3://Bad_Bucket/k failed: invalid bucket name: \"Bad_Bucket\" contains 'B': only lowercase letters, digits, '.' and '-' are allowed"
        );
        let e = c.put_object("bucket", "", b"", "text/plain", &[]).unwrap_err();
        assert_eq!(e.to_string(), "PUT s3://bucket/ failed: the object key is empty");
        let e = c.put_object("bucket", "k", b"", "text/plain", &[("a b", "v")]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        let e = c.put_object("bucket", "k", b"", "text/plain", &[("a", "line\nbreak")]).unwrap_err();
        assert!(e.to_string().contains("printable ASCII"), "{e}");
    }

    #[test]
    fn classifies_io_errors() {
        let kind = |k: io::ErrorKind| io_error_kind(&io::Error::new(k, "x"));
        assert_eq!(kind(io::ErrorKind::ConnectionRefused), ErrorKind::Connect);
        assert_eq!(kind(io::ErrorKind::ConnectionReset), ErrorKind::Connect);
        assert_eq!(kind(io::ErrorKind::TimedOut), ErrorKind::Timeout);
        assert_eq!(kind(io::ErrorKind::InvalidData), ErrorKind::Protocol);
        let tls = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(io_error_kind(&tls), ErrorKind::Tls);
        // What std says when getaddrinfo fails.
        let dns = std::net::ToSocketAddrs::to_socket_addrs("name.invalid:443").unwrap_err();
        assert_eq!(io_error_kind(&dns), ErrorKind::Dns, "{dns}");
    }
}
