//! What the S3 client's suites share: a configuration for a test server, and
//! a server that answers every request with one canned HTTP response (for
//! the answers neither s3s-fs nor FaultyS3 give: `NoSuchBucket`, redirects).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rampart_s3::{Client, Config, Credentials};

/// A client for `endpoint` (path-style) with these credentials.
pub fn client(endpoint: &str, access_key: &str, secret_key: &str, token: Option<&str>, timeout: Duration) -> Client {
    Client::new(config(endpoint, access_key, secret_key, token, timeout)).expect("client")
}

pub fn config(endpoint: &str, access_key: &str, secret_key: &str, token: Option<&str>, timeout: Duration) -> Config {
    Config {
        region: rampart_tests::s3s::REGION.to_owned(),
        endpoint: Some(endpoint.to_owned()),
        credentials: Credentials {
            access_key_id: access_key.to_owned(),
            secret_access_key: secret_key.to_owned(),
            session_token: token.map(str::to_owned),
        },
        timeout,
        ca_bundle: None,
    }
}

/// Answers each connection's first request with `response` (raw bytes), then
/// closes it. Records each request head.
pub struct Canned {
    pub endpoint: String,
    heads: Arc<Mutex<Vec<String>>>,
    _acceptor: JoinHandle<()>,
}

impl Canned {
    pub fn start(response: &str) -> Canned {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let endpoint = format!("http://{}", listener.local_addr().expect("local_addr"));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let response = response.to_owned();
        let recorded = Arc::clone(&heads);
        // Detached: the thread ends with the test process.
        let acceptor = std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut head = String::new();
                while reader.read_line(&mut head).is_ok_and(|n| n > 0) && !head.ends_with("\r\n\r\n") {}
                recorded.lock().unwrap().push(head);
                let _ = stream.write_all(response.as_bytes());
                let _ = stream.shutdown(Shutdown::Both);
            }
        });
        Canned { endpoint, heads, _acceptor: acceptor }
    }

    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// An HTTP response with an S3 XML error body and extra header lines.
pub fn s3_error(status: &str, extra_headers: &str, code: &str, message: &str, more_xml: &str) -> String {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>{more_xml}\
         <RequestId>CANNED</RequestId></Error>"
    );
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\n{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
