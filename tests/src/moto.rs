//! moto's server (PyPI `moto[server]`) on a loopback port: Lambda,
//! CloudWatch Logs and IAM as a real HTTP API for the `rampart instrument`
//! and `rampart learn --function` suites (tests/tests/cli_aws.rs). Set up
//! with boto3, the AWS SDK for Python, so the setup does not go through the
//! client under test. `cargo xtask test` installs it (xtask/src/runtimes.rs).
//!
//! What moto 5.2 does, read in its source (site-packages/moto) and checked
//! by the suite where marked *:
//!
//! - One server speaks every service; it picks the service from the
//!   credential scope of the request's SigV4 `Authorization` header
//!   (`.../us-east-1/lambda/aws4_request`), so the client's signing name
//!   must be right for the request to land.
//! - Signatures are not checked unless authentication is on:
//!   `POST /moto-api/reset-auth` with body `N` turns it on after N more
//!   requests; from then on every request must be signed with the key of an
//!   IAM user created in moto (botocore recomputes the signature: a wrong
//!   one is `SignatureDoesNotMatch`) and is authorised against that user's
//!   policies (`AccessDeniedException`).*
//! - `CreateFunction` needs a role ARN of an IAM role that exists in moto,
//!   and every layer version ARN given to `CreateFunction` or
//!   `UpdateFunctionConfiguration` must have been published
//!   (`ResourceNotFoundException`, "One or more LayerVersion does not
//!   exist").* It checks neither the 5-layer limit nor the 4 KB limit on
//!   variables, nor `RevisionId` (and returns none).
//! - `LastUpdateStatus` is `Successful` at once after every update: the
//!   wait loop is never exercised past its first read here (its logic is
//!   unit-tested in crates/cli/src/instrument.rs).
//! - `FilterLogEvents` implements only plain-term and quoted-phrase filter
//!   patterns; a pattern that starts with anything else — `{ $.rampart = 1 }`
//!   among them — matches every event (logs/utils.py,
//!   `UnsupportedFilterPattern`).* `limit` defaults to 10 000 (AWS's
//!   default too) and is honoured; `nextToken` is `GROUP@STREAM@EVENTID`
//!   of the page's last event.* `startTime`/`endTime` are honoured.*
//!   PutLogEvents rejects events older than 14 days.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::runtimes_common::TempDir;

/// The region and account moto serves by default.
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

/// How to get moto, for the message that says it is missing.
pub const INSTALL_HINT: &str = "run `cargo xtask test` (it installs it), or `python3 -m pip install 'moto[server]'`";

const START_TIMEOUT: Duration = Duration::from_secs(30);
const START_ATTEMPTS: usize = 4;

/// Helpers every setup script starts with: boto3 clients for the server,
/// and `role()`, `layer(name)`, `function(name, layers, env)`.
const PRELUDE: &str = r##"
import base64, io, json, os, sys, zipfile
import boto3
_kw = dict(endpoint_url=os.environ["MOTO_ENDPOINT"], region_name="us-east-1",
           aws_access_key_id="testing", aws_secret_access_key="testing")

class _Client:
    """A boto3 client made on first use: each one costs a few hundred ms to load."""
    def __init__(self, name):
        self._name, self._client = name, None
    def __getattr__(self, attr):
        if self._client is None:
            self._client = boto3.client(self._name, **_kw)
        return getattr(self._client, attr)

lam, logs, iam = _Client("lambda"), _Client("logs"), _Client("iam")

def _zip(name, text):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, text)
    return buf.getvalue()

def role():
    try:
        return iam.get_role(RoleName="fn-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
               "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        return iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=json.dumps(doc))["Role"]["Arn"]

def layer(name):
    r = lam.publish_layer_version(LayerName=name, Content={"ZipFile": _zip("rampart/wrapper", "#!/bin/sh\n")},
                                  CompatibleRuntimes=["python3.12"])
    return r["LayerVersionArn"]

def function(name, layers=(), env=None):
    kw = dict(FunctionName=name, Runtime="python3.12", Role=role(), Handler="app.handler",
              Code={"ZipFile": _zip("app.py", "def handler(e, c):\n    return 1\n")}, Layers=list(layers))
    if env is not None:
        kw["Environment"] = {"Variables": env}
    return lam.create_function(**kw)["FunctionArn"]
"##;

/// The interpreter `python3` on PATH runs, found once: pyenv's `python3` is
/// a shell script that costs about half a second per start, and a suite
/// starts dozens of setup scripts.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("python3"))
    })
}

/// A running moto server; killed on drop.
pub struct Moto {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Moto {
    /// Starts a server on a free loopback port. Panics, saying how to
    /// install it, when moto is missing.
    pub fn start() -> Moto {
        Moto::start_with(false)
    }

    /// [`Moto::start`] with moto's request recording on: every request the
    /// server answers is appended to [`Moto::recording`] as one JSON line.
    pub fn start_recording() -> Moto {
        Moto::start_with(true)
    }

    fn start_with(record: bool) -> Moto {
        let probe = Command::new(python()).args(["-c", "import moto.server, boto3"]).output();
        match probe {
            Ok(o) if o.status.success() => {}
            _ => panic!("moto's server or boto3 is not importable by python3: {INSTALL_HINT}"),
        }
        let dir = TempDir::new("moto");
        let log = dir.path().join("log");
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
            let out = std::fs::File::create(&log).expect("moto log");
            let mut child = Command::new(python())
                .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
                .env_remove("LD_PRELOAD")
                .envs(
                    record
                        .then(|| {
                            [("MOTO_ENABLE_RECORDING", PathBuf::from("1")), ("MOTO_RECORDER_FILEPATH", recording(&dir))]
                        })
                        .into_iter()
                        .flatten(),
                )
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("clone log"))
                .stderr(out)
                .spawn()
                .expect("spawn python3 -m moto.server");
            match wait_ready(&mut child, port, &log) {
                Ok(()) => return Moto { child, port, dir },
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    failures.push(format!("port {port}: {why}\n{}", std::fs::read_to_string(&log).unwrap_or_default()));
                }
            }
        }
        panic!("moto did not start:\n{}", failures.join("\n"));
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What `rampart` needs to reach this server: endpoint, credentials, region.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".to_owned(), self.endpoint()),
            ("AWS_ACCESS_KEY_ID".to_owned(), "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), "testing".to_owned()),
            ("AWS_REGION".to_owned(), REGION.to_owned()),
        ]
    }

    /// How many requests moto has logged whose request line contains
    /// `needle` (werkzeug logs `"PUT /2015-03-31/functions/f/configuration HTTP/1.1" 200 -`).
    pub fn requests(&self, needle: &str) -> usize {
        let log = std::fs::read(self.dir.path().join("log")).unwrap_or_default();
        String::from_utf8_lossy(&log).lines().filter(|l| l.contains(needle)).count()
    }

    /// Where [`Moto::start_recording`]'s server records the requests.
    pub fn recording(&self) -> PathBuf {
        recording(&self.dir)
    }

    /// What the server wrote to its standard output and error.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// A scratch directory that lives as long as the server.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Runs a boto3 script (after [`PRELUDE`]) with `input` on its stdin;
    /// returns its stdout, panics with its stderr when it fails.
    pub fn py(&self, script: &str, input: &str) -> String {
        let mut child = Command::new(python())
            .arg("-c")
            .arg(format!("{PRELUDE}\n{script}"))
            .env("MOTO_ENDPOINT", self.endpoint())
            .env_remove("LD_PRELOAD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn python3");
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write script input");
        let out = child.wait_with_output().expect("python3");
        assert!(
            out.status.success(),
            "boto3 script failed:\n{script}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    }

    /// Turns authentication on for every later request (moto's
    /// `/moto-api/reset-auth` with 0 free requests).
    pub fn require_auth(&self) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect moto");
        let req =
            "POST /moto-api/reset-auth HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nConnection: close\r\n\r\n0";
        s.write_all(req.as_bytes()).expect("write");
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "reset-auth: {answer}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn recording(dir: &TempDir) -> PathBuf {
    dir.path().join("requests.jsonl")
}

/// Waits for werkzeug's "Running on http://127.0.0.1:PORT" and an answer on the port.
fn wait_ready(child: &mut Child, port: u16, log: &std::path::Path) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let expected = format!("Running on http://127.0.0.1:{port}");
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("moto exited ({status})"));
        }
        if std::fs::read_to_string(log).unwrap_or_default().contains(&expected) {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no `{expected}` within {START_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
