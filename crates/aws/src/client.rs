//! One service's endpoint, signer and agent; sends a request, retries
//! throttling, turns error answers into [`Error`].

use std::io::Read;
use std::thread::sleep;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_s3::{Config, Endpoint};
use rampart_sigv4 as sigv4;
use ureq::Agent;

use crate::error::{Error, parse_error};

/// How much of an answer is read: a FilterLogEvents page is at most 1 MB of
/// messages, plus JSON around them.
const BODY_LIMIT: u64 = 16 << 20;

/// Attempts per request, and the first pause between them (doubled each time).
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(300);

/// The two services this crate speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// AWS Lambda, REST-JSON.
    Lambda,
    /// CloudWatch Logs, JSON 1.1.
    Logs,
}

impl Service {
    /// The name in the signature's scope and in IAM actions.
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Lambda => "lambda",
            Service::Logs => "logs",
        }
    }

    /// The endpoint overrides, most specific first (the AWS SDKs' names).
    pub fn endpoint_vars(self) -> &'static [&'static str] {
        match self {
            Service::Lambda => &["AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL"],
            Service::Logs => &["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_ENDPOINT_URL"],
        }
    }
}

/// The configuration for `service` the way the AWS CLI finds it: `profile`
/// (else `AWS_PROFILE`), credentials, region and CA bundle as
/// [`rampart_s3::resolve_cli`], the endpoint from [`Service::endpoint_vars`].
pub fn config_for(
    service: Service,
    profile: Option<&str>,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Error> {
    rampart_s3::resolve_cli_for(profile, get, service.endpoint_vars()).map_err(|e| Error::from_s3("", &e))
}

/// A client for one service.
pub struct Client {
    service: Service,
    agent: Agent,
    config: Config,
    endpoint: Endpoint,
}

impl Client {
    /// Checks the configuration and builds the agent; no request is made.
    pub fn new(service: Service, config: Config) -> Result<Client, Error> {
        let url = match &config.endpoint {
            Some(url) => url.clone(),
            None => {
                let domain = if config.region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
                format!("https://{}.{}.{domain}", service.signing_name(), config.region)
            }
        };
        let endpoint = Endpoint::parse(&url)
            .map_err(|why| Error::config(format!("{} endpoint {url:?} is not valid: {why}", service.signing_name())))?;
        let agent = rampart_s3::http_agent(&config).map_err(|e| Error::from_s3("", &e))?;
        Ok(Client { service, agent, config, endpoint })
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.config.region
    }

    /// `scheme://host[:port]` requests go to.
    pub fn endpoint(&self) -> String {
        format!("{}://{}{}", self.endpoint.scheme, self.endpoint.authority, self.endpoint.base)
    }

    /// Sends one signed request and returns the answer's JSON (`null` for
    /// an empty body). `path` is URI-encoded as sent; `headers` are signed.
    /// Throttling, 5xx and failed connections are retried (4 attempts in
    /// all, pauses of 0.3, 0.6 and 1.2 s plus up to half as much jitter).
    pub fn call(
        &self,
        operation: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<serde_json::Value, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.call_once(operation, method, path, headers, body) {
                Err(e) if e.is_retryable() && attempt < ATTEMPTS => {
                    let base = FIRST_BACKOFF * 2u32.pow(attempt - 1);
                    sleep(base + jitter(base / 2));
                }
                other => return other,
            }
        }
    }

    fn call_once(
        &self,
        operation: &str,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<serde_json::Value, Error> {
        let path = format!("{}{path}", self.endpoint.base);
        let url = format!("{}://{}{path}", self.endpoint.scheme, self.endpoint.authority);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let date = sigv4::amz_date(now);
        let payload_hash = sigv4::sha256_hex(body.unwrap_or_default());
        let mut headers: Vec<(&str, &str)> = vec![("host", &self.endpoint.host_header)];
        headers.extend_from_slice(extra);
        let c = &self.config.credentials;
        let creds = sigv4::Credentials {
            access_key_id: &c.access_key_id,
            secret_access_key: &c.secret_access_key,
            session_token: c.session_token.as_deref(),
        };
        let request =
            sigv4::Request { method, path: &path, query: "", headers: &headers, payload_sha256: &payload_hash };
        let added = sigv4::sign_headers(
            &request,
            &creds,
            &self.config.region,
            self.service.signing_name(),
            &date,
            &sigv4::Options::SERVICE,
        );
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        for (name, value) in &headers {
            builder = builder.header(*name, *value);
        }
        for (name, value) in &added {
            builder = builder.header(name, value);
        }
        let sent = match body {
            Some(b) => builder.body(b).map(|r| self.agent.run(r)),
            None => builder.body(()).map(|r| self.agent.run(r)),
        };
        let sent = sent.map_err(|e| Error::protocol(operation, format!("cannot build the request: {e}")))?;
        let mut resp = sent.map_err(|e| {
            Error::from_s3(operation, &rampart_s3::transport_error(e, &self.endpoint.host_header, &self.config))
        })?;
        let status = resp.status().as_u16();
        let error_type = resp.headers().get("x-amzn-errortype").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut bytes = Vec::new();
        let read = resp.body_mut().as_reader().take(BODY_LIMIT).read_to_end(&mut bytes);
        if (200..300).contains(&status) {
            read.map_err(|e| Error::protocol(operation, format!("reading the answer failed: {e}")))?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(serde_json::Value::Null);
            }
            return serde_json::from_slice(&bytes)
                .map_err(|e| Error::protocol(operation, format!("the answer is not JSON: {e}")));
        }
        let (code, message) = parse_error(error_type.as_deref(), &bytes);
        Err(Error::service(operation, status, code, message))
    }
}

/// Up to `max`, from the clock's nanoseconds: enough to spread retries of
/// processes started together.
fn jitter(max: Duration) -> Duration {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let max_ms = max.as_millis().max(1) as u64;
    Duration::from_millis(u64::from(nanos) % max_ms)
}
