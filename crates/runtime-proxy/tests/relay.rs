//! The relay between a runtime client and a stand-in Runtime API, both on
//! loopback: events delivered and refused, invocation ends reported,
//! bodies relayed byte for byte (chunked included), bad input survived.
//! (The real Runtime API, AWS's emulator, is in the end-to-end suites.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rampart_runtime_proxy::{Inspector, NEXT_PATH, Outcome, Verdict, serve};

/// What the stand-in API received: method, path, body.
type Log = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A Runtime API that hands out `events` in order (id `req-N`), then 404s,
/// and accepts every POST with 202. One connection at a time, keep-alive.
fn fake_api(events: Vec<Vec<u8>>) -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    std::thread::spawn(move || {
        let mut next = 0;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut out = stream;
            loop {
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    head.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                if head.is_empty() {
                    break;
                }
                let mut words = head.split_whitespace();
                let (method, path) = (words.next().unwrap_or("").to_owned(), words.next().unwrap_or("").to_owned());
                let lower = head.to_ascii_lowercase();
                let mut body = Vec::new();
                if let Some(len) = lower.split("content-length:").nth(1) {
                    let n: usize = len.lines().next().unwrap_or("0").trim().parse().unwrap_or(0);
                    body.resize(n, 0);
                    reader.read_exact(&mut body).expect("body");
                } else if lower.contains("transfer-encoding: chunked") {
                    loop {
                        let mut size = String::new();
                        reader.read_line(&mut size).expect("size");
                        let hex = size.split(';').next().unwrap_or("").trim();
                        let n = usize::from_str_radix(hex, 16).expect("hex");
                        if n == 0 {
                            // Trailers, then the blank line.
                            loop {
                                let mut line = String::new();
                                reader.read_line(&mut line).expect("trailer");
                                if line == "\r\n" {
                                    break;
                                }
                            }
                            break;
                        }
                        let mut chunk = vec![0; n + 2];
                        reader.read_exact(&mut chunk).expect("chunk");
                        body.extend_from_slice(&chunk[..n]);
                    }
                }
                seen.lock().expect("lock").push((method.clone(), path.clone(), body));
                if method == "GET" && path == NEXT_PATH {
                    match events.get(next) {
                        Some(event) => {
                            let id = format!("req-{next}");
                            next += 1;
                            write!(
                                out,
                                "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: {id}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                                event.len()
                            )
                            .expect("write");
                            out.write_all(event).expect("write");
                        }
                        None => out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}").expect("w"),
                    }
                } else {
                    out.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n")
                        .expect("w");
                }
            }
        }
    });
    (addr, log)
}

/// Refuses events that contain `evil`; records what it saw.
#[derive(Default)]
struct Judge {
    seen: Mutex<Vec<String>>,
}

impl Inspector for Judge {
    fn invocation(&self, request_id: &str, event: &[u8]) -> Verdict {
        self.seen.lock().expect("lock").push(format!("event {request_id} {}", event.len()));
        if event.windows(4).any(|w| w == b"evil") {
            Verdict::Refuse { error_type: "Rampart.InputDenied".into(), message: "not \"allowed\"".into() }
        } else {
            Verdict::Deliver
        }
    }

    fn finished(&self, request_id: &str, outcome: Outcome) {
        self.seen.lock().expect("lock").push(format!("done {request_id} {outcome:?}"));
    }
}

/// Starts the relay for one client connection; returns the client's end.
fn relay(api: String, judge: Arc<Judge>) -> TcpStream {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let (client, _) = listener.accept().expect("accept");
        let _ = serve(client, &*judge, &|| TcpStream::connect(&api));
    });
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    stream
}

/// Reads one response: status, headers (lowercased names), body.
fn response(reader: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut status = String::new();
    reader.read_line(&mut status).expect("status");
    let code = status.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("code");
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        if line == "\r\n" {
            break;
        }
        let (k, v) = line.split_once(':').expect("colon");
        headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len = headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().expect("len"));
    let mut body = vec![0; len];
    reader.read_exact(&mut body).expect("body");
    (code, headers, body)
}

fn get_next(out: &mut TcpStream, reader: &mut BufReader<TcpStream>) -> (u16, Option<String>, Vec<u8>) {
    write!(out, "GET {NEXT_PATH} HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
    let (code, headers, body) = response(reader);
    let id = headers.into_iter().find(|(k, _)| k == "lambda-runtime-aws-request-id").map(|(_, v)| v);
    (code, id, body)
}

#[test]
fn refused_events_never_reach_the_client_and_end_in_an_error() {
    let events = vec![b"{\"a\":1}".to_vec(), b"{\"evil\":true}".to_vec(), b"{\"b\":2}".to_vec()];
    let (api, log) = fake_api(events);
    let judge = Arc::new(Judge::default());
    let mut client = relay(api, Arc::clone(&judge));
    let mut reader = BufReader::new(client.try_clone().expect("clone"));

    let (code, id, body) = get_next(&mut client, &mut reader);
    assert_eq!((code, id.as_deref(), &body[..]), (200, Some("req-0"), &b"{\"a\":1}"[..]));
    write!(client, "POST /2018-06-01/runtime/invocation/req-0/response HTTP/1.1\r\nContent-Length: 2\r\n\r\nok")
        .expect("write");
    assert_eq!(response(&mut reader).0, 202);

    // The evil event is refused by the relay; the client gets the next one.
    let (code, id, body) = get_next(&mut client, &mut reader);
    assert_eq!((code, id.as_deref(), &body[..]), (200, Some("req-2"), &b"{\"b\":2}"[..]));

    let log = log.lock().expect("lock").clone();
    let paths: Vec<(&str, &str)> = log.iter().map(|(m, p, _)| (m.as_str(), p.as_str())).collect();
    assert_eq!(
        paths,
        [
            ("GET", NEXT_PATH),
            ("POST", "/2018-06-01/runtime/invocation/req-0/response"),
            ("GET", NEXT_PATH),
            ("POST", "/2018-06-01/runtime/invocation/req-1/error"),
            ("GET", NEXT_PATH),
        ]
    );
    let error: serde_json::Value = serde_json::from_slice(&log[3].2).expect("error document");
    assert_eq!(error["errorType"], "Rampart.InputDenied");
    assert_eq!(error["errorMessage"], "not \"allowed\"");
    assert_eq!(&log[1].2, b"ok");
    assert_eq!(
        *judge.seen.lock().expect("lock"),
        ["event req-0 7", "done req-0 Response", "event req-1 13", "done req-1 Refused", "event req-2 7"]
    );
}

#[test]
fn chunked_bodies_are_relayed_as_they_are() {
    let (api, log) = fake_api(vec![b"{}".to_vec()]);
    let judge = Arc::new(Judge::default());
    let mut client = relay(api, Arc::clone(&judge));
    let mut reader = BufReader::new(client.try_clone().expect("clone"));
    let (_, id, _) = get_next(&mut client, &mut reader);
    let id = id.expect("id");
    // A streamed response: chunks with an extension and a trailer.
    write!(
        client,
        "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\
         Lambda-Runtime-Function-Response-Mode: streaming\r\n\r\n5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n"
    )
    .expect("write");
    assert_eq!(response(&mut reader).0, 202);
    let log = log.lock().expect("lock").clone();
    assert_eq!(log[1].2, b"hello world");
    assert!(judge.seen.lock().expect("lock").contains(&format!("done {id} Response")));
}

#[test]
fn malformed_requests_close_the_connection_without_harm() {
    let (api, _log) = fake_api(vec![b"{}".to_vec()]);
    for garbage in [&b"\x00\x01\x02 not http\r\n\r\n"[..], b"GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"] {
        let mut client = relay(api.clone(), Arc::new(Judge::default()));
        client.write_all(garbage).expect("write");
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).expect("read"), 0, "{garbage:?} got {rest:?}");
    }
}

#[test]
fn a_large_event_is_delivered_whole() {
    let mut big = b"{\"data\":\"".to_vec();
    big.extend(std::iter::repeat_n(b'x', 6 << 20));
    big.extend_from_slice(b"\"}");
    let (api, _log) = fake_api(vec![big.clone()]);
    let judge = Arc::new(Judge::default());
    let mut client = relay(api, Arc::clone(&judge));
    let mut reader = BufReader::new(client.try_clone().expect("clone"));
    let (code, _, body) = get_next(&mut client, &mut reader);
    assert_eq!(code, 200);
    assert!(body == big, "body of {} bytes differs", body.len());
}
