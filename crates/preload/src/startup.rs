//! The constructor's work (after the real functions are resolved): read
//! the environment and the policy, or take the root's, publish them, and
//! start what the root runs (the Runtime API relay, the policy refresh).
//! The top of the library's own modules: it calls down into all of them
//! and nothing calls it but `init`.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;

use rampart_decide::childenv::{self, CHILD_MARK, Floor, RootRef};
use rampart_event::EventType;
use rampart_policy::{Category, Matcher, Mode, Policy};

use crate::published::{self, State};
use crate::{control, lambda, refresh, report, snapshot};

/// Reads the environment and the policy, and publishes the state. Runs
/// in the constructor on an internal-marked thread: allocation and file
/// reads are fine here.
pub fn load() {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok().filter(|s| !s.is_empty());
    let mut runtime_api = std::env::var("AWS_LAMBDA_RUNTIME_API").ok().and_then(|a| a.parse().ok());
    let is_child = std::env::var_os("RAMPART_CHILD").is_some_and(|v| v == "1");
    let mut errors: Vec<String> = Vec::new();
    let mode_override = match std::env::var_os("RAMPART_MODE") {
        None => None,
        Some(m) => Mode::parse(&m.to_string_lossy()).or_else(|| {
            errors.push(format!("RAMPART_MODE={}: not profile, alert, block or off", m.to_string_lossy()));
            None
        }),
    };
    // SAFETY: getpid has no preconditions.
    let own_pid = unsafe { libc::getpid() } as u32;

    // A child takes the root's compiled policy (and follows its changes),
    // after checking it is the one its root published; the root reads
    // and compiles the policy file, or starts empty and fetches it from
    // S3. A root that replaced itself by exec hands its policy to the new
    // program, which then carries on as the root.
    let root_value = if is_child { std::env::var_os("RAMPART_SNAPSHOT") } else { None };
    let root_value = root_value.as_deref().map(OsStrExt::as_bytes);
    let root_ref = root_value.map(RootRef::parse);
    let root_path = root_ref.flatten().and_then(|r| CString::new(r.path).ok());
    let from_root = root_ref.map(|r| match (r, &root_path) {
        (Some(r), Some(path)) => control::attach(path, r.control),
        _ => Err("RAMPART_SNAPSHOT is not a value the library wrote".to_owned()),
    });
    let took_over = matches!(from_root, Some(Ok(_))) && root_path.as_ref().is_some_and(control::took_over);
    let follows_root = matches!(from_root, Some(Ok(_))) && !took_over;
    // What a child cannot verify (another file at the root's descriptor,
    // the descriptors closed, the root gone) never makes it less strict
    // than its root could be: it denies everything its root may deny, and
    // compiles or fetches nothing of its own (a policy file the code can
    // rewrite, an empty profile-mode start until a fetch completes).
    let unverified = matches!(from_root, Some(Err(_)));
    let replaced_itself = root_ref.flatten().and_then(|r| r.root_pid()) == Some(own_pid);
    if unverified
        && replaced_itself
        && let Some(path) = &root_path
    {
        // What the previous program kept open for us is let go all the
        // same (only if the page was ours: `took_over` needs it mapped).
        control::took_over(path);
    }
    let is_root = !follows_root && (replaced_itself || !unverified);
    let policy_src = std::env::var_os("RAMPART_POLICY");
    let remote = policy_src
        .as_ref()
        .filter(|s| s.as_bytes().starts_with(b"s3://") && is_root)
        .map(|s| s.to_string_lossy().into_owned());
    let (matcher, counts, source) = match from_root {
        Some(Ok(m)) => {
            let source = if took_over { "inherited across exec" } else { "snapshot" };
            (m, [0; 5], source.to_owned())
        }
        Some(Err(e)) => {
            let floor = root_ref.flatten().map_or(Floor::STRICTEST, |r| r.floor);
            let cats: Vec<&str> = floor.block.iter().map(Category::as_str).collect();
            errors.push(format!(
                "{e}: the root's policy cannot be verified; denying everything the root may deny (mode {}, block [{}])",
                floor.mode.as_str(),
                cats.join(", ")
            ));
            (deny_all(floor), [0; 5], "none (the root's could not be verified)".to_owned())
        }
        None => {
            let (policy, source) = match &policy_src {
                None => (Policy::empty(Mode::Profile), "none".to_owned()),
                Some(src) if remote.is_some() => (Policy::empty(Mode::Profile), src.to_string_lossy().into_owned()),
                Some(src) => match load_policy(src) {
                    Ok(p) => (p, src.to_string_lossy().into_owned()),
                    Err(e) => {
                        errors.push(format!("policy {}: {e}; running in profile mode", src.to_string_lossy()));
                        (Policy::empty(Mode::Profile), src.to_string_lossy().into_owned())
                    }
                },
            };
            (published::compile(&policy, mode_override), policy.counts(), source)
        }
    };
    let mode = matcher.mode();
    // Children share the snapshot of the process the wrapper started
    // through its control page; a child passes its root's on unchanged.
    let root_for_children = match is_root {
        _ if mode == Mode::Off => None,
        true => {
            let floor = floor(&matcher, mode_override, remote.is_some());
            snapshot::publish(&matcher.to_snapshot()).and_then(control::create).and_then(|(path, control)| {
                let mut value = String::new();
                RootRef { control, floor, path: path.as_bytes() }.write_prefix(&mut value).ok()?;
                let mut value = value.into_bytes();
                value.extend_from_slice(path.as_bytes());
                CString::new(value).ok()
            })
        }
        false => root_value.and_then(|v| CString::new(v).ok()),
    };
    published::swap(matcher);
    // Under Lambda, the root relays the Runtime API to see each event first.
    let mut in_place_env = Vec::new();
    if is_root
        && mode != Mode::Off
        && let Ok(real) = std::env::var("AWS_LAMBDA_RUNTIME_API")
        && let Some(relay) = lambda::start(&real)
    {
        runtime_api = Some(relay);
        in_place_env.extend(lambda::real_api_entry());
        control::count_decisions();
    }
    let log = report::open_log(if is_child { std::env::var_os("RAMPART_LOG") } else { None }.as_deref());
    let child_env = child_env(&[
        ("RAMPART_LOG", log.as_ref().map(|l| &l.env_value)),
        ("RAMPART_SNAPSHOT", root_for_children.as_ref()),
    ]);
    let log_path = log.map(|l| l.path);
    let layer_root = published::own_path().and_then(|p| rampart_decide::layer::layer_root(&p).map(<[u8]>::to_vec));
    published::publish(State { function, runtime_api, child_env, in_place_env, log_path, layer_root });

    for e in &errors {
        report::message(EventType::Error, e);
    }
    // Only the root starts the refresh and says it started.
    if !is_root || mode == Mode::Off {
        return;
    }
    // A root that replaced itself keeps what it runs under until a fetch
    // brings a policy (a 404 does not turn it into an empty one).
    let (source, counts) = match remote {
        Some(url) => {
            let start = refresh::start(&url, mode_override, took_over || unverified);
            (start.source, start.counts)
        }
        None => (source, counts),
    };
    if took_over || unverified {
        return;
    }
    let [f, n, p, a, i] = counts;
    let mode = published::current().map_or(mode, Matcher::mode);
    let msg = format!(
        "started: mode {}, policy {source}, rules file {f} network {n} process {p} api {a} input {i}",
        mode.as_str()
    );
    report::message(EventType::Status, &msg);
}

/// The least a child that cannot verify this root's policy must enforce
/// (see `Floor::of_root`).
fn floor(matcher: &Matcher, mode_override: Option<Mode>, remote: bool) -> Floor {
    Floor::of_root(matcher.mode(), matcher.block_set(), remote, mode_override)
}

/// Nothing allowed, in the floor's mode: every activity of a blocked
/// category denied, the others reported.
fn deny_all(floor: Floor) -> Matcher {
    let mut policy = Policy::empty(floor.mode);
    policy.block = floor.block;
    published::compile(&policy, None)
}

fn load_policy(src: &OsStr) -> Result<Policy, String> {
    let s = src.to_string_lossy();
    let path = match s.strip_prefix("file://") {
        Some(p) => p.to_owned(),
        None if s.starts_with("s3://") => return Err("an s3:// policy is fetched by the root process only".into()),
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
    for name in childenv::inherited() {
        let name_os = OsStr::from_bytes(name);
        let value = match std::env::var_os(name_os) {
            Some(v) if !v.is_empty() => Some(v.as_bytes().to_vec()),
            _ if name == b"LD_PRELOAD" => published::own_path(),
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
