//! The language runtimes the end-to-end suites run under rampart
//! (tests/tests/runtime_java.rs, tests/tests/runtime_dotnet.rs), installed
//! only when missing so a second run costs a few process starts.
//!
//! - Java: OpenJDK 17 (`java`, `javac`; apt `openjdk-17-jdk-headless`).
//! - .NET: Mono's `mcs` (apt `mono-mcs`) compiles the C# test program; the
//!   `dotnetcore2` wheel (PyPI) carries the .NET Core 3.1 runtime that runs
//!   it (`python3 -c 'import dotnetcore2'` finds it; the suite looks for
//!   `bin/dotnet` under the package directory).
//! - botocore (PyPI): the AWS SDK for Python's signer, the oracle of
//!   crates/sigv4/tests/botocore.rs (`python3 -c 'import botocore'`).
//! - s3s-fs (crates.io, `cargo install`): a local S3 server that verifies
//!   SigV4, for the policy fetch and `rampart policy push/pull` suites
//!   (tests/src/s3s.rs). Built from source: a few minutes on a clean
//!   machine, once.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{cargo, output, run, show, succeeds};

/// The s3s-fs release tests/src/s3s.rs describes (its notes on what s3s-fs
/// does and does not do are for this version).
const S3S_FS_VERSION: &str = "0.14.1";

/// Installs what the runtime suites need on a Debian 12 machine where we are
/// root; prints one line per tool.
pub fn ensure_runtimes() -> Result<(), String> {
    // Java: usually part of the image already.
    for tool in ["java", "javac"] {
        if succeeds(Command::new(tool).arg("-version")) {
            println!("    {tool}: installed");
        } else {
            println!("    {tool}: missing, installing");
            apt_install("openjdk-17-jdk-headless")?;
        }
    }
    // `mcs --version` exits 0 and needs no project.
    if succeeds(Command::new("mcs").arg("--version")) {
        println!("    mcs: installed");
    } else {
        println!("    mcs: missing, installing");
        apt_install("mono-mcs")?;
    }
    // The same python3 the suite uses to find the runtime.
    if succeeds(Command::new("python3").args(["-c", "import dotnetcore2"])) {
        println!("    dotnetcore2: installed");
    } else {
        println!("    dotnetcore2: missing, installing");
        pip_install("dotnetcore2")?;
    }
    // The SigV4 signer's cross-check (crates/sigv4/tests/botocore.rs).
    if succeeds(Command::new("python3").args(["-c", "import botocore"])) {
        println!("    botocore: installed");
    } else {
        println!("    botocore: missing, installing");
        pip_install("botocore")?;
    }
    let s3s_fs = ensure_s3s_fs()?;
    println!("    s3s-fs: {}", s3s_fs.display());
    Ok(())
}

/// Where s3s-fs may be, in the order tests/src/s3s.rs looks: `$S3S_FS`, then
/// `PATH`, then where `cargo install` puts binaries.
fn s3s_fs_candidates() -> Vec<PathBuf> {
    if let Some(path) = std::env::var_os("S3S_FS") {
        return vec![PathBuf::from(path)];
    }
    let mut found: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|dir| dir.join("s3s-fs")).collect())
        .unwrap_or_default();
    found.push(cargo_bin_dir().join("s3s-fs"));
    found.retain(|path| path.is_file());
    found
}

/// `cargo install`'s bin directory: `$CARGO_INSTALL_ROOT/bin`, else
/// `$CARGO_HOME/bin`, else `~/.cargo/bin`.
fn cargo_bin_dir() -> PathBuf {
    let root = std::env::var_os("CARGO_INSTALL_ROOT")
        .or_else(|| std::env::var_os("CARGO_HOME"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"));
    root.join("bin")
}

/// `s3s-fs --version` says `s3s-fs X.Y.Z`.
fn s3s_fs_version(path: &Path) -> Option<String> {
    let out = output(Command::new(path).arg("--version")).ok()?;
    out.split_whitespace().nth(1).map(str::to_owned)
}

/// The s3s-fs the suites should run: the first one found at the pinned
/// version. `None` when there is none (`ensure_runtimes` installs it).
pub fn s3s_fs_path() -> Option<PathBuf> {
    s3s_fs_candidates().into_iter().find(|path| s3s_fs_version(path).as_deref() == Some(S3S_FS_VERSION))
}

/// Finds s3s-fs at the pinned version, or `cargo install`s it. `$S3S_FS`,
/// when set, is used as it is (any version) and never replaced.
fn ensure_s3s_fs() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("S3S_FS").map(PathBuf::from) {
        return match s3s_fs_version(&path) {
            Some(version) => {
                if version != S3S_FS_VERSION {
                    println!("    s3s-fs: $S3S_FS is version {version}, the suites expect {S3S_FS_VERSION}");
                }
                Ok(path)
            }
            None => Err(format!("$S3S_FS={} does not run (`--version` fails)", path.display())),
        };
    }
    if let Some(path) = s3s_fs_path() {
        return Ok(path);
    }
    for path in s3s_fs_candidates() {
        let version = s3s_fs_version(&path).unwrap_or_else(|| "unknown".to_owned());
        println!("    s3s-fs: {} is version {version}, not {S3S_FS_VERSION}", path.display());
    }
    let mut install = cargo();
    install.args(["install", &format!("s3s-fs@{S3S_FS_VERSION}"), "--features", "binary", "--locked"]);
    // A shared CARGO_TARGET_DIR would mix this release build into the
    // workspace's; cargo install's own temporary directory is used instead.
    install.env_remove("CARGO_TARGET_DIR");
    println!(
        "    s3s-fs {S3S_FS_VERSION}: not found, building it from crates.io (a few minutes; `--locked` warns about a yanked crate)"
    );
    println!("    {}", show(&install));
    run(&mut install)?;
    let installed = cargo_bin_dir().join("s3s-fs");
    match s3s_fs_version(&installed) {
        Some(version) if version == S3S_FS_VERSION => Ok(installed),
        other => Err(format!(
            "`{}` finished but {} reports version {other:?}, not {S3S_FS_VERSION}",
            show(&install),
            installed.display()
        )),
    }
}

/// `python3 -m pip install PKG` for the python3 on PATH (pyenv's here). A
/// Debian system python refuses (PEP 668, "externally-managed-environment");
/// on a test machine where we are root the package may go in anyway.
fn pip_install(pkg: &str) -> Result<(), String> {
    let pip = |extra: &[&str]| {
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .args(extra)
            .arg(pkg)
            .env("PIP_ROOT_USER_ACTION", "ignore");
        cmd
    };
    match output(&mut pip(&[])) {
        Ok(_) => Ok(()),
        Err(e) if e.contains("externally-managed-environment") => {
            println!("    {pkg}: python3 is externally managed (PEP 668), installing with --break-system-packages");
            run(&mut pip(&["--break-system-packages"]))
        }
        Err(e) => Err(format!("{e}\n(is pip there? apt-get install -y python3-pip)")),
    }
}

/// `apt-get install -y PKG`; the package lists are refreshed only when the
/// first attempt fails (a fresh image may have none), which keeps the common
/// case offline-fast.
fn apt_install(pkg: &str) -> Result<(), String> {
    let install = || {
        let mut cmd = Command::new("apt-get");
        cmd.args(["install", "-y", "--no-install-recommends", pkg]).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    if run(&mut install()).is_ok() {
        return Ok(());
    }
    run(Command::new("apt-get").arg("update"))?;
    run(&mut install())
}
