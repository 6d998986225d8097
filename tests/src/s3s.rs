//! A real S3 server for the suites: the `s3s-fs` binary (crates.io `s3s-fs`
//! 0.14.1, `--features binary`), which verifies SigV4 on every request and
//! keeps objects as plain files, so a test can check what a client stored
//! without trusting that client to read it back. `cargo xtask test`
//! installs it; [`s3s_fs_bin`] says where it is looked for.
//!
//! What s3s-fs 0.14.1 does, probed with curl and botocore-signed requests
//! (tests/tests/s3_harness.rs pins the points marked *):
//!
//! - (a)* A wrong secret key is 403 `SignatureDoesNotMatch` (XML body with a
//!   `<Code>` and no `<Message>`); an unknown access key is 403 `NotSignedUp`
//!   (not `InvalidAccessKeyId`); an unsigned request is 403 `AccessDenied`
//!   ("Signature is required"). A request signed more than 15 minutes
//!   away from the server's clock is 403 `RequestTimeTooSkewed`; a signed
//!   request without `x-amz-content-sha256` is 400 `InvalidRequest`.
//!   The region in the credential scope is not checked (any region passes).
//! - (b)* PUT, GET and HEAD return `ETag: "<hex md5 of the body>"` (quoted).
//! - (c)* `If-None-Match` on GET (and HEAD) is NOT honoured: always 200 with
//!   the body, even when the tag matches (s3s-fs's `get_object` ignores it).
//!   A 304 can only be tested against [`crate::faulty_s3`]. On PUT,
//!   `If-None-Match: *` and `If-Match: "tag"` are honoured (412
//!   `PreconditionFailed`).
//! - (d)* `x-amz-meta-*` given on PUT is stored (in
//!   `.bucket-*.object-*.metadata.json` files beside the buckets in
//!   [`S3Server::root`]) and returned on GET and HEAD, names lowercased.
//! - (e)* A signed `X-Amz-Security-Token` is accepted and its value never
//!   checked; an unsigned one is ignored too. Changing a signed token's value
//!   after signing is 403 `SignatureDoesNotMatch` (it is in the signature).
//! - (f)* A missing key is 404 `NoSuchKey`; a list or HEAD of a missing
//!   bucket is 404 `NoSuchBucket` (HEAD has no body).
//! - (g)* A GET (or HEAD) of a key under a missing bucket is 404 `NoSuchKey`,
//!   not `NoSuchBucket`: s3s-fs only tries to open the file. A PUT under a
//!   missing bucket succeeds and creates the bucket's directory, so a
//!   `policy push` test cannot expect `NoSuchBucket` from s3s-fs.
//! - Query strings are canonicalised as sent: a `/` in a query value must be
//!   sent as `%2F` (as S3 clients do) or the signature does not match.
//!
//! Path-style addressing only (no `--domain`), so a client must send
//! `http://127.0.0.1:PORT/BUCKET/KEY`.

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::runtimes_common::TempDir;

/// The region the servers' clients should sign for (s3s-fs accepts any, but a
/// client and a test must agree on one).
pub const REGION: &str = "us-east-1";

/// Access key of [`S3Server::start`].
pub const TEST_ACCESS_KEY: &str = "AKIDRAMPARTTEST";
/// Secret key of [`S3Server::start`].
pub const TEST_SECRET_KEY: &str = "rampart/test/secret/key/0123456789";

/// How to get s3s-fs, for the messages that say it is missing.
pub const INSTALL_HINT: &str =
    "run `cargo xtask test` (it installs it), or `cargo install s3s-fs@0.14.1 --features binary --locked`";

/// Where the s3s-fs binary is: `$S3S_FS` if set (`cargo xtask test` sets it
/// to the version it checked), else `s3s-fs` on `PATH`, else in `cargo
/// install`'s bin directory (`$CARGO_INSTALL_ROOT`, `$CARGO_HOME`,
/// `~/.cargo`), where it is even when that is not on `PATH`.
pub fn s3s_fs_bin() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("S3S_FS") {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("s3s-fs"));
    let install_roots = [
        std::env::var_os("CARGO_INSTALL_ROOT").map(PathBuf::from),
        std::env::var_os("CARGO_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")),
    ];
    let installed = install_roots.into_iter().flatten().map(|root| root.join("bin/s3s-fs"));
    on_path.chain(installed).find(|path| path.is_file())
}

/// A running s3s-fs on a loopback port, with its data in a temporary
/// directory; killed and removed on drop.
pub struct S3Server {
    child: Child,
    port: u16,
    access_key: String,
    secret_key: String,
    /// Holds `data/` (s3s-fs's root: one directory per bucket) and `log` (its
    /// stdout and stderr).
    dir: TempDir,
}

/// How long s3s-fs may take to bind its port (it starts in milliseconds;
/// this is for a loaded machine).
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts with a new port when another process took the one picked.
const START_ATTEMPTS: usize = 5;
/// What s3s-fs writes (at `RUST_LOG=info`) once its listener is bound.
const READY_LINE: &str = "server is running at http://";

impl S3Server {
    /// A server with [`TEST_ACCESS_KEY`] / [`TEST_SECRET_KEY`].
    pub fn start() -> S3Server {
        S3Server::start_with(TEST_ACCESS_KEY, TEST_SECRET_KEY)
    }

    /// A server that accepts only these credentials. Panics, saying how to
    /// install it, when s3s-fs is missing.
    pub fn start_with(access_key: &str, secret_key: &str) -> S3Server {
        let Some(bin) = s3s_fs_bin() else {
            match std::env::var_os("S3S_FS") {
                Some(path) => panic!("$S3S_FS={} is not a file: {INSTALL_HINT}", path.to_string_lossy()),
                None => panic!("s3s-fs is not installed (looked on PATH and in ~/.cargo/bin): {INSTALL_HINT}"),
            }
        };
        let dir = TempDir::new("s3s");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap_or_else(|e| panic!("create {}: {e}", data.display()));
        let log = dir.path().join("log");
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let mut child = spawn(&bin, port, access_key, secret_key, &data, &log);
            match wait_ready(&mut child, port, &log) {
                Ok(()) => {
                    return S3Server {
                        child,
                        port,
                        access_key: access_key.to_owned(),
                        secret_key: secret_key.to_owned(),
                        dir,
                    };
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    failures.push(format!("port {port}: {why}\n--- s3s-fs output ---\n{}", read_log(&log)));
                }
            }
        }
        panic!("s3s-fs ({}) did not start:\n{}", bin.display(), failures.join("\n"));
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL` (path-style).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// s3s-fs's root directory: one directory per bucket.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Makes a bucket the way s3s-fs keeps one: a directory in its root
    /// (no request, so no client is needed to set up a test).
    pub fn create_bucket(&self, name: &str) {
        let path = self.root().join(name);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create bucket {}: {e}", path.display()));
    }

    /// The file s3s-fs keeps `bucket/key`'s bytes in.
    pub fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root().join(bucket).join(key)
    }

    /// What a client process needs to reach this server: endpoint,
    /// credentials and [`REGION`].
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".to_owned(), self.endpoint()),
            ("AWS_ACCESS_KEY_ID".to_owned(), self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), self.secret_key.clone()),
            ("AWS_REGION".to_owned(), REGION.to_owned()),
        ]
    }

    /// Restarts the server on the same port and data with other
    /// credentials: clients still configured with the old ones now get
    /// `SignatureDoesNotMatch` (a rotated or wrong secret).
    pub fn restart_with(&mut self, access_key: &str, secret_key: &str) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let bin = s3s_fs_bin().expect("s3s-fs was there a moment ago");
        let log = self.dir.path().join("log");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let mut child = spawn(&bin, self.port, access_key, secret_key, &self.root(), &log);
            match wait_ready(&mut child, self.port, &log) {
                Ok(()) => {
                    self.child = child;
                    break;
                }
                // The old listener's port may linger for a moment.
                Err(why) if Instant::now() < deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    eprintln!("restarting s3s-fs on port {}: {why}; retrying", self.port);
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(why) => panic!("s3s-fs did not restart on port {}: {why}\n{}", self.port, read_log(&log)),
            }
        }
        self.access_key = access_key.to_owned();
        self.secret_key = secret_key.to_owned();
    }

    /// s3s-fs's output so far (request traces at `RUST_LOG=info`), for
    /// assertion messages.
    pub fn log(&self) -> String {
        read_log(&self.dir.path().join("log"))
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now. Another process may take it before
/// s3s-fs binds it; [`S3Server::start_with`] then retries with a new one.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

fn spawn(bin: &Path, port: u16, access_key: &str, secret_key: &str, data: &Path, log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
    let err = out.try_clone().expect("clone log file");
    Command::new(bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", access_key, "--secret-key", secret_key])
        .arg(data)
        // The ready line is an info-level trace; without RUST_LOG s3s-fs is silent.
        .env("RUST_LOG", "info")
        .env_remove("LD_PRELOAD")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()))
}

fn read_log(log: &Path) -> String {
    let mut text = String::new();
    match std::fs::File::open(log) {
        Ok(mut file) => {
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => text.push_str(&format!("(cannot read {}: {e})", log.display())),
    }
    text
}

/// Waits until s3s-fs says it has bound `port` and the port answers. The
/// log line matters: a connect alone could reach another process that took
/// the port between [`free_port`] and s3s-fs's bind (s3s-fs then exits with
/// "Address already in use").
fn wait_ready(child: &mut Child, port: u16, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let expected = format!("{READY_LINE}127.0.0.1:{port}");
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("wait for s3s-fs: {e}"))? {
            return Err(format!("s3s-fs exited ({status})"));
        }
        if read_log(log).contains(&expected) {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no `{expected}` within {START_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
