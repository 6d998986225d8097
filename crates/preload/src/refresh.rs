//! The root's policy refresh from S3.
//!
//! Only the process the wrapper (or `rampart run`) started does this; its
//! children follow through the control page (`control`). The HTTP, TLS,
//! SigV4 and signature code lives in `librampart_fetch.so` next to this
//! library, `dlopen`ed here on first use, so the children that every exec
//! creates never map it.
//!
//! The first fetch runs in the constructor, before the program's own code,
//! so a function starts under its policy rather than catching up later.
//! After that a thread asks again every `RAMPART_REFRESH_SECS` with a
//! conditional GET (a 304 costs one small request). Lambda freezes the
//! environment between invocations, so timers cannot be trusted to fire on
//! time: every checked hook also compares a coarse clock with the due time
//! and wakes the thread when a refresh is overdue (a load and, at most, a
//! vDSO clock read; the hook never waits for the fetch).
//!
//! Failures keep the last good policy: one `error` line per distinct
//! failure (not per retry), transport failures back off (doubling, bounded
//! by `MAX_BACKOFF` or the interval if longer), and a `status` line names
//! every change of policy and the recovery after failures.

use std::ffi::{CString, c_int, c_void};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use rampart_event::EventType;
use rampart_fetch_wire::{Reply, encode_config, keys};
use rampart_policy::{Mode, Policy};

use crate::{control, guard, published, report, snapshot};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Per request; the constructor's first fetch waits at most this long.
const FETCH_TIMEOUT_MS: u64 = 3000;
/// The largest policy object accepted (a 100k-rule policy is ~3 MB).
const MAX_POLICY_BYTES: u64 = 16 << 20;
const FETCH_LIB: &str = "librampart_fetch.so";

/// Coarse monotonic milliseconds at which a refresh is due; 0 when this
/// process has no refresh thread (children, file policies).
static NEXT_DUE_MS: AtomicU64 = AtomicU64::new(0);
/// The futex the refresh thread sleeps on; 1 = woken by a hook.
static KICK: AtomicU32 = AtomicU32::new(0);

fn now_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec to fill; a vDSO read, safe anywhere.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1000).saturating_add(ts.tv_nsec as u64 / 1_000_000)
}

/// Hooks: wake the refresh thread when a refresh is overdue.
pub fn due_check() {
    let due = NEXT_DUE_MS.load(Ordering::Relaxed);
    if due == 0 || now_ms() < due {
        return;
    }
    if KICK.swap(1, Ordering::AcqRel) == 0 {
        // SAFETY: FUTEX_WAKE on a static word; wakes at most one waiter.
        unsafe {
            crate::sys::raw_syscall!(libc::SYS_futex, KICK.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1)
        };
    }
}

/// In a fork child: the refresh thread was not copied.
pub fn after_fork_in_child() {
    NEXT_DUE_MS.store(0, Ordering::Release);
}

/// The functions of librampart_fetch.so (see that crate).
#[repr(C)]
struct Buf {
    ptr: *mut u8,
    len: usize,
}
type OpenFn = unsafe extern "C" fn(*const u8, usize) -> *mut c_void;
type GetFn = unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut Buf);
type FreeFn = unsafe extern "C" fn(Buf);

struct Fetcher {
    handle: *mut c_void,
    get: GetFn,
    free: FreeFn,
}

// SAFETY: the handle is used by one thread at a time: the constructor,
// then the refresh thread it hands the fetcher to.
unsafe impl Send for Fetcher {}

impl Fetcher {
    fn load(config: &[u8]) -> Result<Fetcher, String> {
        let mut path = published::own_path().ok_or("cannot tell where librampart.so is")?;
        // The directory, with its slash ("" for a bare name: the loader's
        // search, as for librampart.so itself).
        path.truncate(path.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1));
        path.extend_from_slice(FETCH_LIB.as_bytes());
        let shown = String::from_utf8_lossy(&path).into_owned();
        let cpath = CString::new(path).map_err(|_| "bad library path")?;
        // SAFETY: a NUL-terminated path; RTLD_LOCAL keeps its symbols
        // (and its own std) out of the program's namespace.
        let lib = unsafe { libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if lib.is_null() {
            // SAFETY: dlerror returns null or a NUL-terminated message.
            let why = unsafe { libc::dlerror() };
            // SAFETY: as above.
            let why = unsafe { crate::sys::c_bytes(why) };
            return Err(format!("cannot load {shown}: {}", String::from_utf8_lossy(why)));
        }
        let sym = |name: &std::ffi::CStr| {
            // SAFETY: lib is a live handle; name is NUL-terminated.
            let p = unsafe { libc::dlsym(lib, name.as_ptr()) };
            if p.is_null() { Err(format!("{shown} has no {}", name.to_string_lossy())) } else { Ok(p) }
        };
        let open = sym(c"rampart_fetch_open_v1")?;
        let get = sym(c"rampart_fetch_get_v1")?;
        let free = sym(c"rampart_fetch_free_v1")?;
        // SAFETY: the symbols have these types (the fetch crate's exports,
        // versioned in their names).
        let (open, get, free) = unsafe {
            (
                std::mem::transmute::<*mut c_void, OpenFn>(open),
                std::mem::transmute::<*mut c_void, GetFn>(get),
                std::mem::transmute::<*mut c_void, FreeFn>(free),
            )
        };
        // SAFETY: config is readable for its length; open never returns null.
        let handle = unsafe { open(config.as_ptr(), config.len()) };
        Ok(Fetcher { handle, get, free })
    }

    fn get(&self, etag: &str) -> Reply {
        let mut buf = Buf { ptr: std::ptr::null_mut(), len: 0 };
        // SAFETY: a handle from open; etag readable for its length; buf writable.
        unsafe { (self.get)(self.handle, etag.as_ptr(), etag.len(), &mut buf) };
        let reply = if buf.ptr.is_null() {
            Err("the fetcher returned nothing".to_owned())
        } else {
            // SAFETY: the fetcher's reply, valid until freed below.
            Reply::decode(unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) })
        };
        // SAFETY: released once.
        unsafe { (self.free)(buf) };
        reply.unwrap_or_else(|message| Reply::Failed { kind: "fetcher".into(), message })
    }
}

struct Refresher {
    fetcher: Fetcher,
    location: String,
    mode_override: Option<Mode>,
    interval: Duration,
    etag: String,
    loaded: bool,
    /// After the first fetch: changes are announced from then on (the
    /// first is in the `started` line).
    started: bool,
    last_problem: Option<String>,
    failures: u32,
}

/// What the first fetch came to, for the `started` line.
pub struct Start {
    pub source: String,
    pub counts: [usize; 5],
}

/// Root, constructor: the first fetch (installing the policy it finds) and
/// the refresh thread. `mode_override` is `RAMPART_MODE`; `has_policy`
/// when the policy in force already came from this location (a root that
/// replaced itself by exec).
pub fn start(url: &str, mode_override: Option<Mode>, has_policy: bool) -> Start {
    let mut interval = DEFAULT_INTERVAL;
    if let Ok(v) = std::env::var("RAMPART_REFRESH_SECS") {
        match rampart_decide::seconds::parse_millis(&v) {
            Some(ms) if ms >= 100 => interval = Duration::from_millis(ms.min(86_400_000)),
            _ => report::message(
                EventType::Error,
                &format!("RAMPART_REFRESH_SECS={v}: not a number of seconds (at least 0.1); using 10"),
            ),
        }
    }
    // The fetcher gets the environment as it is now: code in the function
    // changing AWS_ENDPOINT_URL or the credentials later cannot redirect it.
    let captured: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_") || k == keys::KEY)
        .chain([
            (keys::POLICY.to_owned(), url.to_owned()),
            (keys::TIMEOUT_MS.to_owned(), FETCH_TIMEOUT_MS.to_string()),
            (keys::MAX_BYTES.to_owned(), MAX_POLICY_BYTES.to_string()),
        ])
        .collect();
    let config = encode_config(captured.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let fetcher = match Fetcher::load(&config) {
        Ok(f) => f,
        Err(e) => {
            report::message(EventType::Error, &format!("policy {url}: {e}; running in profile mode without refresh"));
            return Start { source: url.to_owned(), counts: [0; 5] };
        }
    };
    let mut r = Refresher {
        fetcher,
        location: url.to_owned(),
        mode_override,
        interval,
        etag: String::new(),
        loaded: has_policy,
        started: false,
        last_problem: None,
        failures: 0,
    };
    // A root that replaced itself already runs under this policy: its
    // thread fetches right away instead of delaying the new program.
    let counts = if has_policy { None } else { r.refresh().1 };
    r.started = true;
    let source = if r.loaded { format!("{url} (ETag {})", r.etag) } else { url.to_owned() };
    let first_delay = if has_policy { Duration::ZERO } else { r.delay() };
    NEXT_DUE_MS.store(now_ms() + first_delay.as_millis() as u64, Ordering::Release);
    spawn(r);
    Start { source, counts: counts.unwrap_or([0; 5]) }
}

fn spawn(r: Refresher) {
    if let Err(e) = crate::thread::spawn(c"rampart-refresh", 256 << 10, Box::new(move || run(r))) {
        NEXT_DUE_MS.store(0, Ordering::Release);
        let e = std::io::Error::from_raw_os_error(e);
        report::message(EventType::Error, &format!("cannot start the policy refresh thread: {e}"));
    }
}

fn run(mut r: Refresher) -> ! {
    loop {
        let due = NEXT_DUE_MS.load(Ordering::Acquire);
        let now = now_ms();
        if now < due {
            let wait = Duration::from_millis(due - now);
            let ts = libc::timespec { tv_sec: wait.as_secs() as libc::time_t, tv_nsec: wait.subsec_nanos() as _ };
            // SAFETY: FUTEX_WAIT on a static word with a relative timeout;
            // returns at once if a hook already set it.
            unsafe {
                crate::sys::raw_syscall!(
                    libc::SYS_futex,
                    KICK.as_ptr(),
                    libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                    0,
                    &ts as *const libc::timespec,
                )
            };
            KICK.store(0, Ordering::Release);
            continue;
        }
        KICK.store(0, Ordering::Release);
        r.refresh();
        NEXT_DUE_MS.store(now_ms() + r.delay().as_millis() as u64, Ordering::Release);
    }
}

impl Refresher {
    /// Until the next fetch: the interval, or the back-off after transport
    /// failures.
    fn delay(&self) -> Duration {
        if self.failures == 0 {
            return self.interval;
        }
        let factor = 1u32 << self.failures.saturating_sub(1).min(16);
        self.interval.saturating_mul(factor).min(MAX_BACKOFF.max(self.interval))
    }

    /// One conditional GET and what follows from it; returns whether the
    /// policy changed and, if so, its rule counts.
    fn refresh(&mut self) -> (bool, Option<[usize; 5]>) {
        let _internal = guard::Internal::enter();
        match self.fetcher.get(&self.etag) {
            Reply::NotModified => self.recovered(),
            Reply::NotFound if !self.loaded => {
                self.recovered();
                self.problem(EventType::Status, &format!("no policy at {} yet: profile mode", self.location));
            }
            Reply::NotFound => {
                self.recovered();
                self.problem(
                    EventType::Error,
                    &format!("the policy at {} is gone; keeping the last good policy", self.location),
                );
            }
            Reply::Failed { kind, message } => {
                self.failures = self.failures.saturating_add(1);
                let keep = if self.loaded { "keeping the last good policy" } else { "profile mode until it loads" };
                self.problem(EventType::Error, &format!("policy fetch failed ({kind}): {message}; {keep}"));
            }
            // A server that ignores If-None-Match sends the same object again.
            Reply::Object { etag, .. } if !etag.is_empty() && etag == self.etag => self.recovered(),
            Reply::Object { etag, body } => {
                self.recovered();
                // A bad object is not fetched again until it changes.
                self.etag = etag;
                match self.install(&body) {
                    Ok(counts) => return (true, Some(counts)),
                    Err(e) => self.problem(
                        EventType::Error,
                        &format!("policy {} (ETag {}): {e}; keeping the last good policy", self.location, self.etag),
                    ),
                }
            }
        }
        (false, None)
    }

    fn recovered(&mut self) {
        if self.failures > 0 {
            let msg = format!("policy fetch from {} works again after {} failures", self.location, self.failures);
            report::message(EventType::Status, &msg);
        }
        self.failures = 0;
        self.last_problem = None;
    }

    /// A line for a problem, unless it is the same as the last one.
    fn problem(&mut self, kind: EventType, msg: &str) {
        if self.last_problem.as_deref() != Some(msg) {
            report::message(kind, msg);
            self.last_problem = Some(msg.to_owned());
        }
    }

    fn install(&mut self, body: &[u8]) -> Result<[usize; 5], String> {
        let text = std::str::from_utf8(body).map_err(|_| "not UTF-8 text".to_owned())?;
        let policy = Policy::parse(text).map_err(|e| e.to_string())?;
        let matcher = published::compile(&policy, self.mode_override);
        let counts = policy.counts();
        let mode = matcher.mode();
        let bytes = matcher.to_snapshot();
        // A new ETag for the same rules (a re-upload, a root that replaced
        // itself fetching what it runs under) changes nothing.
        if self.loaded && published::current().is_some_and(|m| m.to_snapshot() == bytes) {
            return Ok(counts);
        }
        let fd: Option<c_int> = snapshot::publish(&bytes);
        published::swap(matcher);
        if let Some(fd) = fd {
            control::publish(fd);
        }
        if self.started {
            let [f, n, p, a, i] = counts;
            report::message(
                EventType::Status,
                &format!(
                    "policy changed: {} ETag {}, mode {}, rules file {f} network {n} process {p} api {a} input {i}",
                    self.location,
                    self.etag,
                    mode.as_str()
                ),
            );
        }
        self.loaded = true;
        Ok(counts)
    }
}
