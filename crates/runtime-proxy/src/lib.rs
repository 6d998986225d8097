//! A relay for the Lambda Runtime API that shows each invocation's event to
//! a decision before the function's handler sees it.
//!
//! librampart.so points `AWS_LAMBDA_RUNTIME_API` at a loopback port it
//! serves (the pattern of AWS's runtime API proxy extensions) and relays
//! every request of the runtime client to the real API unchanged, byte for
//! byte, framing included (so response streaming's chunked bodies pass as
//! they come). Two kinds of request are looked at:
//!
//! - `GET /2018-06-01/runtime/invocation/next`: the response carries the
//!   next event and its request id. The [`Inspector`] decides; a refused
//!   event is answered by the relay itself with
//!   `POST /runtime/invocation/{id}/error` (so the invocation ends with an
//!   error the caller sees) and the relay asks for the next event, so the
//!   handler never sees the refused one.
//! - `POST /runtime/invocation/{id}/response` and `.../error`: the end of an
//!   invocation, reported once the API accepted it.
//!
//! Everything else (init errors, extensions' calls if any) is relayed
//! without a look. A malformed message from either side closes that client
//! connection (the runtime client reconnects or fails its init); nothing
//! here panics on input.

#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::TcpStream;

/// The long poll that returns the next event.
pub const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION_PREFIX: &str = "/2018-06-01/runtime/invocation/";
const REQUEST_ID_HEADER: &str = "lambda-runtime-aws-request-id";
/// Longest request or response head accepted.
const MAX_HEAD: usize = 64 << 10;
/// Events larger than this (Lambda's own limit is 6 MB) are relayed whole
/// but inspected by their first part only.
pub const MAX_INSPECTED: usize = 32 << 20;
const MAX_HEADERS: usize = 64;

/// Whether the handler gets an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Deliver,
    /// The invocation ends with this error instead (`errorType`,
    /// `errorMessage` of the error document Lambda returns to the caller).
    Refuse {
        error_type: String,
        message: String,
    },
}

/// How an invocation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The runtime posted a response.
    Response,
    /// The runtime posted an error.
    Error,
    /// The relay refused the event (see [`Verdict::Refuse`]).
    Refused,
}

/// What the relay asks about the invocations it sees.
pub trait Inspector: Sync {
    /// A new invocation's event (up to [`MAX_INSPECTED`] bytes of it).
    fn invocation(&self, request_id: &str, event: &[u8]) -> Verdict;
    /// The invocation ended (the API accepted its response or error).
    fn finished(&self, request_id: &str, outcome: Outcome);
}

/// Relays one runtime client connection until either side closes it.
/// `connect` opens a connection to the real Runtime API (the caller marks
/// it as its own, sets timeouts...); one is kept per client connection and
/// reopened when the API closes it.
pub fn serve(
    client: TcpStream,
    inspector: &dyn Inspector,
    connect: &dyn Fn() -> io::Result<TcpStream>,
) -> io::Result<()> {
    let _ = client.set_nodelay(true);
    let mut client = Conn::new(client);
    let mut upstream: Option<Conn> = None;
    loop {
        let Some(head) = client.read_head()? else { return Ok(()) };
        let request = RequestHead::parse(&head)?;
        if upstream.is_none() {
            let stream = connect()?;
            let _ = stream.set_nodelay(true);
            upstream = Some(Conn::new(stream));
        }
        let Some(up) = upstream.as_mut() else { return Ok(()) };
        up.stream.write_all(&head)?;
        relay_body(&mut client, &mut up.stream, request.framing)?;
        let keep = if request.method == "GET" && request.path == NEXT_PATH {
            next_event(&mut client, up, &head, inspector)?
        } else {
            let response = read_response(up, request.method == "HEAD")?;
            // Reported before the runtime hears back, so the end of one
            // invocation is always said before the next one starts.
            if (200..300).contains(&response.status)
                && request.method == "POST"
                && let Some((id, outcome)) = invocation_end(&request.path)
            {
                inspector.finished(id, outcome);
            }
            client.stream.write_all(&response.head)?;
            relay_body(up, &mut client.stream, response.framing)?;
            response.framing != Framing::Close
        };
        if !keep {
            return Ok(());
        }
    }
}

/// `GET /next` sent upstream: relays the first event the inspector lets
/// through, refusing the others. Returns whether the connection stays open.
fn next_event(client: &mut Conn, up: &mut Conn, next_head: &[u8], inspector: &dyn Inspector) -> io::Result<bool> {
    loop {
        let response = read_response(up, false)?;
        let id = response.request_id.clone();
        let (Some(id), 200) = (id, response.status) else {
            client.stream.write_all(&response.head)?;
            relay_body(up, &mut client.stream, response.framing)?;
            return Ok(response.framing != Framing::Close);
        };
        let body = read_body(up, response.framing)?;
        match inspector.invocation(&id, &body.decoded) {
            Verdict::Deliver => {
                client.stream.write_all(&response.head)?;
                client.stream.write_all(&body.raw)?;
                if body.rest {
                    relay_body(up, &mut client.stream, Framing::Close)?;
                    return Ok(false);
                }
                return Ok(response.framing != Framing::Close);
            }
            Verdict::Refuse { error_type, message } => {
                if body.rest || response.framing == Framing::Close {
                    // The API closes after this body: nothing more can be
                    // asked on this connection; the client asks again.
                    return Ok(false);
                }
                post_error(up, &id, &error_type, &message)?;
                inspector.finished(&id, Outcome::Refused);
                up.stream.write_all(next_head)?;
            }
        }
    }
}

fn post_error(up: &mut Conn, id: &str, error_type: &str, message: &str) -> io::Result<()> {
    let body = serde_json::json!({ "errorMessage": message, "errorType": error_type }).to_string();
    let head = format!(
        "POST {INVOCATION_PREFIX}{id}/error HTTP/1.1\r\nHost: runtime-api\r\nContent-Type: application/json\r\n\
         Lambda-Runtime-Function-Error-Type: {}\r\nContent-Length: {}\r\n\r\n",
        error_type.replace(['\r', '\n'], " "),
        body.len()
    );
    up.stream.write_all(head.as_bytes())?;
    up.stream.write_all(body.as_bytes())?;
    let response = read_response(up, false)?;
    let mut sink = io::sink();
    relay_body(up, &mut sink, response.framing)?;
    if !(200..300).contains(&response.status) {
        return Err(io::Error::other(format!("the Runtime API answered {} to a refused invocation", response.status)));
    }
    Ok(())
}

/// `/2018-06-01/runtime/invocation/{id}/response` or `.../error`.
fn invocation_end(path: &str) -> Option<(&str, Outcome)> {
    let rest = path.strip_prefix(INVOCATION_PREFIX)?;
    let (id, what) = rest.split_once('/')?;
    match what {
        "response" => Some((id, Outcome::Response)),
        "error" => Some((id, Outcome::Error)),
        _ => None,
    }
}

/// How a message's body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    /// Until the sender closes (responses only).
    Close,
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn header_framing(headers: &[httparse::Header<'_>]) -> io::Result<Option<Framing>> {
    let mut length = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let value = std::str::from_utf8(h.value).map_err(|_| bad("bad Transfer-Encoding"))?;
            if value.rsplit(',').next().is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked")) {
                return Ok(Some(Framing::Chunked));
            }
            return Err(bad(format!("unsupported Transfer-Encoding {value:?}")));
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let n: u64 = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| bad("bad Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("conflicting Content-Length headers"));
            }
            length = Some(n);
        }
    }
    Ok(length.map(Framing::Length))
}

struct RequestHead {
    method: String,
    path: String,
    framing: Framing,
}

impl RequestHead {
    fn parse(head: &[u8]) -> io::Result<RequestHead> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(head) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return Err(bad("malformed request from the runtime client")),
        }
        let framing = header_framing(req.headers)?.unwrap_or(Framing::None);
        Ok(RequestHead {
            method: req.method.unwrap_or_default().to_owned(),
            path: req.path.unwrap_or_default().to_owned(),
            framing,
        })
    }
}

struct ResponseHead {
    head: Vec<u8>,
    status: u16,
    framing: Framing,
    request_id: Option<String>,
}

fn read_response(up: &mut Conn, to_head: bool) -> io::Result<ResponseHead> {
    let head = up.read_head()?.ok_or_else(|| bad("the Runtime API closed the connection"))?;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(bad("malformed response from the Runtime API")),
    }
    let status = resp.code.unwrap_or(0);
    let framing = if to_head || (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::None
    } else {
        header_framing(resp.headers)?.unwrap_or(Framing::Close)
    };
    let request_id = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(REQUEST_ID_HEADER))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::trim)
        // An id goes into a path and into event lines: nothing but what
        // real ids are made of.
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(str::to_owned);
    Ok(ResponseHead { head, status, framing, request_id })
}

/// A body read whole: as sent (for relaying) and decoded (for inspection,
/// at most MAX_INSPECTED bytes). `rest` when more remains to relay.
struct Body {
    raw: Vec<u8>,
    decoded: Vec<u8>,
    rest: bool,
}

fn read_body(from: &mut Conn, framing: Framing) -> io::Result<Body> {
    let mut raw = Vec::new();
    match framing {
        Framing::None => Ok(Body { raw, decoded: Vec::new(), rest: false }),
        Framing::Length(n) => {
            let take = n.min(MAX_INSPECTED as u64);
            from.copy(take, &mut raw)?;
            let decoded = raw.clone();
            if n > take {
                // Relay the remainder as it comes, after the inspected part.
                let rest = n - take;
                let mut tail = Vec::new();
                from.copy(rest, &mut tail)?;
                raw.extend_from_slice(&tail);
            }
            Ok(Body { raw, decoded, rest: false })
        }
        Framing::Chunked => {
            let mut decoded = Vec::new();
            relay_chunked(from, &mut raw, Some(&mut decoded))?;
            decoded.truncate(MAX_INSPECTED);
            Ok(Body { raw, decoded, rest: false })
        }
        Framing::Close => {
            from.copy_up_to(MAX_INSPECTED as u64, &mut raw)?;
            let rest = raw.len() as u64 >= MAX_INSPECTED as u64;
            let decoded = raw.clone();
            Ok(Body { raw, decoded, rest })
        }
    }
}

fn relay_body(from: &mut Conn, to: &mut dyn Write, framing: Framing) -> io::Result<()> {
    match framing {
        Framing::None => Ok(()),
        Framing::Length(n) => from.copy(n, to),
        Framing::Chunked => relay_chunked(from, to, None),
        Framing::Close => from.copy_up_to(u64::MAX, to).map(drop),
    }
}

/// Relays a chunked body as sent (sizes, extensions, trailers), optionally
/// collecting its payload.
fn relay_chunked(from: &mut Conn, to: &mut dyn Write, mut decoded: Option<&mut Vec<u8>>) -> io::Result<()> {
    loop {
        let line = from.read_line()?;
        to.write_all(&line)?;
        let size = match httparse::parse_chunk_size(&line) {
            Ok(httparse::Status::Complete((_, size))) => size,
            _ => return Err(bad("malformed chunk size")),
        };
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let line = from.read_line()?;
                to.write_all(&line)?;
                if line == b"\r\n" || line == b"\n" {
                    return Ok(());
                }
            }
        }
        match decoded.as_deref_mut() {
            Some(d) if d.len() < MAX_INSPECTED => {
                let mut chunk = Vec::new();
                from.copy(size, &mut chunk)?;
                to.write_all(&chunk)?;
                d.extend_from_slice(&chunk);
            }
            _ => from.copy(size, to)?,
        }
        let crlf = from.read_line()?;
        if crlf != b"\r\n" && crlf != b"\n" {
            return Err(bad("malformed chunk end"));
        }
        to.write_all(&crlf)?;
    }
}

/// A stream with what has been read from it but not used yet.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

const READ_SIZE: usize = 64 << 10;

impl Conn {
    fn new(stream: TcpStream) -> Conn {
        Conn { stream, buf: Vec::new(), pos: 0 }
    }

    fn buffered(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Reads more; Ok(0) at the end of the stream.
    fn fill(&mut self) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_SIZE, 0);
        let n = loop {
            match self.stream.read(self.buf.get_mut(old..).unwrap_or_default()) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        };
        self.buf.truncate(old + n);
        Ok(n)
    }

    /// A message head up to and including the blank line; `None` when the
    /// stream ends before its first byte.
    fn read_head(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut searched = 0;
        loop {
            let data = self.buffered();
            if let Some(end) = find_head_end(data, searched) {
                let head = data.get(..end).unwrap_or_default().to_vec();
                self.pos += end;
                return Ok(Some(head));
            }
            if data.len() > MAX_HEAD {
                return Err(bad("message head too long"));
            }
            searched = data.len().saturating_sub(3);
            if self.fill()? == 0 {
                return if self.buffered().is_empty() { Ok(None) } else { Err(bad("connection closed mid-head")) };
            }
        }
    }

    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            let data = self.buffered();
            if let Some(i) = data.iter().position(|&b| b == b'\n') {
                let line = data.get(..=i).unwrap_or_default().to_vec();
                self.pos += i + 1;
                return Ok(line);
            }
            if data.len() > MAX_HEAD {
                return Err(bad("line too long"));
            }
            if self.fill()? == 0 {
                return Err(bad("connection closed mid-line"));
            }
        }
    }

    /// Copies exactly `n` bytes to `to`.
    fn copy(&mut self, n: u64, to: &mut dyn Write) -> io::Result<()> {
        let copied = self.copy_up_to(n, to)?;
        if copied < n {
            return Err(bad(format!("connection closed after {copied} of {n} body bytes")));
        }
        Ok(())
    }

    /// Copies up to `n` bytes (fewer at the end of the stream); returns how
    /// many.
    fn copy_up_to(&mut self, n: u64, to: &mut dyn Write) -> io::Result<u64> {
        let mut left = n;
        while left > 0 {
            if self.buffered().is_empty() && self.fill()? == 0 {
                break;
            }
            let data = self.buffered();
            let take = data.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            to.write_all(data.get(..take).unwrap_or_default())?;
            self.pos += take;
            left -= take as u64;
        }
        Ok(n - left)
    }
}

fn find_head_end(data: &[u8], from: usize) -> Option<usize> {
    data.get(from..)?.windows(4).position(|w| w == b"\r\n\r\n").map(|i| from + i + 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocation_ends_are_recognised() {
        assert_eq!(invocation_end("/2018-06-01/runtime/invocation/abc-1/response"), Some(("abc-1", Outcome::Response)));
        assert_eq!(invocation_end("/2018-06-01/runtime/invocation/abc-1/error"), Some(("abc-1", Outcome::Error)));
        assert_eq!(invocation_end("/2018-06-01/runtime/invocation/next"), None);
        assert_eq!(invocation_end("/2018-06-01/runtime/init/error"), None);
    }

    #[test]
    fn framing_from_headers() {
        let h = |name: &'static str, value: &'static [u8]| httparse::Header { name, value };
        assert_eq!(header_framing(&[h("Content-Length", b"12")]).ok(), Some(Some(Framing::Length(12))));
        assert_eq!(header_framing(&[h("transfer-encoding", b"chunked")]).ok(), Some(Some(Framing::Chunked)));
        assert_eq!(header_framing(&[]).ok(), Some(None));
        assert!(header_framing(&[h("Content-Length", b"1"), h("content-length", b"2")]).is_err());
        assert!(header_framing(&[h("Content-Length", b"-1")]).is_err());
        assert!(header_framing(&[h("Transfer-Encoding", b"gzip")]).is_err());
    }
}
