//! An S3 stand-in that can be told to misbehave, for the fail-safe tests of
//! the layer's policy fetcher: errors, a server that never answers, a body
//! cut short, one far too large, one that is not JSON. s3s-fs (see
//! [`crate::s3s`]) is the real server but cannot be made to fail like that,
//! and it does not answer 304, which this one does.
//!
//! It serves one object at every GET (or HEAD) path over HTTP/1.1 on a
//! loopback port, one thread per connection, keep-alive as HTTP/1.1 has it,
//! and records every request so a test can check what the client sent
//! (signature headers, `If-None-Match`). Signatures are not verified.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the server answers the next GETs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Serve the object (`ETag`, 304 when `If-None-Match` names the current
    /// tag, 404 `NoSuchKey` when there is none).
    None,
    /// This status with an S3 XML error body (403 `AccessDenied`, 500
    /// `InternalError`, 503 `SlowDown`, ...).
    Status(u16),
    /// Read the request and never answer, until the fault changes (then the
    /// new fault answers it) or the server is dropped (then the connection
    /// closes).
    Hang,
    /// The full `Content-Length`, half the body, then close.
    Truncate,
    /// 200 with a body of this many bytes (spaces), streamed.
    Huge(usize),
    /// 200 with a body that is not JSON.
    Garbage,
}

/// The body [`Fault::Garbage`] sends.
pub const GARBAGE_BODY: &[u8] = b"<html><body>502 this is not a policy {{{</body></html>\n";
/// The ETag sent with [`Fault::Garbage`] and [`Fault::Huge`] (never a real object's).
pub const FAULT_ETAG: &str = "\"fault-etag-0000\"";

/// One request as the server read it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    /// Names lowercased, values trimmed, in the order sent.
    pub headers: Vec<(String, String)>,
}

impl Recorded {
    /// The first header of that name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

struct Object {
    body: Arc<Vec<u8>>,
    etag: String,
    metadata: Vec<(String, String)>,
}

struct State {
    object: Option<Object>,
    fault: Fault,
    requests: Vec<Recorded>,
    /// Open connections, to shut down on drop (a thread blocked in a read or
    /// a write returns then).
    conns: HashMap<u64, TcpStream>,
    next_conn: u64,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when the fault changes or the server shuts down, for
    /// [`Fault::Hang`].
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking connection thread must not take the tests down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The misbehaving server. Dropping it closes every connection and joins
/// its threads.
pub struct FaultyS3 {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// Longest request head accepted.
const MAX_HEAD: usize = 64 * 1024;

impl FaultyS3 {
    /// A server on a free loopback port with no object and no fault.
    pub fn start() -> FaultyS3 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                object: None,
                fault: Fault::None,
                requests: Vec::new(),
                conns: HashMap::new(),
                next_conn: 0,
                shutdown: false,
            }),
            changed: Condvar::new(),
        });
        let workers = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let shared = Arc::clone(&shared);
            let workers = Arc::clone(&workers);
            std::thread::Builder::new()
                .name("faulty-s3-accept".to_owned())
                .spawn(move || accept_loop(&listener, &shared, &workers))
                .expect("spawn acceptor")
        };
        FaultyS3 { addr, shared, acceptor: Some(acceptor), workers }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The object every GET returns. `etag` is sent as given, in quotes if it
    /// has none (S3 quotes its tags); `metadata` as `x-amz-meta-NAME` headers.
    pub fn set_object(&self, body: &[u8], etag: &str, metadata: &[(&str, &str)]) {
        let etag =
            if etag.starts_with('"') || etag.starts_with("W/\"") { etag.to_owned() } else { format!("\"{etag}\"") };
        let metadata = metadata.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        self.shared.lock().object = Some(Object { body: Arc::new(body.to_vec()), etag, metadata });
    }

    /// GETs answer 404 `NoSuchKey` from now on.
    pub fn remove_object(&self) {
        self.shared.lock().object = None;
    }

    /// How the next requests are answered (and the ones hanging, if any).
    pub fn set_fault(&self, fault: Fault) {
        self.shared.lock().fault = fault;
        self.shared.changed.notify_all();
    }

    /// Every request read so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Waits until at least `n` requests have been read (a background
    /// fetcher's next poll); false on timeout.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.shared.lock().requests.len() >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for FaultyS3 {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.shutdown = true;
            for conn in state.conns.values() {
                let _ = conn.shutdown(Shutdown::Both);
            }
        }
        self.shared.changed.notify_all();
        // Wakes the acceptor blocked in accept(); it sees `shutdown` and stops.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        for worker in workers {
            let _ = worker.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, workers: &Mutex<Vec<JoinHandle<()>>>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let id = {
            let mut state = shared.lock();
            if state.shutdown {
                return;
            }
            let Ok(clone) = stream.try_clone() else { continue };
            let id = state.next_conn;
            state.next_conn += 1;
            state.conns.insert(id, clone);
            id
        };
        let conn_shared = Arc::clone(shared);
        let worker = std::thread::Builder::new().name(format!("faulty-s3-conn-{id}")).spawn(move || {
            serve(stream, &conn_shared);
            conn_shared.lock().conns.remove(&id);
        });
        match worker {
            Ok(handle) => workers.lock().unwrap_or_else(|e| e.into_inner()).push(handle),
            Err(_) => {
                shared.lock().conns.remove(&id);
            }
        }
    }
}

/// Whether the connection stays open after an answer.
enum Next {
    KeepAlive,
    Close,
}

fn serve(stream: TcpStream, shared: &Shared) {
    let Ok(write_half) = stream.try_clone() else { return };
    let mut writer = write_half;
    let mut reader = BufReader::new(stream);
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) | Err(_) => return,
        };
        let (recorded, keep_alive) = request;
        shared.lock().requests.push(recorded.clone());
        match respond(&mut writer, shared, &recorded, keep_alive) {
            Ok(Next::KeepAlive) => {}
            Ok(Next::Close) | Err(_) => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

/// Reads one request head (and its body, discarded). `None` at a clean end
/// of stream between requests.
fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<(Recorded, bool)>> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let n = reader.by_ref().take((MAX_HEAD - before) as u64 + 1).read_until(b'\n', &mut head)?;
        if n == 0 {
            return if head.is_empty() { Ok(None) } else { Err(ErrorKind::UnexpectedEof.into()) };
        }
        if head.len() > MAX_HEAD {
            return Err(std::io::Error::new(ErrorKind::InvalidData, "request head too long"));
        }
        // Blank lines before a request line are allowed (RFC 9112 2.2).
        if head.len() <= 2 && (head == b"\r\n" || head == b"\n") {
            head.clear();
            continue;
        }
        if head.ends_with(b"\n\r\n") || head.ends_with(b"\n\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(std::io::Error::new(ErrorKind::InvalidData, format!("bad request line {request_line:?}")));
    };
    let headers: Vec<(String, String)> = lines
        .filter(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let recorded = Recorded { method: method.to_owned(), path: path.to_owned(), headers };
    let connection = recorded.header("connection").map(str::to_ascii_lowercase).unwrap_or_default();
    let keep_alive = if version.eq_ignore_ascii_case("HTTP/1.0") {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    skip_body(reader, &recorded)?;
    Ok(Some((recorded, keep_alive)))
}

/// Reads and drops a request body so the next request on the connection
/// starts where it should.
fn skip_body(reader: &mut BufReader<TcpStream>, request: &Recorded) -> std::io::Result<()> {
    let chunked = request.header("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let size = line.trim().split(';').next().unwrap_or_default();
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| std::io::Error::new(ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        return Ok(());
                    }
                }
            }
            std::io::copy(&mut reader.by_ref().take(size), &mut std::io::sink())?;
            line.clear();
            reader.read_line(&mut line)?;
        }
    }
    let length = request.header("content-length").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let copied = std::io::copy(&mut reader.by_ref().take(length), &mut std::io::sink())?;
    if copied < length {
        return Err(ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// What to send, decided under the lock and sent without it.
enum Reply {
    Full { status: u16, headers: Vec<(String, String)>, body: Arc<Vec<u8>> },
    Truncated { headers: Vec<(String, String)>, body: Arc<Vec<u8>> },
    Huge(usize),
}

fn respond(writer: &mut TcpStream, shared: &Shared, request: &Recorded, keep_alive: bool) -> std::io::Result<Next> {
    let head_only = request.method.eq_ignore_ascii_case("HEAD");
    let reply = {
        let mut state = shared.lock();
        // Hang: wait for another fault (answer with it) or the end.
        while state.fault == Fault::Hang {
            if state.shutdown {
                return Ok(Next::Close);
            }
            state = shared
                .changed
                .wait_timeout(state, Duration::from_millis(200))
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
        if state.shutdown {
            return Ok(Next::Close);
        }
        if !(request.method.eq_ignore_ascii_case("GET") || head_only) {
            error_reply(405)
        } else {
            decide(&state, request)
        }
    };
    let connection = if keep_alive { "keep-alive" } else { "close" };
    match reply {
        Reply::Full { status, headers, body } => {
            write_head(writer, status, &headers, body.len(), connection)?;
            if !head_only && status != 304 {
                writer.write_all(&body)?;
            }
            writer.flush()?;
            Ok(if keep_alive { Next::KeepAlive } else { Next::Close })
        }
        Reply::Truncated { headers, body } => {
            write_head(writer, 200, &headers, body.len(), "close")?;
            if !head_only {
                writer.write_all(&body[..body.len() / 2])?;
            }
            writer.flush()?;
            Ok(Next::Close)
        }
        Reply::Huge(n) => {
            let headers = vec![("ETag".to_owned(), FAULT_ETAG.to_owned())];
            write_head(writer, 200, &headers, n, connection)?;
            if !head_only {
                let chunk = vec![b' '; 64 * 1024];
                let mut left = n;
                while left > 0 {
                    let len = left.min(chunk.len());
                    writer.write_all(&chunk[..len])?;
                    left -= len;
                }
            }
            writer.flush()?;
            Ok(if keep_alive { Next::KeepAlive } else { Next::Close })
        }
    }
}

fn decide(state: &State, request: &Recorded) -> Reply {
    match &state.fault {
        Fault::Hang => unreachable!("waited out above"),
        Fault::Status(status) => error_reply(*status),
        Fault::Huge(n) => Reply::Huge(*n),
        Fault::Garbage => Reply::Full {
            status: 200,
            headers: vec![("ETag".to_owned(), FAULT_ETAG.to_owned())],
            body: Arc::new(GARBAGE_BODY.to_vec()),
        },
        Fault::Truncate => match &state.object {
            Some(object) => Reply::Truncated { headers: object_headers(object), body: Arc::clone(&object.body) },
            // Something to cut in half even without an object.
            None => Reply::Truncated {
                headers: vec![("ETag".to_owned(), FAULT_ETAG.to_owned())],
                body: Arc::new(br#"{"version": 1, "mode": "block", "allow": {}}"#.to_vec()),
            },
        },
        Fault::None => match &state.object {
            None => error_reply(404),
            Some(object) => {
                let not_modified = request.header("if-none-match").is_some_and(|tags| etag_matches(tags, &object.etag));
                let status = if not_modified { 304 } else { 200 };
                Reply::Full { status, headers: object_headers(object), body: Arc::clone(&object.body) }
            }
        },
    }
}

fn object_headers(object: &Object) -> Vec<(String, String)> {
    let mut headers =
        vec![("ETag".to_owned(), object.etag.clone()), ("Content-Type".to_owned(), "binary/octet-stream".to_owned())];
    headers.extend(object.metadata.iter().map(|(n, v)| (format!("x-amz-meta-{n}"), v.clone())));
    headers
}

/// `If-None-Match` semantics (RFC 9110 13.1.2): `*`, or any listed tag equal
/// to the current one under weak comparison.
fn etag_matches(header: &str, current: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").trim_matches('"').to_owned();
    header.trim() == "*" || header.split(',').any(|tag| opaque(tag) == opaque(current))
}

fn error_reply(status: u16) -> Reply {
    let (code, message) = match status {
        400 => ("InvalidRequest", "Invalid Request"),
        403 => ("AccessDenied", "Access Denied"),
        404 => ("NoSuchKey", "The specified key does not exist."),
        405 => ("MethodNotAllowed", "The specified method is not allowed against this resource."),
        500 => ("InternalError", "We encountered an internal error. Please try again."),
        503 => ("SlowDown", "Please reduce your request rate."),
        _ => ("InternalError", "Injected failure."),
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>\
         <RequestId>FAULTY0000000000</RequestId></Error>"
    );
    Reply::Full {
        status,
        headers: vec![("Content-Type".to_owned(), "application/xml".to_owned())],
        body: Arc::new(body.into_bytes()),
    }
}

fn write_head(
    writer: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    length: usize,
    connection: &str,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    // A 304 has no body, and its Content-Length would describe the 200's.
    if status != 304 {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    head.push_str(&format!("Connection: {connection}\r\nx-amz-request-id: FAULTY0000000000\r\n\r\n"));
    writer.write_all(head.as_bytes())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
