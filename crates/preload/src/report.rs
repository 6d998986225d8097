//! Event lines on stderr: one `write(2)` per line from a stack buffer, so
//! lines never interleave and reporting never allocates. Profile lines are
//! written once per process, alert lines rate-limited with counted
//! summaries; block lines always.

use std::ffi::{CString, c_int};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use rampart_decide::api::ApiCall;
use rampart_decide::hash;
use rampart_decide::ratelimit::{Alert, RateLimit};
use rampart_decide::seen::Seen;
use rampart_event::{EventRef, EventType, MAX_LINE};
use rampart_policy::{Access, Category, Verdict};

use crate::state::{self, State};
use crate::sys;

static SEEN: Seen = Seen::new();
static ALERTS: RateLimit = RateLimit::new();

/// What a hook knows about one activity.
pub struct Activity<'a> {
    pub cat: Category,
    pub op: &'static str,
    pub target: &'a [u8],
    pub access: Option<Access>,
    pub argv: Option<&'a [&'a [u8]]>,
    /// Api activities: the call's service, region and bucket for the line.
    pub api: Option<ApiCall<'a>>,
}

/// Writes the line a verdict calls for (if any). errno is preserved.
pub fn verdict(st: &State, v: Verdict, a: &Activity<'_>) {
    let kind = match v {
        Verdict::Allow => return,
        Verdict::Profile => {
            let acc = [a.access.map_or(0, |x| x.bits())];
            if !SEEN.first_time(hash::key(&[a.cat.as_str().as_bytes(), &acc, a.target])) {
                return;
            }
            EventType::Profile
        }
        Verdict::Alert => {
            let key = hash::key(&[a.cat.as_str().as_bytes(), a.target]);
            let mut label = rampart_decide::text::StackText::<{ rampart_decide::seqtext::TEXT_MAX }>::new();
            label.push(&[a.cat as u8]);
            label.push(a.target);
            match ALERTS.alert(key, label.as_bytes(), sys::now_ms() / 1000) {
                Alert::Suppress => return,
                Alert::Write { suppressed: 0 } => {}
                Alert::Write { suppressed } => summary(st, a.cat, a.target, suppressed),
            }
            EventType::Alert
        }
        Verdict::Block => EventType::Block,
    };
    let ev = EventRef {
        cat: Some(a.cat),
        op: Some(a.op),
        target: Some(a.target),
        access: a.access,
        argv: a.argv,
        service: a.api.map(|c| c.service),
        region: a.api.and_then(|c| c.region),
        bucket: a.api.and_then(|c| c.bucket),
        function: st.function.as_deref(),
        ..EventRef::new(kind, pid(), sys::now_ms())
    };
    emit(&ev);
}

fn summary(st: &State, cat: Category, target: &[u8], count: u64) {
    let ev = EventRef {
        cat: Some(cat),
        target: Some(target),
        msg: Some("alert lines suppressed (rate limit: one per target a minute)"),
        count: Some(count),
        function: st.function.as_deref(),
        ..EventRef::new(EventType::Status, pid(), sys::now_ms())
    };
    emit(&ev);
}

/// A status line once per process for one target (e.g. a static binary).
pub fn note_once(st: &State, cat: Category, target: &[u8], msg: &str) {
    if SEEN.first_time(hash::key(&[b"note", msg.as_bytes(), target])) {
        let ev = EventRef {
            cat: Some(cat),
            target: Some(target),
            msg: Some(msg),
            function: st.function.as_deref(),
            ..EventRef::new(EventType::Status, pid(), sys::now_ms())
        };
        emit(&ev);
    }
}

/// A status or error line (constructor, exit).
pub fn message(kind: EventType, msg: &str) {
    let function = state::active().and_then(|s| s.function.as_deref());
    emit(&EventRef { msg: Some(msg), function, ..EventRef::new(kind, pid(), sys::now_ms()) });
}

/// At exit: the counts of alerts still held back.
pub fn flush() {
    let Some(st) = state::active() else { return };
    ALERTS.drain(|label, n| {
        let (cat, target) = match label.split_first() {
            Some((&c, t)) => (Category::ALL.iter().copied().find(|x| *x as u8 == c), t),
            None => (None, label),
        };
        if let Some(cat) = cat {
            summary(st, cat, target, n);
        }
    });
}

fn pid() -> u32 {
    // SAFETY: getpid has no preconditions (and is not cached by glibc, so
    // it is right in fork children).
    unsafe { libc::getpid() as u32 }
}

fn emit(ev: &EventRef<'_>) {
    let saved = sys::errno();
    let mut req = [0u8; rampart_decide::seqtext::TEXT_MAX];
    let ev = EventRef { req: crate::control::request(&mut req), ..*ev };
    let mut buf = [0u8; MAX_LINE];
    let n = rampart_event::encode(&ev, &mut buf);
    write_line(buf.get(..n).unwrap_or(&[]));
    sys::set_errno(saved);
}

// Event lines go to the stderr of the process the wrapper (or `rampart
// run`) started — the function's log — from every process under it: a
// child whose stderr the code captures (`subprocess.run(capture_output=
// True)`, Java's ProcessBuilder pipes) must not swallow its lines. The root
// keeps a private duplicate of its stderr (high, close-on-exec, so the
// code's own fd numbers and dup2 onto 2 do not disturb it); exec'd
// children reopen it as /proc/ROOT/fd/N. Before each write the descriptor
// is checked to still be that file (a child may have closed it and reused
// the number); if not, the path is reopened for the line, and failing
// that, the line goes to this process's own stderr.

static LOG_FD: AtomicI32 = AtomicI32::new(-1);
static LOG_DEV: AtomicU64 = AtomicU64::new(0);
static LOG_INO: AtomicU64 = AtomicU64::new(0);

/// Sets up the log descriptor (constructor only) and returns its path for
/// children: `inherited` is the parent's `RAMPART_LOG`, if any.
pub fn open_log(inherited: Option<&std::ffi::OsStr>) -> Option<CString> {
    let fd = match inherited.and_then(|p| CString::new(p.as_bytes()).ok()) {
        Some(path) => {
            // SAFETY: path is NUL-terminated; a raw call, not the open hook.
            let fd = unsafe { raw_open_log(path.as_ptr()) };
            if fd >= 0 { high_dup(fd, true) } else { high_dup(2, false) }
        }
        None => {
            append_if_file(2);
            high_dup(2, false)
        }
    };
    if fd < 0 {
        return None;
    }
    let (dev, ino) = identity(fd)?;
    LOG_DEV.store(dev, Ordering::Relaxed);
    LOG_INO.store(ino, Ordering::Relaxed);
    LOG_FD.store(fd, Ordering::Release);
    match inherited {
        // Grandchildren reopen the root's file too.
        Some(p) => CString::new(p.as_bytes()).ok(),
        // SAFETY: getpid has no preconditions.
        None => CString::new(format!("/proc/{}/fd/{fd}", unsafe { libc::getpid() })).ok(),
    }
}

/// When the root's stderr is a regular file opened without `O_APPEND`
/// (`2> file`), children's lines (opened with `O_APPEND`, at the end) and
/// the root's (at its own offset) would overwrite each other: the shared
/// description gets `O_APPEND`, as `2>> file` would have it. Pipes and
/// terminals (Lambda, most runs) are left alone.
fn append_if_file(fd: c_int) {
    // SAFETY: an all-zero stat is valid; fstat and fcntl on a descriptor we
    // only inspect and flag.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 || st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return;
        }
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 && flags & libc::O_APPEND == 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_APPEND);
        }
    }
}

/// Duplicates `fd` to a high, close-on-exec number (closing `fd` when
/// `close` is set); -1 on failure.
fn high_dup(fd: c_int, close: bool) -> c_int {
    // SAFETY: fcntl/close on descriptors this function owns or borrows.
    unsafe {
        let mut dup = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, sys::HIGH_FD);
        if dup < 0 {
            dup = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3);
        }
        if close {
            libc::close(fd);
        }
        dup
    }
}

/// # Safety
/// `path` is NUL-terminated.
unsafe fn raw_open_log(path: *const std::ffi::c_char) -> c_int {
    let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CLOEXEC | libc::O_NOCTTY;
    // SAFETY: the caller's contract; the raw system call bypasses the hooks.
    unsafe { crate::sys::raw_syscall!(libc::SYS_openat, libc::AT_FDCWD, path, flags) as c_int }
}

fn identity(fd: c_int) -> Option<(u64, u64)> {
    // SAFETY: an all-zero stat is valid; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is writable.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}

fn write_line(line: &[u8]) {
    let fd = LOG_FD.load(Ordering::Acquire);
    let ours = fd >= 0
        && identity(fd)
            .is_some_and(|(d, i)| d == LOG_DEV.load(Ordering::Relaxed) && i == LOG_INO.load(Ordering::Relaxed));
    if ours {
        // SAFETY: line is initialised; a short or failed write (full pipe)
        // is dropped: the hook must not block or fail.
        unsafe { libc::write(fd, line.as_ptr().cast(), line.len()) };
        return;
    }
    if let Some(path) = state::active().and_then(|s| s.log_path.as_ref()) {
        // SAFETY: path is NUL-terminated; the descriptor is closed below.
        let fd = unsafe { raw_open_log(path.as_ptr()) };
        if fd >= 0 {
            // SAFETY: as above.
            unsafe {
                libc::write(fd, line.as_ptr().cast(), line.len());
                libc::close(fd);
            }
            return;
        }
    }
    // SAFETY: as above.
    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
}
