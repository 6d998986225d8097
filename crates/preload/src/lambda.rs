//! The root process under Lambda: the Runtime API relay that sees every
//! invocation's event before the handler, and the request ids and
//! heartbeat lines that come with it.
//!
//! The constructor of the process the wrapper started (the runtime) binds a
//! loopback port and points `AWS_LAMBDA_RUNTIME_API` at it before the
//! runtime client reads it; `rampart_runtime_proxy` relays every request to
//! the real API. On each new event: its source is classified
//! (`rampart_inputs`), checked against `allow.input` like any other
//! activity (a profile, alert or block line, with the request id), and in
//! block mode a denied event ends its invocation with an error the caller
//! sees, never reaching the handler. The request id goes onto the control
//! page, so every line from every process carries it until the invocation
//! ends; then one `status` line counts what was allowed, alerted and
//! blocked during it — a function whose heartbeats stop has lost its agent.
//!
//! Only the relay's own connections may reach the real API: the runtime's
//! allowance (`State::runtime_api`) is the relay's address, so code in the
//! function that finds the real address cannot fetch events past it
//! without a network rule that allows it.

use std::ffi::CString;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::OnceLock;
use std::time::Duration;

use rampart_event::EventType;
use rampart_policy::Category;
use rampart_runtime_proxy::{Inspector, Outcome, Verdict as Delivery};

use crate::ops::{self, settle};
use crate::report::{self, Activity};
use crate::{control, guard, published, thread};

/// The real Runtime API, as Lambda gave it.
static REAL_API: OnceLock<String> = OnceLock::new();

/// The totals at the start of the invocation in progress.
static TOTALS_AT_START: std::sync::Mutex<[u64; 3]> = std::sync::Mutex::new([0; 3]);

/// Root constructor, before the runtime's code: starts the relay and
/// rewrites `AWS_LAMBDA_RUNTIME_API`. Returns the relay's address (what
/// the runtime may connect to), or `None` to leave the runtime on the real
/// API (the reason has been reported).
pub fn start(real: &str) -> Option<SocketAddr> {
    let listener = match TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => {
            report::message(EventType::Error, &format!("cannot start the Runtime API relay: {e}; inputs not checked"));
            return None;
        }
    };
    let addr = listener.local_addr().ok()?;
    if REAL_API.set(real.to_owned()).is_err() {
        return None;
    }
    if let Err(e) = thread::spawn(c"rampart-api", 128 << 10, Box::new(move || accept(listener))) {
        let e = io::Error::from_raw_os_error(e);
        report::message(EventType::Error, &format!("cannot start the Runtime API relay: {e}; inputs not checked"));
        return None;
    }
    // SAFETY: the constructor runs before the program's own threads; no
    // other thread reads the environment now.
    unsafe { std::env::set_var("AWS_LAMBDA_RUNTIME_API", addr.to_string()) };
    Some(addr)
}

/// The real API's `NAME=value` for an exec that replaces the root: the new
/// program starts a relay of its own in front of the real API.
pub fn real_api_entry() -> Option<CString> {
    CString::new(format!("AWS_LAMBDA_RUNTIME_API={}", REAL_API.get()?)).ok()
}

fn accept(listener: TcpListener) {
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        let served = thread::spawn(
            c"rampart-api-conn",
            256 << 10,
            Box::new(move || {
                let _ = rampart_runtime_proxy::serve(client, &Relay, &connect_real);
            }),
        );
        if let Err(e) = served {
            let e = io::Error::from_raw_os_error(e);
            report::message(EventType::Error, &format!("Runtime API relay: cannot serve a connection: {e}"));
        }
    }
}

/// A connection to the real API, marked as the library's own so the
/// connect hook lets it through.
fn connect_real() -> io::Result<TcpStream> {
    let _internal = guard::Internal::enter();
    let real = REAL_API.get().ok_or_else(|| io::Error::other("no Runtime API"))?;
    let addr = real.to_socket_addrs()?.next().ok_or_else(|| io::Error::other("Runtime API address"))?;
    TcpStream::connect_timeout(&addr, Duration::from_secs(5))
}

struct Relay;

impl Inspector for Relay {
    fn invocation(&self, request_id: &str, event: &[u8]) -> Delivery {
        control::set_request(request_id.as_bytes());
        if let Ok(mut at) = TOTALS_AT_START.lock() {
            *at = control::totals();
        }
        let Some(st) = published::active() else { return Delivery::Deliver };
        let source = rampart_inputs::classify(event);
        let allowed = st.matcher().allows_input(source);
        let target = source.as_str().as_bytes();
        let a = Activity { cat: Category::Input, op: "invoke", target, access: None, argv: None, api: None };
        match settle(st, allowed, &a) {
            ops::Outcome::Deny(_) => Delivery::Refuse {
                error_type: "Rampart.InputDenied".into(),
                message: format!("rampart: events from {} are not allowed by this function's policy", source.as_str()),
            },
            ops::Outcome::Allow | ops::Outcome::Pass(_) => Delivery::Deliver,
        }
    }

    fn finished(&self, _request_id: &str, outcome: Outcome) {
        let now = control::totals();
        let start = TOTALS_AT_START.lock().map(|at| *at).unwrap_or([0; 3]);
        let ([a1, b1, c1], [a0, b0, c0]) = (now, start);
        let (allowed, alerted, blocked) = (a1.saturating_sub(a0), b1.saturating_sub(b0), c1.saturating_sub(c0));
        let how = match outcome {
            Outcome::Response => "response",
            Outcome::Error => "error",
            Outcome::Refused => "refused",
        };
        report::message(
            EventType::Status,
            &format!("invocation end ({how}): allowed {allowed}, alerted {alerted}, blocked {blocked}"),
        );
        control::set_request(b"");
    }
}
