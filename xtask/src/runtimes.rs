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

use std::process::Command;

use crate::util::{output, run, succeeds};

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
    Ok(())
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
