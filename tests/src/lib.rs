//! Helpers for the end-to-end suites in `tests/tests/`: where the built
//! `rampart` binary and `librampart.so` are, running a command under
//! protection, and reading back the event lines it wrote.
//!
//! The binaries are built by `cargo xtask test` before the suites run
//! (`cargo build -p rampart-cli -p rampart-preload`); `RAMPART_BIN` and
//! `RAMPART_LIB` point elsewhere when set.

pub mod runtimes_common;

pub mod cases;

pub mod cprog;

pub mod s3s;

pub mod faulty_s3;

pub mod rie;

pub mod layer;

pub mod moto;

pub mod evasion;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rampart_event::{Event, EventType, PREFIX};

/// The cargo target directory the suites were built into.
pub fn target_dir() -> PathBuf {
    match option_env!("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}

fn built(var: &str, name: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| target_dir().join("debug").join(name));
    assert!(
        path.is_file(),
        "{} is missing: build it first with `cargo build -p rampart-cli -p rampart-preload -p rampart-fetch` (or set {var})",
        path.display()
    );
    path
}

/// The `rampart` command line binary.
pub fn rampart_bin() -> PathBuf {
    built("RAMPART_BIN", "rampart")
}

/// The preload library.
pub fn rampart_lib() -> PathBuf {
    built("RAMPART_LIB", "librampart.so")
}

/// What a command did under rampart.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    /// Standard error without rampart's event lines.
    pub stderr: String,
    /// rampart's event lines, in order.
    pub events: Vec<Event>,
}

impl Outcome {
    /// Events of one type.
    pub fn of(&self, kind: EventType) -> Vec<&Event> {
        self.events.iter().filter(|e| e.kind == kind).collect()
    }

    /// Events of one type whose target is `target`.
    pub fn with_target(&self, kind: EventType, target: &str) -> Vec<&Event> {
        self.events.iter().filter(|e| e.kind == kind && e.target.as_deref() == Some(target)).collect()
    }

    /// Panics with the whole outcome unless the command exited 0.
    pub fn assert_success(&self) -> &Outcome {
        assert_eq!(self.code, Some(0), "command failed: {self:#?}");
        self
    }
}

/// Splits a finished command's output into the outcome; every line that
/// starts like an event line must decode (lines are never torn).
pub fn outcome(out: Output) -> Outcome {
    let all = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut stderr = String::new();
    let mut events = Vec::new();
    for line in all.lines() {
        if let Some(at) = line.find(PREFIX) {
            let ev = rampart_event::decode(&line[at..])
                .unwrap_or_else(|e| panic!("torn or invalid event line {line:?}: {e:?}\nstderr:\n{all}"));
            events.push(ev);
            stderr.push_str(&line[..at]);
            if at > 0 {
                stderr.push('\n');
            }
        } else {
            stderr.push_str(line);
            stderr.push('\n');
        }
    }
    Outcome { code: out.status.code(), stdout: String::from_utf8_lossy(&out.stdout).into_owned(), stderr, events }
}

/// What one `rampart` command (not `run`) did.
#[derive(Debug)]
pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// Panics with the whole output unless the command exited 0.
    pub fn ok(&self) -> &CliOutput {
        assert_eq!(self.code, 0, "{self:#?}");
        self
    }

    /// Asserts the one-line `rampart: ...` error with exit code 2 and returns it.
    pub fn fails(&self) -> String {
        assert_eq!(self.code, 2, "{self:#?}");
        assert!(self.stderr.starts_with("rampart: "), "{self:#?}");
        assert_eq!(self.stderr.lines().count(), 1, "{self:#?}");
        self.stderr.trim_end().to_string()
    }
}

/// Runs `rampart ARGS` in `cwd` with only `env` and `HOME=home`, no stdin.
pub fn rampart_cli(args: &[&str], home: &Path, cwd: &Path, env: &[(String, String)]) -> CliOutput {
    let out = Command::new(rampart_bin())
        .args(args)
        .env_clear()
        .env("HOME", home)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run rampart");
    CliOutput {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    }
}

/// A `rampart run` command line: add the program and its arguments with
/// `.args()`, environment with `.env()`, then [`run`] it.
///
/// `policy` is a path to a policy.json, `mode` one of profile, alert,
/// block, off. The environment is the test's own minus any `RAMPART_*`
/// and `LD_PRELOAD` it has.
pub fn rampart_run(policy: Option<&Path>, mode: Option<&str>) -> Command {
    let mut cmd = Command::new(rampart_bin());
    cmd.env("RAMPART_LIB", rampart_lib());
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if (k.starts_with("RAMPART_") && k != "RAMPART_LIB") || k == "LD_PRELOAD" {
            cmd.env_remove(&*k);
        }
    }
    cmd.arg("run");
    if let Some(p) = policy {
        cmd.arg("--policy").arg(p);
    }
    if let Some(m) = mode {
        cmd.args(["--mode", m]);
    }
    cmd.arg("--");
    cmd
}

/// Runs a command to completion with no stdin and returns what it did.
pub fn run(cmd: &mut Command) -> Outcome {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    outcome(out)
}

/// Writes a policy file into `dir` and returns its path.
pub fn write_policy(dir: &Path, json: &str) -> PathBuf {
    let path = dir.join("policy.json");
    std::fs::write(&path, json).expect("write policy");
    // A test's policy must be valid: a typo would make the run fall back
    // to profile mode and the test would check the wrong thing.
    rampart_policy::Policy::parse(json).unwrap_or_else(|e| panic!("test policy is invalid: {e}\n{json}"));
    path
}

/// The value of `KEY=VALUE` in a versions file's text (`path` names it in
/// the panic: a missing key is a bug in that file).
pub fn versions_value(path: &str, text: &'static str, key: &str) -> &'static str {
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{path} has no {key}="))
}
