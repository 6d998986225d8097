//! The configuration the hooks read, and the policy in force: the bottom
//! of the library's own modules (it uses none of them), so everything
//! else can read it.
//!
//! Both are published through `static AtomicPtr`s to immutable, never-freed
//! values: safe to read from any thread, signal handler or vfork child, no
//! lock, no reference count. The configuration is set once by the
//! constructor (`startup`); the policy is swapped whole when it changes
//! (the root's refresh from S3, a child following its root) and the old
//! one is leaked, so a hook that loaded it keeps a valid policy to the end
//! of its call.

use std::ffi::{CStr, CString};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicPtr, Ordering};

use rampart_policy::{Matcher, Mode, Policy};

pub struct State {
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub function: Option<String>,
    /// The Runtime API the runtime talks to (the root's relay when there is
    /// one): always allowed, never reported.
    pub runtime_api: Option<SocketAddr>,
    /// `NAME=value` entries every child's environment gets (see
    /// rampart_decide::childenv), NUL-terminated.
    pub child_env: Vec<CString>,
    /// Entries an exec that replaces the root itself also gets (the real
    /// Runtime API: the new program relays it anew).
    pub in_place_env: Vec<CString>,
    /// Where event lines go: the stderr of the process the wrapper
    /// started, as `/proc/PID/fd/N` (see `report::open_log`), which a
    /// child opens for a line when its own stderr is not that file.
    pub log_path: Option<CString>,
    /// `/opt/rampart/` when this library is the layer's: the shims there
    /// are its own files (rampart_decide::layer).
    pub layer_root: Option<Vec<u8>>,
}

static STATE: AtomicPtr<State> = AtomicPtr::new(std::ptr::null_mut());
static POLICY: AtomicPtr<Matcher> = AtomicPtr::new(std::ptr::null_mut());

impl State {
    /// The policy in force now. A hook reads it once and decides with that
    /// one value throughout its call.
    pub fn matcher(&self) -> &'static Matcher {
        // SAFETY: the constructor stores the first policy (Release) before
        // the state; whoever reached the state (Acquire) sees a non-null
        // policy, which is a leaked Box<Matcher>, never freed or written.
        unsafe { &*POLICY.load(Ordering::Acquire) }
    }
}

/// The policy in force, if the constructor has run.
pub fn current() -> Option<&'static Matcher> {
    // SAFETY: a non-null pointer is a leaked Box<Matcher>, never freed or
    // written after publication.
    unsafe { POLICY.load(Ordering::Acquire).as_ref() }
}

/// Makes `matcher` the policy in force; the previous one is leaked (a hook
/// may still be reading it).
pub fn swap(matcher: Matcher) {
    POLICY.store(Box::into_raw(Box::new(matcher)), Ordering::Release);
}

/// The state, once the constructor has run and unless the mode is off.
pub fn active() -> Option<&'static State> {
    let p = STATE.load(Ordering::Acquire);
    // SAFETY: a non-null pointer is a leaked Box<State>, never freed or
    // written after publication.
    let st = unsafe { p.as_ref() }?;
    (current()?.mode() != Mode::Off).then_some(st)
}

/// Makes `state` the configuration (the constructor, once).
pub fn publish(state: State) {
    STATE.store(Box::into_raw(Box::new(state)), Ordering::Release);
}

/// The policy compiled, with `RAMPART_MODE` applied. One copy for the
/// constructor and the refresh thread: inlined into both, the compiler
/// doubles ~40 KB of a library every child maps.
#[inline(never)]
pub fn compile(policy: &Policy, mode_override: Option<Mode>) -> Matcher {
    let matcher = policy.compile();
    match mode_override {
        Some(mode) => matcher.with_mode(mode),
        None => matcher,
    }
}

/// This library's file, from the loader.
pub fn own_path() -> Option<Vec<u8>> {
    let mut info = libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    // SAFETY: dladdr fills `info` for an address inside this library.
    let ok = unsafe { libc::dladdr(own_path as *const libc::c_void, &mut info) };
    if ok == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is the loader's NUL-terminated file name.
    Some(unsafe { CStr::from_ptr(info.dli_fname) }.to_bytes().to_vec())
}

/// Whether `ip:port` is the Lambda Runtime API (the runtime's own channel).
pub fn is_runtime_api(st: &State, ip: IpAddr, port: u16) -> bool {
    st.runtime_api.is_some_and(|a| a.ip() == ip && a.port() == port)
}
