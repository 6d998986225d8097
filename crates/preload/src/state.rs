//! The configuration and compiled policy the hooks read: built once by the
//! constructor, published through a `static AtomicPtr` to an immutable,
//! never-freed snapshot (safe to read from any thread, signal handler or
//! vfork child; no lock, no reference count).

use std::ffi::{CStr, CString, OsStr};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicPtr, Ordering};

use rampart_decide::childenv::{CHILD_MARK, INHERITED};
use rampart_event::EventType;
use rampart_policy::{Matcher, Mode, Policy};

use crate::report;
use crate::snapshot;

pub struct State {
    pub matcher: Matcher,
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub function: Option<String>,
    /// `AWS_LAMBDA_RUNTIME_API`: always allowed, never reported.
    pub runtime_api: Option<SocketAddr>,
    /// `NAME=value` entries every child's environment gets (see
    /// rampart_decide::childenv), NUL-terminated.
    pub child_env: Vec<CString>,
    /// Where event lines go: the stderr of the process the wrapper
    /// started, as `/proc/PID/fd/N` (see `report::open_log`).
    pub log_path: Option<CString>,
}

static STATE: AtomicPtr<State> = AtomicPtr::new(std::ptr::null_mut());

/// The state, once the constructor has run and unless the mode is off.
pub fn active() -> Option<&'static State> {
    let p = STATE.load(Ordering::Acquire);
    // SAFETY: a non-null pointer is a leaked Box<State>, never freed or
    // written after publication.
    let st = unsafe { p.as_ref() }?;
    (st.matcher.mode() != Mode::Off).then_some(st)
}

/// Reads the environment and the policy, and publishes the state. Runs
/// in the constructor on an internal-marked thread: allocation and file
/// reads are fine here.
pub fn load() {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok().filter(|s| !s.is_empty());
    let runtime_api = std::env::var("AWS_LAMBDA_RUNTIME_API").ok().and_then(|a| a.parse().ok());
    let is_child = std::env::var_os("RAMPART_CHILD").is_some_and(|v| v == "1");
    let mut errors: Vec<String> = Vec::new();

    // A child takes the root's compiled policy; the root (or a child whose
    // root is gone) reads and compiles the policy file.
    let inherited = if is_child { std::env::var_os("RAMPART_SNAPSHOT") } else { None };
    let from_root = inherited.as_deref().map(snapshot::load);
    let (matcher, counts, source) = match from_root {
        Some(Ok(m)) => (m, [0; 5], "snapshot".to_owned()),
        other => {
            if let Some(Err(e)) = other {
                errors.push(format!("{e}; compiling the policy here instead"));
            }
            let (policy, source) = match std::env::var_os("RAMPART_POLICY") {
                None => (Policy::empty(Mode::Profile), "none".to_owned()),
                Some(src) => match load_policy(&src) {
                    Ok(p) => (p, src.to_string_lossy().into_owned()),
                    Err(e) => {
                        errors.push(format!("policy {}: {e}; running in profile mode", src.to_string_lossy()));
                        (Policy::empty(Mode::Profile), src.to_string_lossy().into_owned())
                    }
                },
            };
            let mut matcher = policy.compile();
            if let Some(m) = std::env::var_os("RAMPART_MODE") {
                match Mode::parse(&m.to_string_lossy()) {
                    Some(mode) => matcher = matcher.with_mode(mode),
                    None => {
                        errors.push(format!("RAMPART_MODE={}: not profile, alert, block or off", m.to_string_lossy()))
                    }
                }
            }
            (matcher, policy.counts(), source)
        }
    };
    let mode = matcher.mode();
    // Children share the snapshot of the process the wrapper started.
    let snapshot_path = match (&inherited, mode) {
        (_, Mode::Off) => None,
        (Some(p), _) => CString::new(p.as_bytes()).ok(),
        (None, _) => snapshot::publish(&matcher),
    };
    let log_path = report::open_log(std::env::var_os("RAMPART_LOG").as_deref());
    let child_env = child_env(&[("RAMPART_LOG", log_path.as_ref()), ("RAMPART_SNAPSHOT", snapshot_path.as_ref())]);
    let state = State { matcher, function, runtime_api, child_env, log_path };
    STATE.store(Box::into_raw(Box::new(state)), Ordering::Release);

    for e in &errors {
        report::message(EventType::Error, e);
    }
    if !is_child && mode != Mode::Off {
        let msg = format!(
            "started: mode {}, policy {source}, rules file {} network {} process {} api {} input {}",
            mode.as_str(),
            counts[0],
            counts[1],
            counts[2],
            counts[3],
            counts[4]
        );
        report::message(EventType::Status, &msg);
    }
}

fn load_policy(src: &OsStr) -> Result<Policy, String> {
    let s = src.to_string_lossy();
    let path = match s.strip_prefix("file://") {
        Some(p) => p.to_owned(),
        None if s.starts_with("s3://") => return Err("S3 policies are not supported by this build yet".into()),
        None => s.into_owned(),
    };
    if !path.starts_with('/') {
        return Err("not an absolute path, file:// URL or s3:// URL".into());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    Policy::parse(&text).map_err(|e| e.to_string())
}

/// The entries children inherit: this process's own values of the
/// inherited variables (LD_PRELOAD falls back to this library's path), the
/// root's log and snapshot, and the child mark.
fn child_env(shared: &[(&str, Option<&CString>)]) -> Vec<CString> {
    let mut env = Vec::new();
    for (name, value) in shared {
        if let Some(value) = value {
            let mut entry = format!("{name}=").into_bytes();
            entry.extend_from_slice(value.to_bytes());
            if let Ok(c) = CString::new(entry) {
                env.push(c);
            }
        }
    }
    for name in INHERITED {
        let name_os = OsStr::from_bytes(name);
        let value = match std::env::var_os(name_os) {
            Some(v) if !v.is_empty() => Some(v.as_bytes().to_vec()),
            _ if name == b"LD_PRELOAD" => own_path(),
            _ => None,
        };
        if let Some(v) = value {
            let mut entry = name.to_vec();
            entry.push(b'=');
            entry.extend_from_slice(&v);
            if let Ok(c) = CString::new(entry) {
                env.push(c);
            }
        }
    }
    if let Ok(c) = CString::new(CHILD_MARK) {
        env.push(c);
    }
    env
}

/// This library's file, from the loader.
fn own_path() -> Option<Vec<u8>> {
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

/// The state, for a hook that should check this call: the library is set
/// up, the mode is not off, and the call is not the library's own.
pub fn checked() -> Option<&'static State> {
    active().filter(|_| !crate::guard::is_internal())
}
