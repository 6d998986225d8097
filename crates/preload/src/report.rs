//! Event lines on stderr: one `write(2)` per line from a stack buffer, so
//! lines never interleave and reporting never allocates. Profile lines are
//! written once per process, alert lines rate-limited with counted
//! summaries; block lines always.

use std::ffi::{CString, c_int};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use rampart_decide::api::ApiCall;
use rampart_decide::childenv::{FileId, LogRef};
use rampart_decide::hash;
use rampart_decide::ratelimit::{Alert, RateLimit};
use rampart_decide::seen::Seen;
use rampart_event::{EventRef, EventType, MAX_LINE};
use rampart_policy::{Access, Category, Verdict};

use crate::published::{self, State};
use crate::{page, snapshot, sys};

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
    let function = published::active().and_then(|s| s.function.as_deref());
    emit(&EventRef { msg: Some(msg), function, ..EventRef::new(kind, pid(), sys::now_ms()) });
}

/// At exit: the counts of alerts still held back.
pub fn flush() {
    let Some(st) = published::active() else { return };
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
    let ev = EventRef { req: page::request(&mut req), ..*ev };
    let mut buf = [0u8; MAX_LINE];
    let n = rampart_event::encode(&ev, &mut buf);
    write_line(buf.get(..n).unwrap_or(&[]));
    sys::set_errno(saved);
}

// Event lines go to the stderr of the process the wrapper (or `rampart
// run`) started — the function's log — from every process under it: a
// child whose stderr the code captures (`subprocess.run(capture_output=
// True)`, Java's ProcessBuilder pipes) must not swallow its lines.
//
// The root keeps a private duplicate of its stderr (high, close-on-exec,
// so the code's own fd numbers and dup2 onto 2 do not disturb it) and
// hands children its path, /proc/ROOT/fd/N, with its identity (st_dev,
// st_ino; see rampart_decide::childenv::LogRef). Children keep no
// descriptor of their own: a program must not find one it did not open
// (CPython's test_subprocess checks exactly that). A child writes a line
// to its own fd 2 when that is the root's log (the common case: it
// inherited it; one fstat, as a kept descriptor would need too), else it
// opens the path for that one line, and only if what it opened is the
// root's log (code in the root can dup2 another file over N: lines must
// not be a way to write into a file the policy only lets it read). Failing
// both, the line goes to the process's own stderr.

/// The root's log descriptor; -1 in children.
static LOG_FD: AtomicI32 = AtomicI32::new(-1);
/// The root's log, identified; 0/0 when there is none.
static LOG_DEV: AtomicU64 = AtomicU64::new(0);
static LOG_INO: AtomicU64 = AtomicU64::new(0);

/// Where a process's lines go, for its children and its own writes.
pub struct Log {
    /// `RAMPART_LOG` for children (`DEV:INO:/proc/ROOT/fd/N`).
    pub env_value: CString,
    /// `/proc/ROOT/fd/N`, which a child opens for a line.
    pub path: CString,
}

/// The root's log descriptor (-1 in children), for `control` to keep open
/// across an exec in place.
pub fn log_fd() -> c_int {
    LOG_FD.load(Ordering::Acquire)
}

/// Sets up the log (constructor only). `inherited` is the parent's
/// `RAMPART_LOG`: a child keeps its identity and path only; a root that
/// replaced itself by exec takes back the descriptor it kept open across
/// it; without one, this process is the root and its stderr is the log.
pub fn open_log(inherited: Option<&std::ffi::OsStr>) -> Option<Log> {
    // SAFETY: getpid has no preconditions.
    let own_pid = unsafe { libc::getpid() } as u32;
    if let Some(value) = inherited.map(std::ffi::OsStr::as_bytes)
        && let Some(log) = LogRef::parse(value)
    {
        let kept = log.fd().filter(|&fd| log.root_pid() == Some(own_pid) && snapshot::identity(fd) == Some(log.id));
        if log.root_pid() != Some(own_pid) || kept.is_some() {
            LOG_DEV.store(log.id.dev, Ordering::Relaxed);
            LOG_INO.store(log.id.ino, Ordering::Relaxed);
            if let Some(fd) = kept {
                // SAFETY: the descriptor the previous program of this
                // process kept open for us: close-on-exec again.
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
                LOG_FD.store(fd, Ordering::Release);
            }
            return Some(Log { env_value: CString::new(value).ok()?, path: CString::new(log.path).ok()? });
        }
    }
    append_if_file(2);
    let fd = high_dup(2);
    if fd < 0 {
        return None;
    }
    let id = snapshot::identity(fd)?;
    LOG_DEV.store(id.dev, Ordering::Relaxed);
    LOG_INO.store(id.ino, Ordering::Relaxed);
    LOG_FD.store(fd, Ordering::Release);
    let path = format!("/proc/{own_pid}/fd/{fd}");
    let mut env_value = String::new();
    LogRef { id, path: path.as_bytes() }.write_prefix(&mut env_value).ok()?;
    env_value.push_str(&path);
    Some(Log { env_value: CString::new(env_value).ok()?, path: CString::new(path).ok()? })
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

/// Duplicates `fd` to a high, close-on-exec number; -1 on failure.
fn high_dup(fd: c_int) -> c_int {
    // SAFETY: fcntl on a descriptor this function only borrows.
    unsafe {
        let dup = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, sys::HIGH_FD);
        if dup >= 0 { dup } else { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) }
    }
}

/// # Safety
/// `path` is NUL-terminated.
unsafe fn raw_open_log(path: *const std::ffi::c_char) -> c_int {
    let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CLOEXEC | libc::O_NOCTTY;
    // SAFETY: the caller's contract; the raw system call bypasses the hooks.
    unsafe { crate::sys::raw_syscall!(libc::SYS_openat, libc::AT_FDCWD, path, flags) as c_int }
}

fn is_log(fd: c_int) -> bool {
    let id = FileId { dev: LOG_DEV.load(Ordering::Relaxed), ino: LOG_INO.load(Ordering::Relaxed) };
    id != FileId { dev: 0, ino: 0 } && snapshot::identity(fd) == Some(id)
}

fn write_to(fd: c_int, line: &[u8]) {
    if past_size_limit(fd, line.len()) {
        return;
    }
    // SAFETY: line is initialised; a short or failed write (full pipe) is
    // dropped: the hook must not block or fail.
    unsafe { libc::write(fd, line.as_ptr().cast(), line.len()) };
}

/// Whether writing `len` bytes to `fd` would take a regular file past the
/// process's `RLIMIT_FSIZE`. Such a write raises `SIGXFSZ`, which kills a
/// process that has not set it aside yet (Node.js ignores it only once its
/// main has run, after the constructor's lines): the line cannot be written
/// anywhere the function's log would see it, so it is not written, and the
/// process's own limit — not the library — decides its fate. Only a finite
/// limit costs the `fstat`.
fn past_size_limit(fd: c_int, len: usize) -> bool {
    // SAFETY: all-zero rlimit and stat are valid values for the calls to
    // fill; both only write into them.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit) != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
            return false;
        }
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 || st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return false;
        }
        (st.st_size as u64).saturating_add(len as u64) > limit.rlim_cur
    }
}

fn write_line(line: &[u8]) {
    let fd = LOG_FD.load(Ordering::Acquire);
    if fd >= 0 && is_log(fd) {
        return write_to(fd, line);
    }
    if LOG_FD.load(Ordering::Relaxed) < 0 && is_log(2) {
        return write_to(2, line);
    }
    if let Some(path) = published::active().and_then(|s| s.log_path.as_ref()) {
        // SAFETY: path is NUL-terminated; the descriptor is closed below.
        let fd = unsafe { raw_open_log(path.as_ptr()) };
        if fd >= 0 {
            let ours = is_log(fd);
            if ours {
                write_to(fd, line);
            }
            // SAFETY: opened above, not used after this.
            unsafe { libc::close(fd) };
            if ours {
                return;
            }
        }
    }
    write_to(2, line);
}
