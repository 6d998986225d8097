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
//! - moto's server and boto3 (PyPI `moto[server]`): Lambda, CloudWatch Logs
//!   and IAM on loopback for tests/tests/cli_aws.rs (`rampart instrument`,
//!   `rampart learn --function`), set up with boto3.
//! - s3s-fs (crates.io, `cargo install`): a local S3 server that verifies
//!   SigV4, for the policy fetch and `rampart policy push/pull` suites
//!   (tests/src/s3s.rs). Built from source: a few minutes on a clean
//!   machine, once.
//!
//! For the Lambda suites under AWS's Runtime Interface Emulator
//! (tests/src/rie.rs, tests/tests/rie_*.rs), at the versions tests/src/rie.rs
//! names:
//!
//! - `aws-lambda-rie` (Go, `go install`, into `$(go env GOPATH)/bin`; needs a
//!   go ≥ 1.26 on PATH). The module proxy serves a pseudo-version of it, not
//!   the v1.x tags.
//! - `awslambdaric` (PyPI): the Python runtime interface client.
//! - `aws-lambda-ric` (npm): the Node.js one. Its install builds
//!   aws-lambda-cpp and curl from source (apt `cmake autoconf automake
//!   libtool g++ make`; about two minutes on 2 cores, once). It goes into
//!   `CACHE/node-ric-VERSION/node_modules/`, not globally.
//! - `aws-lambda-java-runtime-interface-client` (Maven Central) and its
//!   dependencies (`aws-lambda-java-core` among them), as jars in
//!   `CACHE/java-ric-VERSION/`, copied there by `mvn
//!   dependency:copy-dependencies` from a generated pom (apt `maven`).
//! - Mono's `System.Net.Http.dll` (apt `libmono-system-net-http4.0-cil`):
//!   the .NET fixture's runtime loop uses HttpClient, as AWS's .NET runtime
//!   client does (which is not installable here).
//! - `shellcheck` (apt), which checks the layer's wrapper shims.
//!
//! For the deploy/ snippets (tests/tests/deploy_snippets.rs), at the
//! versions tests/runtimes/deploy/versions.txt names:
//!
//! - `cfn-lint` (PyPI), which lints the SAM and CloudFormation templates
//!   and the one the CDK app synthesizes (it brings aws-sam-translator for
//!   the SAM transform).
//! - `python-hcl2` (PyPI), which parses the Terraform files into JSON.
//! - `hclfmt` (Go, `go install` of HashiCorp's HCL module): HashiCorp's own
//!   HCL parser and formatter, for a syntax check and `terraform fmt`-style
//!   canonical layout. No terraform binary installs from the registries
//!   here, and `terraform validate` would need the AWS provider too.
//! - `aws-cdk-lib`, `constructs`, `typescript` and `@types/node` (npm), at
//!   deploy/cdk/package-lock.json's versions, by `npm ci` into
//!   `CACHE/deploy-cdk-HASH/node_modules/` (HASH: of that lockfile). About
//!   210 MB and 40 s, once.
//!
//! For the language shims' suite (tests/tests/api_sdk.rs), `cargo xtask
//! bench-api` and the instrument/learn suite (tests/tests/cli_aws.rs), at the versions tests/runtimes/api/versions.txt names:
//!
//! - `boto3` and `moto[server]` (PyPI) for the python3 on PATH: the AWS SDK
//!   for Python, and moto's AWS server the calls go to on loopback.
//! - `@aws-sdk/client-dynamodb` and `@aws-sdk/client-s3` (npm), the AWS SDK
//!   for JavaScript v3, into `CACHE/aws-sdk-js-S3-DYNAMODB/node_modules/`.
//!
//! CACHE is `$RAMPART_CACHE_DIR`, else `$XDG_CACHE_HOME/rampart`, else
//! `~/.cache/rampart` (tests/src/rie.rs computes the same): outside the
//! target directory so `cargo clean` does not cost a rebuild of the Node
//! client. Each version has its own directory, filled in a temporary one and
//! renamed into place, so an interrupted install is redone, not half-used.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{cargo, output, run, show, succeeds, versions_value};

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
    ensure_lambda()?;
    ensure_api_sdks()?;
    ensure_deploy_tools()
}

/// The versions of the AWS SDKs the language shims are tested with, shared
/// with tests/tests/api_sdk.rs.
const API_VERSIONS: &str = include_str!("../../tests/runtimes/api/versions.txt");

/// A `KEY=VALUE` of [`API_VERSIONS`]; a missing key is a bug in that file.
fn api_version(key: &str) -> &'static str {
    versions_value("tests/runtimes/api/versions.txt", API_VERSIONS, key)
}

/// boto3 and moto's server for python3, and the AWS SDK for JavaScript v3's
/// DynamoDB and S3 clients in the cache; one line each. Returns the
/// `node_modules` directory of the JavaScript SDK.
pub fn ensure_api_sdks() -> Result<PathBuf, String> {
    // Any boto3 will do for an installed one (botocore is shared with the
    // SigV4 suite); a missing one is installed at the tested version.
    let boto3 = output(
        Command::new("python3").args(["-c", "import importlib.metadata as m, boto3; print(m.version('boto3'))"]),
    );
    match boto3.as_deref().map(str::trim) {
        Ok(found) => println!("    boto3: {found} installed"),
        Err(_) => {
            let version = api_version("BOTO3_VERSION");
            println!("    boto3: missing, installing {version}");
            pip_install(&format!("boto3=={version}"))?;
        }
    }
    // The server needs moto's `server` extra (flask, flask-cors) on top of moto.
    let moto = output(
        Command::new("python3")
            .args(["-c", "import importlib.metadata as m, moto.server, flask_cors; print(m.version('moto'))"]),
    );
    match moto.as_deref().map(str::trim) {
        Ok(found) => println!("    moto[server]: {found} installed"),
        Err(_) => {
            let version = api_version("MOTO_VERSION");
            println!("    moto[server]: missing, installing {version}");
            pip_install(&format!("moto[server]=={version}"))?;
        }
    }
    let s3 = api_version("AWS_SDK_JS_S3_VERSION");
    let dynamodb = api_version("AWS_SDK_JS_DYNAMODB_VERSION");
    let name = format!("aws-sdk-js-{s3}-{dynamodb}");
    let modules = cache_dir().join(&name).join("node_modules");
    let complete = |modules: &Path| {
        ["@aws-sdk/client-s3", "@aws-sdk/client-dynamodb"]
            .iter()
            .all(|p| modules.join(p).join("package.json").is_file())
    };
    if complete(&modules) {
        println!("    @aws-sdk/client-s3 {s3}, @aws-sdk/client-dynamodb {dynamodb}: installed");
        return Ok(modules);
    }
    ensure_npm()?;
    println!("    @aws-sdk/client-s3 {s3}, @aws-sdk/client-dynamodb {dynamodb}: missing, installing");
    cached_dir(&name, |dir| {
        std::fs::write(dir.join("package.json"), "{\"private\": true}\n").map_err(|e| format!("package.json: {e}"))?;
        let mut npm = Command::new("npm");
        npm.args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .arg(format!("@aws-sdk/client-s3@{s3}"))
            .arg(format!("@aws-sdk/client-dynamodb@{dynamodb}"))
            .current_dir(dir);
        run(&mut npm)
    })?;
    if complete(&modules) {
        Ok(modules)
    } else {
        Err(format!("npm finished but {} lacks the two clients", modules.display()))
    }
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

/// `apt-get install -y PKG`.
fn apt_install(pkg: &str) -> Result<(), String> {
    apt_install_all(&[pkg])
}

/// `apt-get install -y PKG...`; the package lists are refreshed only when the
/// first attempt fails (a fresh image may have none), which keeps the common
/// case offline-fast.
pub(crate) fn apt_install_all(pkgs: &[&str]) -> Result<(), String> {
    let install = || {
        let mut cmd = Command::new("apt-get");
        cmd.args(["install", "-y", "--no-install-recommends"]).args(pkgs).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    if run(&mut install()).is_ok() {
        return Ok(());
    }
    run(Command::new("apt-get").arg("update"))?;
    run(&mut install())
}

/// The versions the Lambda suites run, shared with tests/src/rie.rs.
const LAMBDA_VERSIONS: &str = include_str!("../../tests/runtimes/lambda/versions.txt");

/// A `KEY=VALUE` of [`LAMBDA_VERSIONS`]; a missing key is a bug in that file.
fn lambda_version(key: &str) -> &'static str {
    versions_value("tests/runtimes/lambda/versions.txt", LAMBDA_VERSIONS, key)
}

/// npm from apt when it is missing (Node.js itself comes with the machine).
fn ensure_npm() -> Result<(), String> {
    if !succeeds(Command::new("npm").arg("--version")) {
        println!("    npm: missing, installing");
        apt_install("npm")?;
    }
    Ok(())
}

/// Where the Node and Java runtime clients are installed (module doc).
fn cache_dir() -> PathBuf {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("RAMPART_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("rampart")))
        .unwrap_or_else(|| var("HOME").unwrap_or_else(|| PathBuf::from("/root")).join(".cache/rampart"))
}

/// What `cargo xtask demo` runs: the emulator, the Python runtime client
/// and s3s-fs; one line per tool.
pub fn ensure_demo() -> Result<(), String> {
    let rie = ensure_rie()?;
    println!("    aws-lambda-rie: {}", rie.display());
    ensure_python_ric()?;
    let s3s_fs = ensure_s3s_fs()?;
    println!("    s3s-fs: {}", s3s_fs.display());
    // The harness finds s3s-fs through S3S_FS first.
    // SAFETY: xtask is single-threaded here; nothing reads the environment
    // concurrently.
    unsafe { std::env::set_var("S3S_FS", &s3s_fs) };
    Ok(())
}

/// Everything the Lambda suites need; one line per tool.
fn ensure_lambda() -> Result<(), String> {
    let rie = ensure_rie()?;
    println!("    aws-lambda-rie: {}", rie.display());
    ensure_python_ric()?;
    let node = ensure_node_ric()?;
    println!("    aws-lambda-ric (node): {}", node.display());
    let java = ensure_java_ric()?;
    println!("    aws-lambda-java-runtime-interface-client: {}", java.display());
    // The .NET fixture's HttpClient.
    if Path::new(MONO_HTTP).is_file() {
        println!("    mono System.Net.Http: installed");
    } else {
        println!("    mono System.Net.Http: missing, installing");
        apt_install("libmono-system-net-http4.0-cil")?;
    }
    if succeeds(Command::new("shellcheck").arg("--version")) {
        println!("    shellcheck: installed");
    } else {
        println!("    shellcheck: missing, installing");
        apt_install("shellcheck")?;
    }
    Ok(())
}

/// The assembly mcs needs for `-r:System.Net.Http.dll`.
const MONO_HTTP: &str = "/usr/lib/mono/4.5/System.Net.Http.dll";

/// `$(go env GOPATH)/bin`, where `go install` puts binaries (`$GOBIN` when set).
fn go_bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("GOBIN").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let gopath = output(Command::new("go").args(["env", "GOPATH"]))
        .map_err(|e| format!("{e}\n(the emulator is built with go ≥ 1.26; is it on PATH?)"))?;
    // GOPATH may be a list; go install uses the first entry.
    let first = gopath.trim().split(':').next().unwrap_or_default();
    if first.is_empty() {
        return Err("`go env GOPATH` is empty".into());
    }
    Ok(Path::new(first).join("bin"))
}

/// The emulator at the pinned version: `go version -m` names the module
/// version a Go binary was built from (a few ms, no network).
fn ensure_rie() -> Result<PathBuf, String> {
    ensure_go_tool(lambda_version("RIE_MODULE"), "cmd/aws-lambda-rie", lambda_version("RIE_VERSION"))
}

/// awslambdaric for the python3 on PATH, at the pinned version.
fn ensure_python_ric() -> Result<(), String> {
    let version = lambda_version("PYTHON_RIC_VERSION");
    let installed = output(
        Command::new("python3")
            .args(["-c", "import importlib.metadata as m, awslambdaric; print(m.version('awslambdaric'))"]),
    );
    match installed.as_deref().map(str::trim) {
        Ok(found) if found == version => {
            println!("    awslambdaric: installed");
            return Ok(());
        }
        Ok(found) => println!("    awslambdaric: {found} installed, installing {version}"),
        Err(_) => println!("    awslambdaric: missing, installing {version}"),
    }
    pip_install(&format!("awslambdaric=={version}"))
}

/// A directory of CACHE filled by `fill` (given a fresh temporary directory
/// next to it) unless it is there already; renamed into place when `fill`
/// succeeds, so a half-done install is never taken for a finished one.
fn cached_dir(name: &str, fill: impl FnOnce(&Path) -> Result<(), String>) -> Result<PathBuf, String> {
    let dir = cache_dir().join(name);
    if dir.is_dir() {
        return Ok(dir);
    }
    let parent = cache_dir();
    std::fs::create_dir_all(&parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    let partial = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir(&partial).map_err(|e| format!("create {}: {e}", partial.display()))?;
    if let Err(e) = fill(&partial) {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    match std::fs::rename(&partial, &dir) {
        Ok(()) => Ok(dir),
        // Another install won the race: use its directory.
        Err(_) if dir.is_dir() => {
            let _ = std::fs::remove_dir_all(&partial);
            Ok(dir)
        }
        Err(e) => Err(format!("rename {} to {}: {e}", partial.display(), dir.display())),
    }
}

/// The Node.js runtime client in `CACHE/node-ric-VERSION/node_modules/`;
/// returns the package directory.
fn ensure_node_ric() -> Result<PathBuf, String> {
    let version = lambda_version("NODE_RIC_VERSION");
    let name = format!("node-ric-{version}");
    let package = cache_dir().join(&name).join("node_modules/aws-lambda-ric");
    if package.join("dist/rapid-client.node").is_file() {
        return Ok(package);
    }
    // What its install script runs to build aws-lambda-cpp and curl.
    let tools = [("cmake", "cmake"), ("autoconf", "autoconf"), ("automake", "automake"), ("libtoolize", "libtool")];
    let tools = tools.iter().chain(&[("g++", "g++"), ("make", "make")]);
    let missing: Vec<&str> =
        tools.filter(|(tool, _)| !succeeds(Command::new(tool).arg("--version"))).map(|&(_, pkg)| pkg).collect();
    if !missing.is_empty() {
        println!("    aws-lambda-ric build tools: installing {}", missing.join(" "));
        apt_install_all(&missing)?;
    }
    ensure_npm()?;
    println!("    aws-lambda-ric (node) {version}: missing, building it (about two minutes)");
    cached_dir(&name, |dir| {
        std::fs::write(dir.join("package.json"), "{\"private\": true}\n").map_err(|e| format!("package.json: {e}"))?;
        let mut npm = Command::new("npm");
        npm.args(["install", "--no-audit", "--no-fund", "--loglevel=error", &format!("aws-lambda-ric@{version}")])
            .current_dir(dir);
        run(&mut npm)
    })?;
    if package.join("dist/rapid-client.node").is_file() {
        Ok(package)
    } else {
        Err(format!("npm finished but {} has no dist/rapid-client.node", package.display()))
    }
}

/// The Java runtime client and its dependencies as jars in
/// `CACHE/java-ric-VERSION/`; returns that directory.
fn ensure_java_ric() -> Result<PathBuf, String> {
    let version = lambda_version("JAVA_RIC_VERSION");
    let name = format!("java-ric-{version}");
    let dir = cache_dir().join(&name);
    if dir.join(format!("aws-lambda-java-runtime-interface-client-{version}.jar")).is_file() {
        return Ok(dir);
    }
    if !succeeds(Command::new("mvn").arg("--version")) {
        println!("    mvn: missing, installing");
        apt_install("maven")?;
    }
    println!("    aws-lambda-java-runtime-interface-client {version}: missing, fetching it");
    // The pom lives outside the jar directory (which ends up holding jars only).
    let work = std::env::temp_dir().join(format!("rampart-java-ric-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("create {}: {e}", work.display()))?;
    let pom = format!(
        r#"<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>rampart.tests</groupId>
  <artifactId>java-ric</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>com.amazonaws</groupId>
      <artifactId>aws-lambda-java-runtime-interface-client</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"#
    );
    let result = std::fs::write(work.join("pom.xml"), pom).map_err(|e| format!("pom.xml: {e}")).and_then(|()| {
        cached_dir(&name, |jars| {
            let mut mvn = Command::new("mvn");
            mvn.args([
                "-B",
                "-q",
                "-Dstyle.color=never",
                "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
            ])
            .arg(format!("-DoutputDirectory={}", jars.display()))
            .current_dir(&work);
            // Captured: even with -B -q, mvn writes colour resets to stderr.
            output(&mut mvn).map(drop)
        })
    });
    let _ = std::fs::remove_dir_all(&work);
    result?;
    if dir.join(format!("aws-lambda-java-runtime-interface-client-{version}.jar")).is_file() {
        Ok(dir)
    } else {
        Err(format!("mvn finished but {} has no runtime interface client jar", dir.display()))
    }
}

/// The versions the deploy/ snippets are checked with, shared with
/// tests/tests/deploy_snippets.rs.
const DEPLOY_VERSIONS: &str = include_str!("../../tests/runtimes/deploy/versions.txt");

/// A `KEY=VALUE` of [`DEPLOY_VERSIONS`]; a missing key is a bug in that file.
fn deploy_version(key: &str) -> &'static str {
    versions_value("tests/runtimes/deploy/versions.txt", DEPLOY_VERSIONS, key)
}

/// The lockfile the CDK packages are installed from.
const CDK_LOCK: &str = include_str!("../../deploy/cdk/package-lock.json");
const CDK_PACKAGE: &str = include_str!("../../deploy/cdk/package.json");

/// FNV-1a, 64 bits: names the CDK cache directory after the lockfile's
/// contents (tests/tests/deploy_snippets.rs computes the same), so a new
/// lockfile gets a fresh install.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// What tests/tests/deploy_snippets.rs runs; one line per tool.
fn ensure_deploy_tools() -> Result<(), String> {
    ensure_pip_version("cfn-lint", "cfnlint", deploy_version("CFN_LINT_VERSION"))?;
    ensure_pip_version("python-hcl2", "hcl2", deploy_version("PYTHON_HCL2_VERSION"))?;
    let hclfmt = ensure_go_tool(deploy_version("HCL_MODULE"), "cmd/hclfmt", deploy_version("HCL_VERSION"))?;
    println!("    hclfmt: {}", hclfmt.display());
    let cdk = ensure_cdk()?;
    println!("    aws-cdk-lib, typescript (npm): {}", cdk.display());
    Ok(())
}

/// A PyPI distribution at an exact version for the python3 on PATH
/// (`module` is what it imports as).
fn ensure_pip_version(dist: &str, module: &str, version: &str) -> Result<(), String> {
    let probe = format!("import importlib.metadata as m, {module}; print(m.version('{dist}'))");
    match output(Command::new("python3").args(["-c", &probe])).as_deref().map(str::trim) {
        Ok(found) if found == version => {
            println!("    {dist}: installed");
            return Ok(());
        }
        Ok(found) => println!("    {dist}: {found} installed, installing {version}"),
        Err(_) => println!("    {dist}: missing, installing {version}"),
    }
    pip_install(&format!("{dist}=={version}"))
}

/// A Go command from a module at an exact version, in `go_bin_dir()`;
/// `go version -m` tells which version a binary was built from.
fn ensure_go_tool(module: &str, command: &str, version: &str) -> Result<PathBuf, String> {
    let name = command.rsplit('/').next().unwrap_or(command);
    let path = go_bin_dir()?.join(name);
    let built_from = |path: &Path| {
        output(Command::new("go").arg("version").arg("-m").arg(path)).ok().and_then(|text| {
            text.lines().find_map(|line| {
                let mut words = line.split_whitespace();
                (words.next() == Some("mod") && words.next() == Some(module))
                    .then(|| words.next().map(str::to_owned))?
            })
        })
    };
    match built_from(&path) {
        Some(found) if found == version => return Ok(path),
        Some(found) => println!("    {name}: {} is {found}, not {version}, reinstalling", path.display()),
        None => println!("    {name}: missing, installing {version}"),
    }
    let mut install = Command::new("go");
    install.args(["install", &format!("{module}/{command}@{version}")]);
    run(&mut install)?;
    match built_from(&path) {
        Some(found) if found == version => Ok(path),
        other => Err(format!("`{}` finished but {} is {other:?}, not {version}", show(&install), path.display())),
    }
}

/// deploy/cdk's npm packages in `CACHE/deploy-cdk-HASH/node_modules/`;
/// returns that directory.
fn ensure_cdk() -> Result<PathBuf, String> {
    let name = format!("deploy-cdk-{:016x}", fnv1a(CDK_LOCK.as_bytes()));
    let modules = cache_dir().join(&name).join("node_modules");
    if modules.join("aws-cdk-lib/package.json").is_file() && modules.join("typescript/bin/tsc").is_file() {
        return Ok(modules);
    }
    ensure_npm()?;
    println!("    aws-cdk-lib, typescript (npm): missing, installing deploy/cdk/package-lock.json (about 210 MB)");
    cached_dir(&name, |dir| {
        std::fs::write(dir.join("package.json"), CDK_PACKAGE).map_err(|e| format!("package.json: {e}"))?;
        std::fs::write(dir.join("package-lock.json"), CDK_LOCK).map_err(|e| format!("package-lock.json: {e}"))?;
        let mut npm = Command::new("npm");
        npm.args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(dir);
        run(&mut npm)
    })?;
    if modules.join("aws-cdk-lib/package.json").is_file() {
        Ok(modules)
    } else {
        Err(format!("npm ci finished but {} has no aws-cdk-lib", modules.display()))
    }
}
