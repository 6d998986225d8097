//! `cargo xtask bench-s3`: what taking the policy from S3 costs.
//!
//! With `RAMPART_POLICY=s3://BUCKET/PREFIX` the process `rampart run` starts
//! loads a second library, librampart_fetch.so (HTTP, TLS, SigV4), fetches
//! the policy in its constructor and refreshes it from a thread; its
//! children follow through the control page and never load the fetcher.
//! This runner serves one policy (1k generated rules per category, the
//! shapes of bench-hooked's) from s3s-fs on loopback, through a relay over
//! plain HTTP and over HTTPS (a certificate of a local CA), and measures: the
//! two libraries' size; the cold start of `python3 -c pass` bare, under
//! `rampart run --policy FILE` and under the same policy from S3; the time
//! from replacing the object to the first denial in a running process; and
//! fork + exec in a process under the file policy vs the S3 one. Every
//! measurement checks what it claims (the policy loaded from where it
//! should with the rule counts `rampart policy check` gives, denials are
//! real `EACCES`, the children do not map the fetcher). The result is a
//! Markdown table (also written to `TARGET/bench-s3.md`).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::hooked::{
    Runtime, Start, Starts, build_loop, check_events, clean_in, ensure_apt, events, kb_to_mb, kernel, loop_result,
    machine, median, own_rules_for, policy_json, python_runtime, revision, run_output, signed, spawn_measured, tail,
};
use crate::runtimes::s3s_fs_path;
use crate::util::{cargo, fmt_duration, fmt_ns, output, paint, run, show, size_label, target_dir};

/// Generated rules per category (bench-hooked's target size).
const RULES: usize = 1_000;
const MODE: &str = "block";
const BUCKET: &str = "bench";
/// The policy's location: the object is `PREFIX/policy.json` in `BUCKET`.
const PREFIX: &str = "fn";
const ACCESS_KEY: &str = "AKIDRAMPARTBENCH";
const SECRET_KEY: &str = "rampart/bench/secret/key/0123456789";
/// s3s-fs accepts any region; the fetcher needs one.
const REGION: &str = "us-east-1";
/// `RAMPART_REFRESH_SECS` of the enforcement-latency run.
const REFRESH_SECS: f64 = 1.0;
/// What s3s-fs writes (at `RUST_LOG=info`) once its listener is bound.
const S3S_READY: &str = "server is running at http://";

const HELP_OPTIONS: &str = "options: --smoke | --reps N | --changes K | --execs N | --exec-reps N";

pub struct Options {
    smoke: bool,
    /// Interleaved cold starts of every configuration.
    reps: usize,
    /// Policy changes each way in the enforcement-latency run.
    changes: usize,
    /// fork + exec iterations per exec-loop run.
    execs: u64,
    exec_reps: usize,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options { smoke: false, reps: 20, changes: 10, execs: 1_000, exec_reps: 5 };
        let mut it = args.iter();
        let number = |v: Option<&String>, what: &str| -> Result<u64, String> {
            v.and_then(|s| s.parse::<u64>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("bench-s3: {what} needs a positive whole number"))
        };
        while let Some(a) = it.next() {
            match a.as_str() {
                "--smoke" => o.smoke = true,
                "--reps" => o.reps = number(it.next(), "--reps")? as usize,
                "--changes" => o.changes = number(it.next(), "--changes")? as usize,
                "--execs" => o.execs = number(it.next(), "--execs")?,
                "--exec-reps" => o.exec_reps = number(it.next(), "--exec-reps")? as usize,
                other => return Err(format!("bench-s3: unknown argument `{other}` ({HELP_OPTIONS})")),
            }
        }
        if o.smoke {
            // Proves the runner works end to end in a few seconds.
            (o.reps, o.changes, o.execs, o.exec_reps) = (2, 2, 100, 1);
        }
        Ok(o)
    }
}

/// How a command is started.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Config {
    Bare,
    /// `rampart run --policy FILE`.
    File,
    /// `rampart run --policy s3://…`, plain HTTP (through the relay).
    S3Http,
    /// `rampart run --policy s3://…`, HTTPS (the relay terminates TLS).
    S3Https,
}

impl Config {
    const ALL: [Config; 4] = [Config::Bare, Config::File, Config::S3Http, Config::S3Https];

    fn label(self) -> &'static str {
        match self {
            Config::Bare => "bare",
            Config::File => "`rampart run --policy FILE`",
            Config::S3Http => "`rampart run --policy s3://…`, HTTP",
            Config::S3Https => "`rampart run --policy s3://…`, HTTPS",
        }
    }

    fn is_s3(self) -> bool {
        matches!(self, Config::S3Http | Config::S3Https)
    }
}

/// A child process killed (and reaped) on drop: the servers.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// s3s-fs on a loopback port; its root holds one directory per bucket and
/// an object is the plain file `ROOT/BUCKET/KEY`.
struct S3Fs {
    _server: Server,
    port: u16,
    root: PathBuf,
    /// Where a new object is written before it is renamed into place.
    staging: PathBuf,
}

impl S3Fs {
    fn start(work: &Path) -> Result<S3Fs, String> {
        let bin = s3s_fs_path().ok_or(
            "s3s-fs 0.14.1 not found (looked at $S3S_FS, on PATH and in ~/.cargo/bin): run `cargo xtask test` \
             (it installs it) or `cargo install s3s-fs@0.14.1 --features binary --locked`",
        )?;
        let root = work.join("s3");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join(BUCKET)).map_err(|e| format!("{}: {e}", root.display()))?;
        let log = work.join("s3s-fs.log");
        let mut failures = Vec::new();
        // Another process may take the port between the probe and s3s-fs's
        // bind (as in tests/src/s3s.rs): then a new port.
        for _ in 0..5 {
            let port = free_port()?;
            let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
            let err = out.try_clone().map_err(|e| e.to_string())?;
            let mut cmd = Command::new(&bin);
            cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(&root)
                .env("RUST_LOG", "info")
                .env_remove("LD_PRELOAD")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err);
            let mut server = Server(cmd.spawn().map_err(|e| format!("cannot start `{}`: {e}", show(&cmd)))?);
            let ready = format!("{S3S_READY}127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(20);
            let outcome = loop {
                if let Ok(Some(status)) = server.0.try_wait() {
                    break Err(format!("exited ({status})"));
                }
                if std::fs::read_to_string(&log).is_ok_and(|t| t.contains(&ready)) {
                    break Ok(());
                }
                if Instant::now() > deadline {
                    break Err(format!("no `{ready}` within 20 s"));
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            match outcome {
                Ok(()) => {
                    let staging = work.join("staging");
                    std::fs::create_dir_all(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
                    return Ok(S3Fs { _server: server, port, root, staging });
                }
                Err(why) => {
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    failures.push(format!("port {port}: {why}\n{}", tail(&text, 10)));
                }
            }
        }
        Err(format!("s3s-fs ({}) did not start:\n{}", bin.display(), failures.join("\n")))
    }

    /// Replaces the policy object at once: written aside, then renamed, so
    /// a GET never reads half a file. s3s-fs serves it with its MD5 as the
    /// new ETag.
    fn put_policy(&self, text: &str) -> Result<(), String> {
        let dst = self.root.join(BUCKET).join(PREFIX).join("policy.json");
        std::fs::create_dir_all(dst.parent().unwrap_or(&self.root)).map_err(|e| e.to_string())?;
        let tmp = self.staging.join("policy.json");
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &dst).map_err(|e| format!("rename to {}: {e}", dst.display()))
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// A relay in front of s3s-fs, plain or terminating TLS (s3s-fs speaks
/// HTTP only): Python's asyncio (TCP_NODELAY on its sockets) and `ssl`
/// module. s3s-fs streams a body in 4 KiB writes without TCP_NODELAY, so a
/// client reading it straight waits for its own delayed ACK (40 ms) on
/// about one fetch in five: the relay acks each read at once
/// (TCP_QUICKACK), which leaves the client's time to the client.
const RELAY: &str = r#"
import asyncio, socket, ssl, sys
backend = int(sys.argv[1])
tls = None
if len(sys.argv) > 2:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(sys.argv[2], sys.argv[3])

def quickack(sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)

async def pipe(reader, writer, ack=None):
    try:
        while data := await reader.read(65536):
            if ack is not None:
                quickack(ack)
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()

async def handle(client_r, client_w):
    try:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", backend)
    except OSError:
        client_w.close()
        return
    sock = server_w.get_extra_info("socket")
    quickack(sock)
    await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w, sock))

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    print("listening", server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

struct Relay {
    _server: Server,
    port: u16,
}

impl Relay {
    /// `tls`: the certificate and key to serve HTTPS with.
    fn start(work: &Path, python: &str, backend: u16, tls: Option<(&Path, &Path)>) -> Result<Relay, String> {
        let mut cmd = clean_in(python, work);
        cmd.args(["-c", RELAY]).arg(backend.to_string());
        if let Some((cert, key)) = tls {
            cmd.arg(cert).arg(key);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut server = Server(cmd.spawn().map_err(|e| format!("cannot start the relay: {e}"))?);
        let stdout = server.0.stdout.take().ok_or("the relay has no stdout")?;
        // Its first line comes once the port is bound; EOF if it failed.
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map_err(|e| format!("relay: {e}"))?;
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| format!("the relay did not start (it said {line:?})"))?;
        Ok(Relay { _server: server, port })
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it (RSA 2048, as
/// S3's own certificates): rustls refuses a self-signed CA certificate as
/// the server's own. Returns (CA, certificate, key).
fn make_certs(work: &Path) -> Result<(PathBuf, PathBuf, PathBuf), String> {
    let dir = work.join("tls");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let openssl = |args: &str| output(Command::new("openssl").args(args.split_whitespace()).current_dir(&dir));
    openssl(
        "req -x509 -newkey rsa:2048 -nodes -days 7 -subj /CN=rampart-bench-s3-CA -keyout ca.key -out ca.pem \
         -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign",
    )?;
    openssl("req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr")?;
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n",
    )
    .map_err(|e| format!("{}: {e}", ext.display()))?;
    openssl(
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 1 -days 7 -extfile server.ext -out server.pem",
    )?;
    Ok((dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key")))
}

/// Everything a run needs.
struct Ctx {
    opts: Options,
    work: PathBuf,
    rampart: PathBuf,
    loop_bin: PathBuf,
    python: Runtime,
    /// The 1k-rule policy (it allows the probe file), as a file.
    policy_file: PathBuf,
    allow_text: String,
    /// The same without the probe file's rule.
    deny_text: String,
    /// `file F network N process P api A input I` of each, as
    /// `rampart policy check` counts them.
    allow_counts: String,
    deny_counts: String,
    /// The file the enforcement-latency run tries to read.
    probe: PathBuf,
    s3: S3Fs,
    http: Relay,
    https: Relay,
    /// The CA of the HTTPS relay's certificate, for `AWS_CA_BUNDLE`.
    ca: PathBuf,
}

impl Ctx {
    /// `cfg`'s start of `argv`: `rampart run --policy P -- ARGV` (ARGV
    /// alone when bare), through `loop spawn` (which measures the start)
    /// when `spawn`. No RAMPART_* or AWS_* from our environment; s3s-fs's
    /// endpoint and credentials for every configuration, so that all start
    /// with the same environment but for the endpoint.
    fn command(&self, cfg: Config, argv: &[String], spawn: bool) -> Command {
        let mut args: Vec<OsString> = Vec::new();
        if spawn {
            args.extend([self.loop_bin.clone().into(), "spawn".into(), "--".into()]);
        }
        if cfg != Config::Bare {
            let policy: OsString = match cfg {
                Config::File => self.policy_file.clone().into(),
                _ => format!("s3://{BUCKET}/{PREFIX}").into(),
            };
            args.extend([self.rampart.clone().into(), "run".into(), "--policy".into(), policy, "--".into()]);
        }
        args.extend(argv.iter().map(OsString::from));
        let mut cmd = clean_in(&args[0], &self.work);
        cmd.args(&args[1..]);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(&key);
            }
        }
        let endpoint = match cfg {
            Config::S3Https => format!("https://127.0.0.1:{}", self.https.port),
            _ => format!("http://127.0.0.1:{}", self.http.port),
        };
        cmd.env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", REGION);
        if cfg == Config::S3Https {
            cmd.env("AWS_CA_BUNDLE", &self.ca);
        }
        cmd
    }

    /// Fails unless a run's stderr says the library started in block mode
    /// under `cfg`'s policy (the allowing one, with the rule counts
    /// `rampart policy check` gave) and reported no block, alert or error:
    /// bench-hooked's own rules allow everything the commands do.
    fn check_started(&self, cfg: Config, stderr: &str, what: &str) -> Result<(), String> {
        let counts = &self.allow_counts;
        let evs = check_events(stderr, MODE, what, false)?;
        if cfg == Config::Bare {
            return match evs.first() {
                Some((kind, msg)) => Err(format!("{what}: a bare run wrote a rampart line: {kind} {msg}")),
                None => Ok(()),
            };
        }
        let source = match cfg {
            Config::File => format!("{}, ", self.policy_file.display()),
            // Without "(ETag …)" the object did not load (profile mode).
            _ => format!("s3://{BUCKET}/{PREFIX} (ETag \""),
        };
        let expected = format!("started: mode {MODE}, policy {source}…, rules {counts}");
        let ok = |m: &str| {
            m.starts_with(&format!("started: mode {MODE}, policy {source}"))
                && m.ends_with(&format!(", rules {counts}"))
        };
        let started = statuses(&evs);
        match started.iter().find(|m| m.starts_with("started: ")) {
            Some(m) if ok(m) => Ok(()),
            Some(m) => Err(format!("{what}: the library said {m:?}, expected {expected:?}")),
            None => Err(format!("{what}: no `started` line; stderr:\n{}", tail(stderr, 10))),
        }
    }
}

/// The messages of the `status` lines among `events`.
pub(crate) fn statuses(evs: &[(String, String)]) -> Vec<String> {
    // `events` keeps a line's `msg` as JSON text.
    evs.iter().filter(|(t, _)| t == "status").filter_map(|(_, m)| serde_json::from_str::<String>(m).ok()).collect()
}

pub fn main(args: &[String]) -> Result<(), String> {
    let opts = Options::parse(args)?;
    let started = Instant::now();
    let target = target_dir()?;
    let work = target.join("s3-bench");
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    // Rules and the library's messages use canonical paths.
    let work = std::fs::canonicalize(&work).map_err(|e| format!("{}: {e}", work.display()))?;

    step("tools");
    ensure_apt("gcc", "cc")?;
    ensure_apt("openssl", "openssl")?;

    step("build (release)");
    run(cargo().args(["build", "--release", "-p", "rampart-cli", "-p", "rampart-preload", "-p", "rampart-fetch"]))?;
    let release = target.join("release");
    let libs = [release.join("librampart.so"), release.join("librampart_fetch.so")];
    if let Some(missing) = libs.iter().find(|p| !p.is_file()) {
        return Err(format!("{} is missing after the build", missing.display()));
    }
    let loop_bin = build_loop(&work)?;

    step("policies");
    let python = python_runtime()?;
    // Outside the work directory, which the policies allow as a whole, and
    // outside /tmp (a system rule of every benchmark policy): checkouts
    // often live under /tmp.
    let probe_dir = PathBuf::from("/var/tmp").join(format!("rampart-s3-bench-{}", std::process::id()));
    std::fs::create_dir_all(&probe_dir).map_err(|e| format!("{}: {e}", probe_dir.display()))?;
    let probe_dir = std::fs::canonicalize(&probe_dir).map_err(|e| format!("{}: {e}", probe_dir.display()))?;
    let _remove_probe = RemoveOnDrop(probe_dir.clone());
    let probe = probe_dir.join("secret.txt");
    std::fs::write(&probe, "read only while the policy says so\n").map_err(|e| e.to_string())?;
    let mut own = own_rules_for(&work, std::slice::from_ref(&python));
    // Without its own rule the probe must be denied (a target directory
    // under /tmp, say, would be allowed by the system's rules).
    if let Some(rule) = own.file.iter().find(|r| {
        r.split_once(' ').and_then(|(_, glob)| glob.strip_suffix("/**")).is_some_and(|dir| probe.starts_with(dir))
    }) {
        return Err(format!("the probe file {} is under `{rule}`, a rule every benchmark policy has", probe.display()));
    }
    let deny_text = policy_json(RULES, &own);
    own.file.push(format!("r {}/**", probe_dir.display()));
    let allow_text = policy_json(RULES, &own);
    let policy_file = work.join("policy.json");
    let deny_file = work.join("policy-deny.json");
    std::fs::write(&policy_file, &allow_text).map_err(|e| format!("{}: {e}", policy_file.display()))?;
    std::fs::write(&deny_file, &deny_text).map_err(|e| format!("{}: {e}", deny_file.display()))?;
    let rampart = release.join("rampart");
    let allow_counts = checked_counts(&rampart, &policy_file)?;
    let deny_counts = checked_counts(&rampart, &deny_file)?;
    println!("    {}: {allow_counts}", policy_file.display());
    println!("    {}: {deny_counts}", deny_file.display());

    step("servers");
    let s3 = S3Fs::start(&work)?;
    s3.put_policy(&allow_text)?;
    println!("    s3s-fs on 127.0.0.1:{}, s3://{BUCKET}/{PREFIX} in {}", s3.port, s3.root.display());
    let (ca, cert, key) = make_certs(&work)?;
    let http = Relay::start(&work, &python.argv[0], s3.port, None)?;
    let https = Relay::start(&work, &python.argv[0], s3.port, Some((&cert, &key)))?;
    println!(
        "    relays to it: HTTP on 127.0.0.1:{}, HTTPS on 127.0.0.1:{} (CA {})",
        http.port,
        https.port,
        ca.display()
    );

    let ctx = Ctx {
        opts,
        work,
        rampart,
        loop_bin,
        python,
        policy_file,
        allow_text,
        deny_text,
        allow_counts,
        deny_counts,
        probe,
        s3,
        http,
        https,
        ca,
    };
    let sizes = library_sizes(&libs)?;
    let cold = run_cold(&ctx)?;
    let latency = run_latency(&ctx)?;
    let exec = run_exec(&ctx)?;

    let md = report(&ctx, &sizes, &cold, &latency, &exec);
    // A smoke run (as in `cargo xtask test`) must not overwrite the full
    // results.
    let stem = if ctx.opts.smoke { "bench-s3-smoke" } else { "bench-s3" };
    let md_path = target.join(format!("{stem}.md"));
    std::fs::write(&md_path, &md).map_err(|e| format!("{}: {e}", md_path.display()))?;
    println!("\n{md}");
    println!("Written to {} in {}", md_path.display(), fmt_duration(started.elapsed()));
    Ok(())
}

fn step(name: &str) {
    println!("{}", paint("1;36", &format!("==> bench-s3: {name}")));
}

/// `file F network N process P api A input I` from `rampart policy check`'s
/// `PATH: ok (mode M, …; file F, network N, …)`.
fn checked_counts(rampart: &Path, policy: &Path) -> Result<String, String> {
    let text = output(Command::new(rampart).args(["policy", "check"]).arg(policy))?;
    text.trim()
        .strip_suffix(')')
        .and_then(|t| t.rsplit_once("; "))
        .map(|(_, counts)| counts.replace(',', ""))
        .filter(|c| c.starts_with("file "))
        .ok_or_else(|| format!("`rampart policy check` said {text:?}: no rule counts"))
}

// ------------------------------------------------------------ libraries --

struct LibSize {
    name: String,
    bytes: u64,
    deflated: u64,
}

/// Sizes on disk and deflated (`gzip -6`: a zip's default deflate; gzip's
/// header and trailer, 18 bytes with `-n`, are left out).
fn library_sizes(libs: &[PathBuf]) -> Result<Vec<LibSize>, String> {
    step("library sizes");
    let mut out = Vec::new();
    for lib in libs {
        let bytes = std::fs::metadata(lib).map_err(|e| format!("{}: {e}", lib.display()))?.len();
        let mut gzip = Command::new("gzip");
        gzip.args(["-6", "-n", "-c"]).arg(lib);
        let gz = gzip.output().map_err(|e| format!("cannot start `{}`: {e}", show(&gzip)))?;
        if !gz.status.success() || gz.stdout.len() < 18 {
            return Err(format!("`{}` failed ({})", show(&gzip), gz.status));
        }
        let deflated = gz.stdout.len() as u64 - 18;
        let name = lib.file_name().unwrap_or_default().to_string_lossy().into_owned();
        println!("    {name:<22} {bytes:>9} bytes, {deflated:>9} deflated");
        out.push(LibSize { name, bytes, deflated });
    }
    Ok(out)
}

// ------------------------------------------------------------ cold start --

fn run_cold(ctx: &Ctx) -> Result<Vec<(Config, Start)>, String> {
    let reps = ctx.opts.reps;
    step(&format!("cold start of python3 -c pass: {reps} interleaved runs of each configuration"));
    let mut all: Vec<(Config, Starts)> = Config::ALL.iter().map(|&c| (c, Starts::default())).collect();
    // One untimed start of each first (the page cache).
    for rep in 0..=reps {
        let n = all.len();
        for k in 0..n {
            // A different order every repetition: drift spreads over all.
            let (cfg, starts) = &mut all[(k + rep) % n];
            let mut cmd = ctx.command(*cfg, &ctx.python.argv, true);
            let (s, stderr) = spawn_measured(&mut cmd)?;
            ctx.check_started(*cfg, &stderr, &format!("cold start, {}", cfg.label()))?;
            if rep > 0 {
                starts.wall_ms.push(s.wall_ms);
                starts.cpu_ms.push(s.cpu_ms);
                starts.rss_kb.push(s.rss_kb);
            }
        }
    }
    let out: Vec<(Config, Start)> = all.iter().map(|(c, s)| (*c, s.median())).collect();
    for (cfg, s) in &out {
        println!(
            "    {:<40} wall {:>6.1} ms, cpu {:>6.1} ms, max RSS {:>6.0} kB",
            cfg.label(),
            s.wall_ms,
            s.cpu_ms,
            s.rss_kb
        );
    }
    Ok(out)
}

// ------------------------------------------------ PUT → enforcement --

/// Runs as the root process under the S3 policy: reports whether it may
/// read the probe file, then for each line `allowed` or `denied` on stdin
/// tries it every millisecond until that is the answer. A denial must be
/// `EACCES` (anything else is an error, not a denial).
const PROBE: &str = r#"
import errno, sys, time
path = sys.argv[1]

def state():
    try:
        open(path).close()
        return "allowed"
    except OSError as e:
        if e.errno != errno.EACCES:
            raise
        return "denied"

print("ready", state(), flush=True)
for line in sys.stdin:
    want = line.strip()
    if state() == want:
        print("already", flush=True)
        continue
    print("polling", flush=True)
    while state() != want:
        time.sleep(0.001)
    print(want, flush=True)
"#;

struct Latency {
    /// Object replaced → first `EACCES`, ms.
    to_deny: Vec<f64>,
    /// Object replaced → first successful open, ms.
    to_allow: Vec<f64>,
    /// What each change but the first took past the refresh that could see
    /// it (the fetch, installing the policy, the probe's next try): its
    /// time less the wait for that refresh, due an interval after the one
    /// that showed the previous change, ms.
    past_due: Vec<f64>,
}

/// A phase in [0, 1): the golden-ratio sequence, so that the writes fall
/// evenly over the refresh cycle instead of right after each fetch (a
/// change is seen just after a fetch, and the next one is due an interval
/// later).
fn phase(i: usize) -> f64 {
    (i as f64 * 0.618_033_988_749_895).fract()
}

/// The probe's conversation: lines from its stdout, with a timeout.
struct Probe {
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Probe {
    fn next(&self, within: Duration) -> Result<String, String> {
        self.lines.recv_timeout(within).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => format!("no answer within {}", fmt_duration(within)),
            mpsc::RecvTimeoutError::Disconnected => "it exited".to_owned(),
        })
    }

    fn ask(&mut self, want: &str) -> Result<(), String> {
        writeln!(self.stdin, "{want}").and_then(|()| self.stdin.flush()).map_err(|e| format!("write to it: {e}"))
    }
}

fn run_latency(ctx: &Ctx) -> Result<Latency, String> {
    let cfg = Config::S3Https;
    let k = ctx.opts.changes;
    step(&format!("PUT → enforcement: {k} changes each way, RAMPART_REFRESH_SECS={REFRESH_SECS}, {}", cfg.label()));
    ctx.s3.put_policy(&ctx.allow_text)?;
    let argv = [ctx.python.argv[0].clone(), "-c".into(), PROBE.into(), ctx.probe.to_string_lossy().into_owned()];
    let mut cmd = ctx.command(cfg, &argv, false);
    cmd.env("RAMPART_REFRESH_SECS", REFRESH_SECS.to_string());
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let shown = show(&cmd);
    let mut child = cmd.spawn().map_err(|e| format!("cannot start `{shown}`: {e}"))?;
    let (stdout, stderr, stdin) = (child.stdout.take(), child.stderr.take(), child.stdin.take());
    let (Some(stdout), Some(stderr), Some(stdin)) = (stdout, stderr, stdin) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err("the probe's pipes are missing".into());
    };
    let (tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Read all along: a denied probe writes a block line per try.
    let collector = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
        text
    });
    let mut probe = Probe { stdin, lines };
    let result = measure_changes(ctx, &mut probe, k);
    // EOF on stdin ends the probe; on an error it may be polling still.
    drop(probe);
    if result.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| format!("wait for the probe: {e}"))?;
    let _ = reader.join();
    let stderr = collector.join().unwrap_or_default();
    let what = "PUT → enforcement";
    let latency = result.map_err(|e| format!("{what}: {e}\n`{shown}` stderr:\n{}", tail(&stderr, 15)))?;
    if !status.success() {
        return Err(format!("{what}: `{shown}` failed ({status}):\n{}", tail(&stderr, 15)));
    }
    check_changes(ctx, &stderr, k)?;
    let show_ms = |v: &[f64]| v.iter().map(|ms| format!("{ms:.0}")).collect::<Vec<_>>().join(" ");
    println!("    allow → deny (ms): {}", show_ms(&latency.to_deny));
    println!("    deny → allow (ms): {}", show_ms(&latency.to_allow));
    println!("    past the due refresh (ms): {}", show_ms(&latency.past_due));
    Ok(latency)
}

fn measure_changes(ctx: &Ctx, probe: &mut Probe, k: usize) -> Result<Latency, String> {
    let interval = Duration::from_secs_f64(REFRESH_SECS);
    // Generous: one interval, a fetch, a loaded machine.
    let within = interval * 5 + Duration::from_secs(10);
    let first = probe.next(within).map_err(|e| format!("the probe did not start: {e}"))?;
    if first != "ready allowed" {
        return Err(format!("the probe began with {first:?}, not \"ready allowed\" (the first policy allows it)"));
    }
    let mut lat = Latency { to_deny: Vec::new(), to_allow: Vec::new(), past_due: Vec::new() };
    // When the previous change was seen: just after a refresh.
    let mut seen: Option<Instant> = None;
    for i in 0..k {
        for (j, want) in ["denied", "allowed"].into_iter().enumerate() {
            std::thread::sleep(interval.mul_f64(phase(2 * i + j + 1)));
            probe.ask(want)?;
            let said = probe.next(within)?;
            if said != "polling" {
                return Err(format!("change {}: asked to wait for {want}, the probe said {said:?}", 2 * i + j + 1));
            }
            let t0 = Instant::now();
            ctx.s3.put_policy(if want == "denied" { &ctx.deny_text } else { &ctx.allow_text })?;
            let said = probe.next(within).map_err(|e| format!("waiting for {want} after the object changed: {e}"))?;
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            if said != want {
                return Err(format!("waiting for {want}, the probe said {said:?}"));
            }
            if let Some(prev) = seen {
                let since = (t0 - prev).as_secs_f64() % REFRESH_SECS;
                lat.past_due.push(ms - (REFRESH_SECS - since) * 1e3);
            }
            seen = Some(Instant::now());
            let into = if want == "denied" { &mut lat.to_deny } else { &mut lat.to_allow };
            into.push(ms);
        }
    }
    Ok(lat)
}

/// The probe's stderr: it started under the allowing policy from S3, then
/// every change was announced, alternately the denying and the allowing
/// policy's counts; nothing but the probe file was blocked, and it was.
fn check_changes(ctx: &Ctx, stderr: &str, k: usize) -> Result<(), String> {
    let what = "PUT → enforcement";
    let evs = events(stderr);
    let bad: Vec<String> = evs
        .iter()
        .filter(|(t, target)| match t.as_str() {
            "status" => false,
            "block" => Path::new(target) != ctx.probe,
            _ => true,
        })
        .map(|(t, target)| format!("{t} {target}"))
        .take(10)
        .collect();
    if !bad.is_empty() {
        return Err(format!("{what}: unexpected rampart lines:\n  {}", bad.join("\n  ")));
    }
    let blocks = evs.iter().filter(|(t, _)| t == "block").count();
    if blocks < k {
        return Err(format!("{what}: {blocks} block lines for {}, expected at least {k}", ctx.probe.display()));
    }
    let msgs = statuses(&evs);
    let start = format!("started: mode {MODE}, policy s3://{BUCKET}/{PREFIX} (ETag \"");
    if !msgs.first().is_some_and(|m| m.starts_with(&start) && m.ends_with(&format!(", rules {}", ctx.allow_counts))) {
        return Err(format!("{what}: the first status line is {:?}, expected {start}…", msgs.first()));
    }
    let changes: Vec<&String> = msgs.iter().filter(|m| m.starts_with("policy changed: ")).collect();
    if changes.len() != 2 * k {
        let all: Vec<&str> = changes.iter().map(|s| s.as_str()).collect();
        return Err(format!(
            "{what}: {} `policy changed` lines, expected {}:\n  {}",
            changes.len(),
            2 * k,
            all.join("\n  ")
        ));
    }
    for (n, m) in changes.iter().enumerate() {
        let counts = if n % 2 == 0 { &ctx.deny_counts } else { &ctx.allow_counts };
        let head = format!("policy changed: s3://{BUCKET}/{PREFIX} ETag \"");
        if !(m.starts_with(&head) && m.ends_with(&format!(", mode {MODE}, rules {counts}"))) {
            return Err(format!("{what}: change {} said {m:?}, expected {head}…, mode {MODE}, rules {counts}", n + 1));
        }
    }
    Ok(())
}

// ------------------------------------------------------------ fork + exec --

struct Exec {
    /// ns per fork + exec + wait, median per configuration.
    per_exec: Vec<(Config, f64)>,
    /// librampart_fetch.so mappings: in the root, in its child; and
    /// librampart.so's in the child.
    /// Under the S3 policy and under the file policy.
    maps: (Maps, Maps),
}

impl Exec {
    fn get(&self, cfg: Config) -> Option<f64> {
        self.per_exec.iter().find(|(c, _)| *c == cfg).map(|(_, v)| *v)
    }
}

fn run_exec(ctx: &Ctx) -> Result<Exec, String> {
    let (n, reps) = (ctx.opts.execs, ctx.opts.exec_reps);
    let cfgs = [Config::Bare, Config::File, Config::S3Https];
    step(&format!("fork + exec /bin/true: {reps} interleaved runs of {n} iterations (benches/hooked/loop.c)"));
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); cfgs.len()];
    for rep in 0..reps {
        for k in 0..cfgs.len() {
            let i = (k + rep) % cfgs.len();
            let cfg = cfgs[i];
            let argv = [ctx.loop_bin.to_string_lossy().into_owned(), "exec".into(), n.to_string(), "60".into()];
            let mut cmd = ctx.command(cfg, &argv, false);
            let out = run_output(&mut cmd)?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let what = format!("exec loop, {}", cfg.label());
            let (done, ns) = loop_result(&stdout, "exec").map_err(|e| format!("`{}` {e}", show(&cmd)))?;
            if done < n {
                return Err(format!("{what}: only {done} of {n} iterations within 60 s"));
            }
            ctx.check_started(cfg, &stderr, &what)?;
            samples[i].push(ns);
        }
    }
    let per_exec: Vec<(Config, f64)> = cfgs.iter().zip(&samples).map(|(c, v)| (*c, median(v))).collect();
    for (cfg, ns) in &per_exec {
        println!("    {:<40} {}", cfg.label(), fmt_ns(*ns));
    }
    let maps = fetcher_maps(ctx)?;
    Ok(Exec { per_exec, maps })
}

/// What a root process and its child map (`/proc/PID/maps`).
#[derive(Clone, Copy)]
struct Maps {
    /// librampart_fetch.so's mappings in the root.
    root_fetch: usize,
    /// All the root's mappings: what its every fork copies.
    root_total: usize,
    child_fetch: usize,
    child_lib: usize,
}

/// The maps of a root (a shell) under `cfg` and of its child (grep).
fn maps(ctx: &Ctx, cfg: Config) -> Result<Maps, String> {
    // The last command a builtin: a shell may exec its last command in
    // place, and a root that replaced itself loads the fetcher again.
    let script = "grep -c -F librampart_fetch.so /proc/$$/maps; grep -c . /proc/$$/maps; \
                  grep -c -F librampart_fetch.so /proc/self/maps; grep -c -F librampart.so /proc/self/maps; true";
    let argv = ["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()];
    let mut cmd = ctx.command(cfg, &argv, false);
    let out = run_output(&mut cmd)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let what = format!("maps, {}", cfg.label());
    ctx.check_started(cfg, &String::from_utf8_lossy(&out.stderr), &what)?;
    let n: Vec<usize> = stdout.lines().filter_map(|l| l.trim().parse().ok()).collect();
    let [root_fetch, root_total, child_fetch, child_lib] = n[..] else {
        return Err(format!("`{}` printed {stdout:?}, expected four counts", show(&cmd)));
    };
    Ok(Maps { root_fetch, root_total, child_fetch, child_lib })
}

/// Under the S3 policy the root maps librampart_fetch.so and its children
/// map librampart.so but not the fetcher; under the file policy no one
/// maps the fetcher. Returns (S3, file).
fn fetcher_maps(ctx: &Ctx) -> Result<(Maps, Maps), String> {
    let s3 = maps(ctx, Config::S3Https)?;
    let file = maps(ctx, Config::File)?;
    if s3.root_fetch == 0 || s3.child_fetch != 0 || s3.child_lib == 0 || file.root_fetch != 0 || file.child_lib == 0 {
        return Err(format!(
            "mappings of librampart_fetch.so: under the S3 policy {} in the root (expected > 0), {} in a child \
             (expected 0); under the file policy {} in the root (expected 0); of librampart.so in a child: {} and \
             {} (expected > 0)",
            s3.root_fetch, s3.child_fetch, file.root_fetch, s3.child_lib, file.child_lib
        ));
    }
    println!(
        "    under the S3 policy the root maps librampart_fetch.so ({} mappings, {} in all; {} under the file \
         policy), a child maps librampart.so ({}) and not the fetcher",
        s3.root_fetch, s3.root_total, file.root_total, s3.child_lib
    );
    Ok((s3, file))
}

// ---------------------------------------------------------------- report --

/// `903 KiB`, `2.69 MiB`.
fn fmt_bytes(b: u64) -> String {
    let kib = b as f64 / 1024.0;
    if kib < 1024.0 { format!("{kib:.0} KiB") } else { format!("{:.2} MiB", kib / 1024.0) }
}

fn report(ctx: &Ctx, sizes: &[LibSize], cold: &[(Config, Start)], lat: &Latency, exec: &Exec) -> String {
    let mut md = String::new();
    let smoke = if ctx.opts.smoke { " (smoke run: numbers are not meaningful)" } else { "" };
    let _ = writeln!(md, "#### Policy from S3{smoke}\n");
    let _ = writeln!(md, "| library | bytes | size | deflated (as in a zip) |");
    let _ = writeln!(md, "|---|---:|---:|---:|");
    for s in sizes {
        let who = if s.name.contains("fetch") { " (the root process only)" } else { "" };
        let _ =
            writeln!(md, "| `{}`{who} | {} | {} | {} |", s.name, s.bytes, fmt_bytes(s.bytes), fmt_bytes(s.deflated));
    }

    let _ = writeln!(
        md,
        "\nCold start of {}, {MODE} mode, {} rules per category (median of {} interleaved runs):\n",
        ctx.python.label,
        size_label(RULES),
        ctx.opts.reps
    );
    let _ = writeln!(md, "| run | wall | vs bare | vs file | CPU | vs bare | vs file | max RSS | vs bare | vs file |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let get = |cfg: Config| cold.iter().find(|(c, _)| *c == cfg).map(|(_, s)| *s);
    if let (Some(bare), Some(file)) = (get(Config::Bare), get(Config::File)) {
        for &(cfg, s) in cold {
            let vs = |x: f64, base: f64, keep: bool, unit: &str| {
                if keep { signed(x - base, 2, unit) } else { "".to_owned() }
            };
            let (vb, vf) = (cfg != Config::Bare, cfg.is_s3());
            let _ = writeln!(
                md,
                "| {} | {:.1} ms | {} | {} | {:.1} ms | {} | {} | {:.1} MB | {} | {} |",
                cfg.label(),
                s.wall_ms,
                vs(s.wall_ms, bare.wall_ms, vb, "ms"),
                vs(s.wall_ms, file.wall_ms, vf, "ms"),
                s.cpu_ms,
                vs(s.cpu_ms, bare.cpu_ms, vb, "ms"),
                vs(s.cpu_ms, file.cpu_ms, vf, "ms"),
                kb_to_mb(s.rss_kb),
                vs(kb_to_mb(s.rss_kb), kb_to_mb(bare.rss_kb), vb, "MB"),
                vs(kb_to_mb(s.rss_kb), kb_to_mb(file.rss_kb), vf, "MB"),
            );
        }
    }
    let _ = writeln!(
        md,
        "\nWall: fork to wait4 of the command (`rampart run` execs it, so its own start is included); CPU: user + \
         system (rusage); max RSS: ru_maxrss. Each start once untimed first (page cache). Every `rampart run` \
         start is checked by its `started` line (mode, source, the ETag for S3, the rule counts of `rampart \
         policy check`). With a file, `rampart run` validates it before the exec and the library reads it again; \
         with s3://, the library fetches it in the command's process before the program's code runs: a GET of \
         the {} KiB object `s3://{BUCKET}/{PREFIX}/policy.json` from s3s-fs on loopback (no network latency: in \
         AWS add a round trip to S3) through a relay, plain or terminating TLS (RSA 2048 certificate of a local \
         CA in `AWS_CA_BUNDLE`; a full handshake per start). The relay (Python asyncio) acks at once: s3s-fs \
         writes without TCP_NODELAY, and a client reading it directly waits for its own delayed ACK (40 ms) on \
         about one fetch in five.",
        ctx.allow_text.len() / 1024
    );

    let _ = writeln!(
        md,
        "\nObject replaced → enforced in a running process (`RAMPART_REFRESH_SECS={REFRESH_SECS}`, HTTPS, {} \
         changes each way):\n",
        ctx.opts.changes
    );
    let _ = writeln!(md, "| change | min | median | max |");
    let _ = writeln!(md, "|---|---:|---:|---:|");
    let rows = [
        ("allow → deny: first `EACCES`", &lat.to_deny),
        ("deny → allow: first open", &lat.to_allow),
        ("of which past the due refresh (both ways, but the first)", &lat.past_due),
    ];
    for (label, v) in rows {
        let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        let _ = writeln!(md, "| {label} | {lo:.0} ms | {:.0} ms | {hi:.0} ms |", median(v));
    }
    let _ = writeln!(
        md,
        "\nA Python process polls `open()` of a file every millisecond; the object is renamed into place in \
         s3s-fs's directory at a point spread evenly over the refresh cycle (golden-ratio phases), and the time \
         runs to the first answer that changed. Expected: uniform over [0, {REFRESH_SECS} s] plus a fetch. \
         Past the due refresh: the time less the wait for the refresh due an interval after the one that showed \
         the previous change, i.e. the refresh's own time: waking up (on a coarse clock), the fetch (the \
         whole object: s3s-fs ignores If-None-Match), installing the policy, the probe's next try. Checked: one \
         `policy changed` line per change with the new rule counts, block lines only for that file."
    );

    let _ = writeln!(
        md,
        "\nfork + exec `/bin/true` + wait from a process under each policy (`benches/hooked/loop.c`, {} \
         iterations, median of {} interleaved runs):\n",
        ctx.opts.execs, ctx.opts.exec_reps
    );
    let _ = writeln!(md, "| run | per exec | vs bare | vs file |");
    let _ = writeln!(md, "|---|---:|---:|---:|");
    let (bare, file) = (exec.get(Config::Bare), exec.get(Config::File));
    for &(cfg, ns) in &exec.per_exec {
        let ratio = |base: Option<f64>, keep: bool| match base {
            Some(b) if keep => format!("{:.2}×", ns / b),
            _ => String::new(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            cfg.label(),
            fmt_ns(ns),
            ratio(bare, cfg != Config::Bare),
            ratio(file, cfg.is_s3())
        );
    }
    let (s3, file) = exec.maps;
    let _ = writeln!(
        md,
        "\nChecked: under the S3 policy the root maps `librampart_fetch.so` ({} mappings), its children map \
         `librampart.so` ({}) and not the fetcher; under the file policy no process maps it. The S3 root has \
         more for each fork to copy: {} mappings, {} under the file policy.",
        s3.root_fetch, s3.child_lib, s3.root_total, file.root_total
    );
    let _ = writeln!(md, "\n{}; {}; {}. Regenerate with `cargo xtask bench-s3`.", machine(), kernel(), revision());
    md
}

/// Removes a directory when the benchmark ends, however it ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let o = Options::parse(&["--smoke".to_owned()]).unwrap();
        assert!(o.smoke && o.reps == 2 && o.changes == 2 && o.exec_reps == 1);
        let o = Options::parse(&["--changes".to_owned(), "3".to_owned()]).unwrap();
        assert!(!o.smoke && o.reps == 20 && o.changes == 3);
        assert!(Options::parse(&["--reps".to_owned(), "0".to_owned()]).is_err());
        assert!(Options::parse(&["--bogus".to_owned()]).is_err());
    }

    #[test]
    fn phases_cover_the_cycle() {
        let mut p: Vec<f64> = (1..=10).map(phase).collect();
        p.sort_by(f64::total_cmp);
        assert!(p.iter().all(|x| (0.0..1.0).contains(x)));
        // Ten phases leave no gap wider than a fifth of the cycle.
        assert!(p.windows(2).all(|w| w[1] - w[0] < 0.2), "{p:?}");
        assert!(p[0] < 0.2 && p[9] > 0.8, "{p:?}");
    }

    #[test]
    fn sizes() {
        assert_eq!(fmt_bytes(924_672), "903 KiB");
        assert_eq!(fmt_bytes(2_819_664), "2.69 MiB");
    }
}
