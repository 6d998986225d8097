//! `rampart run`: start any command with librampart.so preloaded, the
//! policy and the mode set for it, the way the Lambda wrapper does.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use rampart_policy::Mode;

use crate::RunArgs;
use crate::files::{Fail, io_message, read_valid};

/// The library's file name, next to the `rampart` binary in a release.
const LIB_NAME: &str = "librampart.so";

/// Variables of the caller's environment the command keeps.
const KEPT: [&str; 2] = ["RAMPART_REFRESH_SECS", "RAMPART_POLICY_KEY"];

pub fn run(args: RunArgs) -> Result<ExitCode, Fail> {
    let lib = find_library()?;
    let policy = match &args.policy {
        // Fetched (and refreshed) by the library in the command's process;
        // only the form is checked here.
        Some(p) if p.as_os_str().as_encoded_bytes().starts_with(b"s3://") => {
            let url = p.to_string_lossy();
            let bucket = url["s3://".len()..].split('/').next().unwrap_or("");
            if bucket.is_empty() {
                return Err(Fail(format!("{url}: no bucket name (s3://BUCKET[/PREFIX])")));
            }
            Some(PathBuf::from(p))
        }
        Some(p) => {
            // Checked here so a typo is an error now, not a silent fallback
            // to profile mode inside the command.
            read_valid(p)?;
            Some(std::path::absolute(p).map_err(|e| Fail::io(p, &e))?)
        }
        None => None,
    };
    if let Some(m) = &args.mode {
        Mode::parse(m).ok_or_else(|| Fail(format!("unknown mode `{m}` (profile, alert, block or off)")))?;
    }
    let (program, rest) = args.command.split_first().ok_or_else(|| Fail::new("no command given after `--`"))?;

    let mut cmd = Command::new(program);
    cmd.args(rest);
    // The command gets this configuration and nothing it inherited: an
    // outer RAMPART_* (or a stale preload) must not leak into it. The
    // refresh interval and the policy signing key are the user's settings
    // for an s3:// policy and pass through.
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("RAMPART_") && !KEPT.contains(&&*name) {
            cmd.env_remove(&key);
        }
    }
    cmd.env("LD_PRELOAD", preload_value(&lib, std::env::var_os("LD_PRELOAD")));
    // libuv's io_uring file I/O would bypass every file hook.
    cmd.env("UV_USE_IO_URING", "0");
    if let Some(p) = policy {
        cmd.env("RAMPART_POLICY", p);
    }
    if let Some(m) = &args.mode {
        cmd.env("RAMPART_MODE", m);
    }
    let err = cmd.exec();
    let code = if err.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
    eprintln!("rampart: cannot run `{}`: {}", Path::new(program).display(), io_message(&err));
    Ok(ExitCode::from(code))
}

/// `RAMPART_LIB`, else librampart.so next to this binary (or in `../lib`).
fn find_library() -> Result<PathBuf, Fail> {
    if let Some(p) = std::env::var_os("RAMPART_LIB") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            std::path::absolute(&p).map_err(|e| Fail::io(&p, &e))
        } else {
            Err(Fail(format!("RAMPART_LIB={}: no such file", p.display())))
        };
    }
    let exe = std::env::current_exe().map_err(|e| Fail(format!("cannot find the rampart binary: {e}")))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let candidates = [dir.join(LIB_NAME), dir.join("../lib").join(LIB_NAME)];
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        Fail(format!("{LIB_NAME} not found next to {} (or in ../lib); set RAMPART_LIB to its path", exe.display()))
    })
}

/// The library first, then whatever else was preloaded (without a second
/// copy of rampart).
fn preload_value(lib: &Path, existing: Option<OsString>) -> OsString {
    let mut value = OsString::from(lib);
    if let Some(existing) = existing {
        let existing = existing.to_string_lossy().into_owned();
        for part in existing.split([':', ' ']).filter(|p| !p.is_empty()) {
            if Path::new(part).file_name() != Some(LIB_NAME.as_ref()) {
                value.push(":");
                value.push(part);
            }
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preload_keeps_other_libraries_once() {
        let lib = Path::new("/opt/rampart/librampart.so");
        assert_eq!(preload_value(lib, None), "/opt/rampart/librampart.so");
        assert_eq!(
            preload_value(lib, Some("/x/libfoo.so:/old/librampart.so libbar.so".into())),
            "/opt/rampart/librampart.so:/x/libfoo.so:libbar.so"
        );
    }
}
