//! The C fixtures of `tests/runtimes/c`, compiled with the system's `cc` at
//! test time (`preload_c.rs`, `preload_stress.rs`).
//!
//! Each suite gets its own directory under the cargo target directory
//! (`rampart-c/SUITE/`), rebuilt on every run: a build product, not a
//! temporary directory that a killed test would leave behind in /tmp. A
//! program is compiled to a private name and renamed into place, so a
//! second run of the same suite never sees a half-written binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the C sources are.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("runtimes/c")
}

/// `TARGET/rampart-c/SUITE`, created, canonical (rules and expected
/// targets are written with it; the library reports real paths).
pub fn suite_dir(suite: &str) -> PathBuf {
    let dir = crate::target_dir().join("rampart-c").join(suite);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    std::fs::canonicalize(&dir).expect("canonicalize the fixture directory")
}

/// Compiles `source` (a file in [`source_dir`]) into `out` with `flags`.
/// Fails the test, saying how to install the compiler, when `cc` is missing.
pub fn compile(source: &str, out: &Path, flags: &[&str]) {
    let src = source_dir().join(source);
    let tmp = out.with_file_name(format!(
        ".{}.{}.tmp",
        out.file_name().expect("output file name").to_string_lossy(),
        std::process::id()
    ));
    let result = Command::new("cc").args(flags).arg("-o").arg(&tmp).arg(&src).output();
    let output = match result {
        Ok(o) => o,
        Err(e) => {
            panic!("cannot run `cc` ({e}): install a C compiler and libc headers (apt-get install gcc libc6-dev)")
        }
    };
    assert!(
        output.status.success(),
        "cc {flags:?} {} failed (a static build needs libc.a: apt-get install libc6-dev):\n{}",
        src.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&tmp, out).unwrap_or_else(|e| panic!("rename {} -> {}: {e}", tmp.display(), out.display()));
}

/// Copies `from` to `to` through a private name (see [`compile`]).
pub fn install_copy(from: &Path, to: &Path) {
    let tmp = to.with_file_name(format!(
        ".{}.{}.tmp",
        to.file_name().expect("file name").to_string_lossy(),
        std::process::id()
    ));
    std::fs::copy(from, &tmp).unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), tmp.display()));
    std::fs::rename(&tmp, to).unwrap_or_else(|e| panic!("rename {} -> {}: {e}", tmp.display(), to.display()));
}

/// The dynamic symbols `binary` imports (`nm -D --undefined-only`),
/// without their version suffix.
pub fn imports(binary: &Path) -> Vec<String> {
    let out = Command::new("nm")
        .args(["-D", "--undefined-only"])
        .arg(binary)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `nm` ({e}): apt-get install binutils"));
    assert!(out.status.success(), "nm {}: {}", binary.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(|s| s.split('@').next().unwrap_or(s).to_owned())
        .collect()
}
