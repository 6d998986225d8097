//! Lambda functions under AWS's Runtime Interface Emulator (RIE), with the
//! real runtime interface clients, for the end-to-end suites: [`Function`]
//! prepares a fixture function (tests/runtimes/lambda/), [`Targets`] the
//! loopback services and secret its actions reach, [`Rie`] runs the emulator
//! with a bootstrap command (the runtime's command line, with the wrapper or
//! `rampart run` in front when a test protects it) and invokes it over HTTP.
//!
//! # The emulator
//!
//! `aws-lambda-rie [OPTIONS] CMD ARGS...` serves the invoke API
//! (`POST /2015-03-31/functions/function/invocations`) on
//! `--runtime-interface-emulator-address` (default `0.0.0.0:8080`: always
//! given here, on 127.0.0.1) and Lambda's Runtime API on
//! `--runtime-api-address` (default `127.0.0.1:9001`, fixed: parallel tests
//! would collide, so each emulator gets two ports of its own). The ports are
//! picked by binding port 0 and closing; the emulator panics when one is
//! taken in between, and [`Rie::start`] then retries with new ones. It counts
//! as started once the emulator's own process holds both listening sockets
//! (read from `/proc`), so a connection never reaches another program that
//! took a port. A network namespace per emulator would avoid the ports
//! altogether but would put the test's own peers and invocations on the
//! other side of it; the retry makes the port race harmless instead.
//!
//! What the emulator does, as tests see it:
//! - It starts the bootstrap command on the first invocation (init is
//!   lazy), with its own environment (the harness controls it: see
//!   [`Rie::start`]) plus `AWS_LAMBDA_RUNTIME_API`, `_HANDLER` (the last
//!   argument of the command when it has two or more) and a few
//!   `AWS_LAMBDA_*` defaults, in its working directory. A runtime that exits
//!   is started again on the next invocation.
//! - The function's stdout *and* stderr both go to the emulator's stdout
//!   (as they go to CloudWatch on Lambda), so rampart's event lines are in
//!   [`Rie::output_lines`], in write order with the emulator's
//!   `START RequestId: ID`, `END RequestId: ID` and `REPORT RequestId: ID`
//!   lines. Its own log is on its stderr ([`Rie::log_lines`]).
//! - The request id is the invoke request's `X-Amzn-RequestId` header
//!   (a random UUID otherwise); the response does not carry it, so
//!   [`Rie::invoke`] makes one up and sends it.
//! - A function error (`POST .../invocation/ID/error`) answers 200 with the
//!   error document as the body; a runtime that fails its init or exits
//!   answers 502.
//! - It panics (and so exits) when the runtime exits within a few
//!   milliseconds of its start, a race in its own process bookkeeping
//!   ("Unable to find an exitedChannel"); [`Rie::exited`] tells.
//! - Its option parser takes its own options (`--log-level`,
//!   `--runtime-api-address`, ...) from anywhere in the command line, even
//!   after the bootstrap command (and passes `--` on as the command), so
//!   [`Rie::start`] refuses a command that contains one.
//!
//! Installed by `cargo xtask test` (xtask/src/runtimes.rs) at the versions in
//! tests/runtimes/lambda/versions.txt.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rampart_event::{Event, PREFIX};

use crate::runtimes_common::TempDir;
use crate::versions_value;

/// What to run when something is missing (a failure, never a skip).
pub const INSTALL: &str = "run `cargo xtask test`, which installs the emulator and the runtime clients \
                           (xtask/src/runtimes.rs), or follow the steps in that file";

/// How long [`Rie::start`] waits for the emulator to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an invocation may take before the test fails (the emulator's own
/// function timeout, `AWS_LAMBDA_FUNCTION_TIMEOUT`, is 30 s unless a test
/// sets it).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long [`Rie::stop`] waits for the emulator to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The options of the emulator's parser, which it takes from anywhere.
const RIE_OPTIONS: [&str; 4] =
    ["--log-level", "--enable-init-caching", "--runtime-api-address", "--runtime-interface-emulator-address"];

const VERSIONS: &str = include_str!("../runtimes/lambda/versions.txt");

/// A `KEY=VALUE` of tests/runtimes/lambda/versions.txt.
pub fn version(key: &str) -> &'static str {
    versions_value("tests/runtimes/lambda/versions.txt", VERSIONS, key)
}

// ---------------------------------------------------------------------------
// Where the installed pieces are.

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// `name` in a directory of `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// Where the Node and Java runtime clients are installed:
/// `$RAMPART_CACHE_DIR`, else `$XDG_CACHE_HOME/rampart`, else
/// `~/.cache/rampart` (xtask/src/runtimes.rs installs there).
pub fn cache_dir() -> PathBuf {
    env_path("RAMPART_CACHE_DIR")
        .or_else(|| env_path("XDG_CACHE_HOME").map(|d| d.join("rampart")))
        .unwrap_or_else(|| env_path("HOME").unwrap_or_else(|| PathBuf::from("/root")).join(".cache/rampart"))
}

/// The emulator: `$AWS_LAMBDA_RIE`, else `$GOBIN` or `$(go env GOPATH)/bin`
/// (where `go install` put it), else `PATH`.
pub fn rie_bin() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(path) = env_path("AWS_LAMBDA_RIE") {
            return path;
        }
        let gobin = env_path("GOBIN").or_else(|| {
            let out = Command::new("go").args(["env", "GOPATH"]).output().ok()?;
            let gopath = String::from_utf8_lossy(&out.stdout).trim().split(':').next()?.to_owned();
            (!gopath.is_empty()).then(|| Path::new(&gopath).join("bin"))
        });
        gobin
            .map(|dir| dir.join("aws-lambda-rie"))
            .filter(|p| p.is_file())
            .or_else(|| which("aws-lambda-rie"))
            .unwrap_or_else(|| panic!("aws-lambda-rie is not installed: {INSTALL}"))
    })
    .clone()
}

/// The Node.js runtime interface client's package directory.
pub fn node_ric_dir() -> PathBuf {
    let dir = cache_dir().join(format!("node-ric-{}/node_modules/aws-lambda-ric", version("NODE_RIC_VERSION")));
    assert!(dir.join("dist/rapid-client.node").is_file(), "{} is not a built aws-lambda-ric: {INSTALL}", dir.display());
    dir
}

/// The directory of the Java runtime interface client's jars (with its
/// dependencies, `aws-lambda-java-core` among them).
pub fn java_ric_dir() -> PathBuf {
    let v = version("JAVA_RIC_VERSION");
    let dir = cache_dir().join(format!("java-ric-{v}"));
    let jar = dir.join(format!("aws-lambda-java-runtime-interface-client-{v}.jar"));
    assert!(jar.is_file(), "{} is missing: {INSTALL}", jar.display());
    dir
}

/// A program on PATH, resolved to the file that really runs (a rule or an
/// event names that one, not a link or a pyenv shim).
fn real_program(name: &str) -> PathBuf {
    let path = which(name).unwrap_or_else(|| panic!("`{name}` is not on PATH: {INSTALL}"));
    std::fs::canonicalize(&path).unwrap_or(path)
}

/// The interpreter behind `python3` (pyenv's shim is a shell script).
fn python3() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys, awslambdaric; print(sys.executable)"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run python3: {e}"));
        assert!(
            out.status.success(),
            "python3 cannot import awslambdaric ({}): {INSTALL}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        std::fs::canonicalize(&path).unwrap_or(path)
    })
    .clone()
}

/// The .NET Core host of the `dotnetcore2` wheel.
fn dotnet() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import dotnetcore2, os; print(os.path.dirname(os.path.realpath(dotnetcore2.__file__)))"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run python3: {e}"));
        assert!(out.status.success(), "the dotnetcore2 wheel is not installed: {INSTALL}");
        let path = Path::new(String::from_utf8_lossy(&out.stdout).trim()).join("bin/dotnet");
        assert!(path.is_file(), "{} is missing: reinstall dotnetcore2", path.display());
        path
    })
    .clone()
}

// ---------------------------------------------------------------------------
// Fixture functions.

/// A runtime family and its fixture in tests/runtimes/lambda/.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Runtime {
    /// `python3 -m awslambdaric app.handler`.
    Python,
    /// `node .../aws-lambda-ric/bin/index.mjs app.handler`.
    Node,
    /// `java -cp TASK:RIC/* ...AWSLambda fixture.Handler::handleRequest`, with
    /// the client's JNI library at a path of its own (see [`Function::command`]).
    Java,
    /// `dotnet TASK/Bootstrap.exe`: our own Runtime API loop (README).
    Dotnet,
}

impl Runtime {
    pub const ALL: [Runtime; 4] = [Runtime::Python, Runtime::Node, Runtime::Java, Runtime::Dotnet];

    /// The fixture's directory name and the `runtime` field of its results.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Python => "python",
            Runtime::Node => "node",
            Runtime::Java => "java",
            Runtime::Dotnet => "dotnet",
        }
    }

    fn source_dir(self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("runtimes/lambda").join(self.name())
    }
}

/// A fixture function deployed into a fresh task root (what Lambda
/// unpacks into `/var/task`): its files, plus the compiled classes (Java)
/// or program (.NET). Removed on drop.
pub struct Function {
    pub runtime: Runtime,
    task: TempDir,
}

impl Function {
    pub fn new(runtime: Runtime) -> Function {
        let task = TempDir::new(&format!("lambda-task-{}", runtime.name()));
        copy_files(&runtime.source_dir(), task.path());
        match runtime {
            Runtime::Java => copy_tree(&java_classes(), task.path()),
            Runtime::Dotnet => {
                let exe = dotnet_program();
                std::fs::copy(&exe, task.path().join("Bootstrap.exe")).expect("copy Bootstrap.exe");
            }
            Runtime::Python | Runtime::Node => {}
        }
        Function { runtime, task }
    }

    /// The task root (canonical): the emulator's and the runtime's working
    /// directory and `LAMBDA_TASK_ROOT`.
    pub fn task_root(&self) -> &Path {
        self.task.path()
    }

    /// The runtime's command line, as Lambda's bootstrap runs it: put the
    /// wrapper (or `rampart run ... --`) in front to protect it.
    pub fn command(&self) -> Vec<String> {
        let s = |p: PathBuf| p.to_string_lossy().into_owned();
        match self.runtime {
            Runtime::Python => vec![s(python3()), "-m".into(), "awslambdaric".into(), "app.handler".into()],
            Runtime::Node => {
                vec![s(real_program("node")), s(node_ric_dir().join("bin/index.mjs")), "app.handler".into()]
            }
            Runtime::Java => vec![
                s(real_program("java")),
                // What Lambda's Java runtime passes for a fast start.
                "-XX:+TieredCompilation".into(),
                "-XX:TieredStopAtLevel=1".into(),
                // Without it the client copies its JNI library to the fixed
                // path /tmp/.libaws-lambda-jni.so at every start and loads
                // it from there: JVMs starting in parallel overwrite the
                // file another one has mapped, which kills that one with
                // SIGBUS.
                format!("-D{JNI_PROPERTY}={}", s(java_jni())),
                "-cp".into(),
                format!("{}:{}/*", self.task_root().display(), java_ric_dir().display()),
                "com.amazonaws.services.lambda.runtime.api.client.AWSLambda".into(),
                "fixture.Handler::handleRequest".into(),
            ],
            Runtime::Dotnet => vec![s(dotnet()), s(self.task_root().join("Bootstrap.exe"))],
        }
    }

    /// Environment the runtime itself needs (the function's configuration
    /// on Lambda).
    pub fn env(&self) -> Vec<(String, String)> {
        match self.runtime {
            // No ICU here; the fixture's runtimeconfig says so too.
            Runtime::Dotnet => vec![("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT".into(), "1".into())],
            _ => Vec::new(),
        }
    }
}

/// Copies the regular files of `from` (not subdirectories) into `to`.
fn copy_files(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let entry = entry.expect("read_dir");
        if entry.file_type().expect("file type").is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

/// Copies a directory's contents recursively into `to`.
fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let entry = entry.expect("read_dir");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

/// FNV-1a over the inputs of a build: the cache key of its output.
fn fingerprint(parts: &[&[u8]]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.iter().chain(&[0xff]) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// A build output cached in `TARGET/lambda-fixtures/NAME-KEY/`: built by
/// `build` into a fresh directory, renamed into place (parallel test
/// binaries may race; the loser uses the winner's).
fn cached_build(name: &str, key: &str, build: impl FnOnce(&Path)) -> PathBuf {
    let base = crate::target_dir().join("lambda-fixtures");
    let dir = base.join(format!("{name}-{key}"));
    if dir.is_dir() {
        return dir;
    }
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let partial =
        base.join(format!(".{name}-{key}.partial-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&partial).unwrap_or_else(|e| panic!("create {}: {e}", partial.display()));
    build(&partial);
    if std::fs::rename(&partial, &dir).is_err() {
        assert!(dir.is_dir(), "cannot move {} to {}", partial.display(), dir.display());
        let _ = std::fs::remove_dir_all(&partial);
    }
    dir
}

/// The Java fixture's classes, compiled once with javac against the runtime
/// interface client's jars.
fn java_classes() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let source = Runtime::Java.source_dir().join("Handler.java");
        let text = std::fs::read(&source).expect("read Handler.java");
        let jars = java_ric_dir();
        let key = fingerprint(&[&text, jars.as_os_str().as_encoded_bytes()]);
        cached_build("java", &key, |out| {
            let javac = real_program("javac");
            let done = Command::new(&javac)
                .arg("-d")
                .arg(out)
                .arg("-cp")
                .arg(format!("{}/*", jars.display()))
                .arg(&source)
                .output()
                .unwrap_or_else(|e| panic!("cannot run javac: {e}"));
            assert!(done.status.success(), "javac failed: {}", String::from_utf8_lossy(&done.stderr));
        })
    })
    .clone()
}

/// The system property that names the Java client's JNI library.
const JNI_PROPERTY: &str = "com.amazonaws.services.lambda.runtime.api.client.runtimeapi.NativeClient.JNI";

/// The Java client's JNI library for this machine, taken out of its jar
/// once (`jar xf`).
fn java_jni() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let arch = match std::env::consts::ARCH {
            "aarch64" => "aarch_64",
            other => other,
        };
        let member = format!("jni/libaws-lambda-jni.linux-{arch}.so");
        let v = version("JAVA_RIC_VERSION");
        let jar = java_ric_dir().join(format!("aws-lambda-java-runtime-interface-client-{v}.jar"));
        let key = fingerprint(&[jar.as_os_str().as_encoded_bytes(), member.as_bytes()]);
        let dir = cached_build("java-jni", &key, |out| {
            let done = Command::new(real_program("jar"))
                .arg("xf")
                .arg(&jar)
                .arg(&member)
                .current_dir(out)
                .output()
                .unwrap_or_else(|e| panic!("cannot run jar: {e}"));
            assert!(done.status.success(), "jar xf failed: {}", String::from_utf8_lossy(&done.stderr));
            assert!(out.join(&member).is_file(), "{} has no {member}", jar.display());
        });
        dir.join(member)
    })
    .clone()
}

/// The .NET fixture program, compiled once with Mono's mcs.
fn dotnet_program() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let source = Runtime::Dotnet.source_dir().join("Bootstrap.cs");
        let text = std::fs::read(&source).expect("read Bootstrap.cs");
        let key = fingerprint(&[&text]);
        let dir = cached_build("dotnet", &key, |out| {
            let mcs = which("mcs").unwrap_or_else(|| panic!("`mcs` is not on PATH: {INSTALL}"));
            let done = Command::new(mcs)
                .arg("-nologo")
                .arg("-r:System.Net.Http.dll")
                .arg(format!("-out:{}", out.join("Bootstrap.exe").display()))
                .arg(&source)
                .output()
                .unwrap_or_else(|e| panic!("cannot run mcs: {e}"));
            assert!(
                done.status.success(),
                "mcs failed (is Mono's System.Net.Http there? {INSTALL}): {}{}",
                String::from_utf8_lossy(&done.stdout),
                String::from_utf8_lossy(&done.stderr)
            );
        });
        dir.join("Bootstrap.exe")
    })
    .clone()
}

// ---------------------------------------------------------------------------
// What the fixture's actions reach.

/// A loopback TCP service: reads one line per connection, records it,
/// answers `reply` if any, closes. Stops on drop.
pub struct Peer {
    addr: SocketAddr,
    received: Arc<(Mutex<Vec<String>>, Condvar)>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Peer {
    /// A peer on a port the system picks (in its ephemeral range).
    pub fn start(reply: Option<&'static str>) -> Peer {
        Peer::serve(TcpListener::bind("127.0.0.1:0").expect("bind a loopback peer"), reply)
    }

    /// A peer on a random free port in `ports`, as a service with a port of
    /// its own would be.
    pub fn start_in(ports: std::ops::RangeInclusive<u16>, reply: Option<&'static str>) -> Peer {
        let span = u32::from(ports.end() - ports.start()) + 1;
        let mut last = None;
        for _ in 0..100 {
            let mut b = [0u8; 4];
            std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).expect("read /dev/urandom");
            let offset = u16::try_from(u32::from_le_bytes(b) % span).expect("within a u16 range");
            match TcpListener::bind(("127.0.0.1", ports.start() + offset)) {
                Ok(listener) => return Peer::serve(listener, reply),
                Err(e) => last = Some(e),
            }
        }
        panic!("no free port in {ports:?} after 100 tries: {last:?}");
    }

    fn serve(listener: TcpListener, reply: Option<&'static str>) -> Peer {
        let addr = listener.local_addr().expect("peer address");
        let received = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, stop) = (Arc::clone(&received), Arc::clone(&stop));
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut conn) = conn else { continue };
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut line = Vec::new();
                    let _ = BufReader::new(&conn).read_until(b'\n', &mut line);
                    let line = String::from_utf8_lossy(&line).trim_end_matches('\n').to_owned();
                    {
                        let (lines, cond) = &*received;
                        lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                        cond.notify_all();
                    }
                    if let Some(reply) = reply {
                        let _ = conn.write_all(reply.as_bytes());
                    }
                    let _ = conn.shutdown(Shutdown::Both);
                }
            })
        };
        Peer { addr, received, stop, thread: Some(thread) }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `127.0.0.1:PORT`, the form of the `FIXTURE_*` variables and of a
    /// network rule.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// The first line of each connection so far (`""` when the client sent
    /// none), in order.
    pub fn received(&self) -> Vec<String> {
        self.received.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// [`Peer::received`] once it has at least `count` lines, or when
    /// `timeout` is up. A client that does not wait for an answer may be done
    /// before the peer has read its line.
    pub fn wait_received(&self, count: usize, timeout: Duration) -> Vec<String> {
        let (lines, cond) = &*self.received;
        let guard = lines.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) =
            cond.wait_timeout_while(guard, timeout, |l| l.len() < count).unwrap_or_else(|e| e.into_inner());
        guard.clone()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A directory removed on drop, under a base other than the temp dir.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Content of the credentials file the compromised variant reads.
pub const CREDENTIALS: &str = "[default]\naws_access_key_id = AKIDFIXTURE\naws_secret_access_key = fixture-secret\n";

/// Where the peer the honest handler talks to listens: below Linux's
/// ephemeral range (32768-60999), like a service with a port of its own (a
/// database's 5432). `rampart learn` turns a loopback connection to an
/// ephemeral port into `127.0.0.1:32768-60999`, which would also allow the
/// unknown peer (the system picks its port in that range).
pub const SERVICE_PORTS: std::ops::RangeInclusive<u16> = 20000..=32000;

/// Everything a fixture's actions reach (tests/runtimes/lambda/README.md):
/// the peer it talks to (answers `pong`; on a port in [`SERVICE_PORTS`]), the
/// unknown one the compromised variant exfiltrates to (on an ephemeral port),
/// its scratch directory and a credentials file.
///
/// The scratch directory is under the temp dir (`/tmp`, where a function
/// writes on Lambda); the credentials are under `/var/tmp`, so a rule that
/// covers the scratch directory, or `/tmp/**`, never covers them.
pub struct Targets {
    pub peer: Peer,
    pub unknown: Peer,
    tmp: TempDir,
    secret: ScratchDir,
}

impl Targets {
    pub fn new() -> Targets {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let secret = Path::new("/var/tmp").join(format!(
            "rampart-creds-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&secret);
        std::fs::create_dir_all(&secret).unwrap_or_else(|e| panic!("create {}: {e}", secret.display()));
        let secret = ScratchDir(std::fs::canonicalize(&secret).expect("canonicalize"));
        std::fs::write(secret.0.join("credentials"), CREDENTIALS).expect("write credentials");
        Targets {
            peer: Peer::start_in(SERVICE_PORTS, Some("pong\n")),
            unknown: Peer::start(None),
            tmp: TempDir::new("lambda-tmp"),
            secret,
        }
    }

    /// `FIXTURE_TMP`: where the function writes `RUNTIME-out.json`.
    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }

    /// `FIXTURE_CREDENTIALS` (content [`CREDENTIALS`]).
    pub fn credentials(&self) -> PathBuf {
        self.secret.0.join("credentials")
    }

    /// The `FIXTURE_*` variables for the function.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("FIXTURE_PEER".into(), self.peer.addr()),
            ("FIXTURE_UNKNOWN".into(), self.unknown.addr()),
            ("FIXTURE_TMP".into(), self.tmp().to_string_lossy().into_owned()),
            ("FIXTURE_CREDENTIALS".into(), self.credentials().to_string_lossy().into_owned()),
        ]
    }
}

impl Default for Targets {
    fn default() -> Self {
        Targets::new()
    }
}

// ---------------------------------------------------------------------------
// The emulator.

/// Lines read from one of the emulator's pipes, and whether it is closed.
#[derive(Default)]
struct Capture {
    state: Mutex<(Vec<String>, bool)>,
    cond: Condvar,
}

impl Capture {
    fn start(pipe: impl Read + Send + 'static) -> (Arc<Capture>, JoinHandle<()>) {
        let capture = Arc::new(Capture::default());
        let thread = {
            let capture = Arc::clone(&capture);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let text = String::from_utf8_lossy(&line);
                            let text = text.strip_suffix('\n').unwrap_or(&text).to_owned();
                            capture.state.lock().unwrap_or_else(|e| e.into_inner()).0.push(text);
                            capture.cond.notify_all();
                        }
                    }
                }
                capture.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
                capture.cond.notify_all();
            })
        };
        (capture, thread)
    }

    fn lines(&self) -> Vec<String> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0.clone()
    }

    /// How many lines satisfy `pred`.
    fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0.iter().filter(|l| pred(l)).count()
    }

    /// Waits until more than `seen` lines satisfy `pred`, the pipe closes or
    /// `timeout` is up.
    fn wait_more(&self, timeout: Duration, seen: usize, pred: impl Fn(&str) -> bool) {
        let guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self
            .cond
            .wait_timeout_while(guard, timeout, |(lines, closed)| {
                !*closed && lines.iter().filter(|l| pred(l)).count() <= seen
            })
            .unwrap_or_else(|e| e.into_inner());
    }

    fn wait_closed(&self, timeout: Duration) -> bool {
        let guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) =
            self.cond.wait_timeout_while(guard, timeout, |(_, closed)| !*closed).unwrap_or_else(|e| e.into_inner());
        guard.1
    }
}

/// The event lines among `lines`; an event line that does not decode (a
/// torn line) fails the test.
pub fn events_in(lines: &[String]) -> Vec<Event> {
    lines
        .iter()
        .filter_map(|line| {
            let at = line.find(PREFIX)?;
            Some(
                rampart_event::decode(&line[at..])
                    .unwrap_or_else(|e| panic!("torn or invalid event line {line:?}: {e:?}")),
            )
        })
        .collect()
}

/// One invocation's answer and what the function wrote meanwhile.
#[derive(Debug)]
pub struct Invocation {
    /// The invoke API's status: 200 for a result *and* for a function error
    /// (the body is then the error document), 502 when the runtime failed
    /// its init or exited.
    pub status: u16,
    pub body: String,
    /// The id the harness sent (`X-Amzn-RequestId`), which the emulator
    /// gives the runtime as `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// From sending the request to the end of the response.
    pub elapsed: Duration,
    /// The emulator's stdout from its `START RequestId: ID` line to its
    /// `REPORT RequestId: ID` line, both included: the function's stdout and
    /// stderr for this invocation (for the first one, the runtime's start
    /// too: the emulator starts it after printing `START`). Empty when the
    /// emulator printed no `START` for it.
    pub lines: Vec<String>,
    /// The event lines among [`Invocation::lines`].
    pub events: Vec<Event>,
}

/// What a stopped emulator left.
#[derive(Debug)]
pub struct Stopped {
    /// `None` when it had to be killed.
    pub status: Option<ExitStatus>,
    pub output: Vec<String>,
    pub log: Vec<String>,
    pub events: Vec<Event>,
}

/// A running emulator with one function. Stopped (SIGTERM, which makes it
/// kill the runtime) on [`Rie::stop`] or on drop.
pub struct Rie {
    child: Child,
    invoke_addr: SocketAddr,
    runtime_api: SocketAddr,
    output: Arc<Capture>,
    log: Arc<Capture>,
    readers: Vec<JoinHandle<()>>,
    stopped: bool,
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}

impl Rie {
    /// Starts the emulator in `task_root` (its working directory, which it
    /// gives the runtime) with the bootstrap command `cmd`, and waits until
    /// it listens. The runtime starts on the first invocation.
    ///
    /// The environment (the emulator passes its own on to the function) is
    /// the test's, without `RAMPART_*`, `LD_PRELOAD`, `AWS_*`, `LAMBDA_*` and
    /// `_HANDLER`, plus `AWS_LAMBDA_FUNCTION_NAME=rampart-fixture`,
    /// `AWS_LAMBDA_FUNCTION_TIMEOUT=30`, `AWS_REGION=us-east-1`,
    /// `LAMBDA_TASK_ROOT=task_root`, then `env` (which may override those).
    pub fn start<C, K, V>(task_root: &Path, cmd: &[C], env: &[(K, V)]) -> Rie
    where
        C: AsRef<str>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let cmd: Vec<&str> = cmd.iter().map(AsRef::as_ref).collect();
        assert!(!cmd.is_empty(), "an empty bootstrap command");
        if let Some(arg) = cmd.iter().find(|a| RIE_OPTIONS.iter().any(|o| a.split('=').next() == Some(*o))) {
            panic!("the bootstrap command has {arg:?}, which the emulator would take as its own option: {cmd:?}");
        }
        let mut last_log = Vec::new();
        for _ in 0..5 {
            match Rie::try_start(task_root, &cmd, env) {
                Ok(rie) => return rie,
                // A port was taken between picking and binding: pick again.
                Err(log) if log.iter().any(|l| l.contains("address already in use")) => last_log = log,
                Err(log) => panic!("aws-lambda-rie exited before listening:\n{}", log.join("\n")),
            }
        }
        panic!("aws-lambda-rie could not bind its ports in 5 tries:\n{}", last_log.join("\n"));
    }

    /// One attempt; the emulator's output when it exits first.
    fn try_start<K: AsRef<str>, V: AsRef<str>>(
        task_root: &Path,
        cmd: &[&str],
        env: &[(K, V)],
    ) -> Result<Rie, Vec<String>> {
        let invoke_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let runtime_api = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut command = Command::new(rie_bin());
        command
            .arg("--runtime-interface-emulator-address")
            .arg(invoke_addr.to_string())
            .arg("--runtime-api-address")
            .arg(runtime_api.to_string())
            .args(cmd)
            .current_dir(task_root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("RAMPART_")
                || k.starts_with("AWS_")
                || k.starts_with("LAMBDA_")
                || k == "LD_PRELOAD"
                || k == "_HANDLER"
            {
                command.env_remove(&*k);
            }
        }
        command
            .env("AWS_LAMBDA_FUNCTION_NAME", "rampart-fixture")
            .env("AWS_LAMBDA_FUNCTION_TIMEOUT", "30")
            .env("AWS_REGION", "us-east-1")
            .env("LAMBDA_TASK_ROOT", task_root);
        for (k, v) in env {
            command.env(k.as_ref(), v.as_ref());
        }
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", rie_bin().display()));
        let (output, out_thread) = Capture::start(child.stdout.take().expect("stdout"));
        let (log, log_thread) = Capture::start(child.stderr.take().expect("stderr"));
        let mut rie =
            Rie { child, invoke_addr, runtime_api, output, log, readers: vec![out_thread, log_thread], stopped: false };
        let started = Instant::now();
        loop {
            if let Ok(Some(_)) = rie.child.try_wait() {
                rie.stopped = true;
                rie.log.wait_closed(Duration::from_secs(2));
                let mut lines = rie.log.lines();
                lines.extend(rie.output.lines());
                return Err(lines);
            }
            let own = socket_inodes(rie.child.id());
            let listens = |port| listening_inodes(port).iter().any(|i| own.contains(i));
            if listens(invoke_addr.port()) && listens(runtime_api.port()) {
                return Ok(rie);
            }
            if started.elapsed() > START_TIMEOUT {
                let log = rie.log.lines().join("\n");
                drop(rie);
                panic!("aws-lambda-rie did not listen within {START_TIMEOUT:?}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The emulator's process id (the runtime is its child).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where the invoke API listens.
    pub fn invoke_addr(&self) -> SocketAddr {
        self.invoke_addr
    }

    /// Where the Runtime API listens: the runtime's `AWS_LAMBDA_RUNTIME_API`
    /// (unless a proxy in the runtime rewrites it).
    pub fn runtime_api(&self) -> SocketAddr {
        self.runtime_api
    }

    /// Invokes the function with `payload` and a new request id.
    pub fn invoke(&self, payload: &str) -> Invocation {
        self.invoke_as(payload, &new_request_id())
    }

    /// Invokes the function with `payload` as request `request_id`.
    pub fn invoke_as(&self, payload: &str, request_id: &str) -> Invocation {
        let report = format!("REPORT RequestId: {request_id}");
        // A test may reuse an id: only a REPORT after this one counts.
        let reports = self.output.count(|l| l.starts_with(&report));
        let started = Instant::now();
        let headers = [("Content-Type", "application/json"), ("X-Amzn-RequestId", request_id)];
        let (status, body) =
            http_post(self.invoke_addr, "/2015-03-31/functions/function/invocations", &headers, payload.as_bytes())
                .unwrap_or_else(|e| {
                    let died = if self.exited() { " (aws-lambda-rie has exited)" } else { "" };
                    panic!("invoke {request_id}: {e}{died}\nemulator log:\n{}", self.log_lines().join("\n"))
                });
        let elapsed = started.elapsed();
        // The emulator prints REPORT before it answers, and the function's
        // lines are in the same pipe before it: once the reader has REPORT,
        // it has them all. No REPORT comes when the runtime failed.
        let wait = if status == 200 { Duration::from_secs(5) } else { Duration::from_millis(300) };
        self.output.wait_more(wait, reports, |l| l.starts_with(&report));
        let all = self.output.lines();
        let start = format!("START RequestId: {request_id} ");
        let lines: Vec<String> = match all.iter().rposition(|l| l.starts_with(&start)) {
            Some(from) => {
                let to = all[from..].iter().position(|l| l.starts_with(&report)).map_or(all.len(), |i| from + i + 1);
                all[from..to].to_vec()
            }
            None => Vec::new(),
        };
        let events = events_in(&lines);
        Invocation {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            request_id: request_id.to_owned(),
            elapsed,
            lines,
            events,
        }
    }

    /// Whether the emulator has exited (or crashed: it panics on some races
    /// of its own, e.g. a runtime that exits within milliseconds of its
    /// start).
    pub fn exited(&self) -> bool {
        // A zombie until stop() reaps it.
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .ok()
            .and_then(|text| {
                text.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_owned))
            })
            .is_none_or(|state| state == "Z" || state == "X")
    }

    /// The emulator's stdout so far: the function's stdout and stderr, and
    /// the emulator's `START`/`END`/`REPORT` lines.
    pub fn output_lines(&self) -> Vec<String> {
        self.output.lines()
    }

    /// The emulator's own log so far (its stderr).
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lines()
    }

    /// The event lines in [`Rie::output_lines`].
    pub fn events(&self) -> Vec<Event> {
        events_in(&self.output.lines())
    }

    /// Stops the emulator (SIGTERM: it kills the runtime and exits; SIGKILL
    /// to it and what it started after [`STOP_TIMEOUT`]) and returns
    /// everything it and the function wrote.
    pub fn stop(mut self) -> Stopped {
        let status = self.shutdown();
        let output = self.output.lines();
        Stopped { status, events: events_in(&output), output, log: self.log.lines() }
    }

    fn shutdown(&mut self) -> Option<ExitStatus> {
        if self.stopped {
            return self.child.try_wait().ok().flatten();
        }
        self.stopped = true;
        let pid = self.child.id();
        let family = descendants(pid);
        signal("TERM", pid);
        let started = Instant::now();
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if started.elapsed() < STOP_TIMEOUT => std::thread::sleep(Duration::from_millis(10)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        // The emulator SIGKILLs the runtime's process group; anything that
        // left it (or an emulator that was killed) is ended here, checked by
        // start time so a reused pid is left alone.
        for (pid, start) in family {
            if process_start(pid) == Some(start) {
                signal("KILL", pid);
            }
        }
        // A process that survived everything may hold the pipes: do not
        // wait for it forever.
        let closed = self.output.wait_closed(Duration::from_secs(2)) && self.log.wait_closed(Duration::from_secs(2));
        if closed {
            for t in self.readers.drain(..) {
                let _ = t.join();
            }
        }
        status
    }
}

impl Drop for Rie {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A UUID (version 4) as Lambda's request ids are.
pub fn new_request_id() -> String {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).expect("read /dev/urandom");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", h[..4].concat(), h[4..6].concat(), h[6..8].concat(), h[8..10].concat(), h[10..].concat())
}

fn signal(sig: &str, pid: u32) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).stderr(Stdio::null()).status();
}

/// `/proc/PID/stat`'s parent pid and start time.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

fn process_start(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, start)| start)
}

/// Every process below `root`, with its start time.
fn descendants(root: u32) -> Vec<(u32, u64)> {
    let all: Vec<(u32, u32, u64)> = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(|pid| stat(pid).map(|(ppid, start)| (pid, ppid, start)))
                .collect()
        })
        .unwrap_or_default();
    let mut found = Vec::new();
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for &(pid, ppid, start) in &all {
            if ppid == parent && !found.iter().any(|&(p, _)| p == pid) {
                found.push((pid, start));
                parents.push(pid);
            }
        }
    }
    found
}

/// The inodes of the sockets listening on 127.0.0.1:`port` (`/proc/net/tcp`).
fn listening_inodes(port: u16) -> Vec<u64> {
    let local = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            (f.len() > 9 && f[1] == local && f[3] == "0A").then(|| f[9].parse().ok())?
        })
        .collect()
}

/// The inodes of the sockets process `pid` has open.
fn socket_inodes(pid: u32) -> HashSet<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| {
                let target = std::fs::read_link(e.ok()?.path()).ok()?;
                target.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
            })
            .collect()
        })
        .unwrap_or_default()
}

/// A one-shot HTTP/1.1 POST (`Connection: close`); the status and the body
/// (de-chunked).
fn http_post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(INVOKE_TIMEOUT))?;
    let mut request =
        format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(|e| {
        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
            std::io::Error::new(e.kind(), format!("no answer within {INVOKE_TIMEOUT:?}"))
        } else {
            e
        }
    })?;
    parse_response(&response).ok_or_else(|| {
        std::io::Error::new(
            ErrorKind::InvalidData,
            format!("bad HTTP response: {:?}", String::from_utf8_lossy(&response)),
        )
    })
}

fn parse_response(response: &[u8]) -> Option<(u16, Vec<u8>)> {
    let end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&response[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let (k, v) = line.split_once(':')?;
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if k == "content-length" {
            length = v.parse::<usize>().ok();
        }
    }
    let rest = &response[end + 4..];
    if !chunked {
        return Some((status, rest[..length.unwrap_or(rest.len()).min(rest.len())].to_vec()));
    }
    let (mut body, mut at) = (Vec::new(), 0);
    loop {
        let line_end = at + rest[at..].windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&rest[at..line_end]).ok()?.split(';').next()?.trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            return Some((status, body));
        }
        body.extend_from_slice(rest.get(at..at + size)?);
        at += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello";
        assert_eq!(parse_response(plain), Some((200, b"hello".to_vec())));
        let chunked =
            b"HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked), Some((502, b"abcde".to_vec())));
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"), None);
    }

    #[test]
    fn request_ids_are_uuids() {
        let id = new_request_id();
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{id}");
        assert_eq!(&id[14..15], "4", "{id}");
        assert_ne!(id, new_request_id());
    }

    #[test]
    fn versions_file_has_every_key() {
        for key in ["RIE_MODULE", "RIE_VERSION", "PYTHON_RIC_VERSION", "NODE_RIC_VERSION", "JAVA_RIC_VERSION"] {
            assert!(!version(key).is_empty(), "{key}");
        }
    }
}
