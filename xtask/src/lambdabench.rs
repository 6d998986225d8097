//! `cargo xtask bench-lambda`: what the layer adds to a Lambda function's
//! invocations, under AWS's Runtime Interface Emulator with the real runtime
//! clients (the fixtures of tests/runtimes/lambda/, run by
//! `rampart_tests::rie`).
//!
//! Two configurations of each runtime: the bare runtime command, and the
//! layer in front of it as Lambda runs it (`opt/rampart/wrapper CMD...`,
//! the release librampart.so beside it, `rampart_tests::layer`) with a
//! block-mode policy learned from a profile run of the same function. The
//! library then relays the Runtime API in the runtime's process: every
//! event is classified and checked before the handler, and every
//! invocation ends with a heartbeat `status` line.
//!
//! One emulator runs at a time (two would share the two cores and add each
//! other's noise). Each start of one is a cold-start sample (the emulator
//! starts the runtime on the first invocation) followed by a few untimed
//! warm-ups and a batch of timed warm no-op invocations (`{"noop": true}`:
//! the handler returns at once, so what is left is the invocation path);
//! the configurations alternate start by start. Invocations go over one
//! kept-alive HTTP/1.1 connection written by hand, so the client's own
//! cost is small and the same for both.
//!
//! Checked for every invocation: HTTP 200 and the fixture's result (its
//! runtime, the request id sent, `noop`, the same runtime process through
//! a batch). For the layer: one `started: mode block` line naming the
//! policy, one heartbeat (`invocation end (response)`) per invocation, and
//! no block, alert or error line; for the bare runtime, no rampart line at
//! all. The result is a Markdown table (also written to
//! `TARGET/bench-lambda.md`).

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rampart_tests::layer::Layer;
use rampart_tests::rie::{Function, Rie, Runtime, new_request_id, version};
use serde_json::Value;

use crate::hooked::{events, kernel, machine, median, revision, run_output, signed};
use crate::s3bench::statuses;
use crate::util::{cargo, fmt_duration, output, paint, run, target_dir};

/// Issue 5's targets.
const TARGET_WARM_MS: f64 = 0.2;
const TARGET_COLD_MS: f64 = 5.0;
/// The event of every timed invocation: the fixture returns at once.
const NOOP: &str = r#"{"noop": true}"#;
/// What the emulator's invoke API serves.
const INVOKE_PATH: &str = "/2015-03-31/functions/function/invocations";
/// How long one invocation may take before the run fails (the first one
/// starts a JVM).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);
/// The library's heartbeat at the end of an invocation the runtime
/// answered (crates/preload/src/lambda.rs).
const HEARTBEAT: &str = "invocation end (response)";
/// A 1-minute load average above this at the start gets a warning: the
/// added times are a tenth of a millisecond, other work on the machine
/// moves them by as much.
const BUSY_LOAD: f64 = 0.5;

const HELP_OPTIONS: &str =
    "options: --smoke | --invokes N | --starts K | --warmup W | --runtimes python,node,java,dotnet";

pub struct Options {
    smoke: bool,
    /// Timed warm invocations per configuration and runtime.
    invokes: usize,
    /// Emulator starts (cold-start samples) per configuration and runtime.
    starts: usize,
    /// Untimed warm invocations after each cold start.
    warmup: usize,
    runtimes: Vec<Runtime>,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let (mut smoke, mut invokes, mut starts, mut warmup, mut runtimes) = (false, None, None, None, None);
        let mut it = args.iter();
        let number = |v: Option<&String>, what: &str| -> Result<usize, String> {
            v.and_then(|s| s.parse::<usize>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("bench-lambda: {what} needs a positive whole number"))
        };
        while let Some(a) = it.next() {
            match a.as_str() {
                "--smoke" => smoke = true,
                "--invokes" => invokes = Some(number(it.next(), "--invokes")?),
                "--starts" => starts = Some(number(it.next(), "--starts")?),
                // Zero warm-ups is allowed.
                "--warmup" => {
                    warmup = Some(
                        it.next()
                            .and_then(|s| s.parse::<usize>().ok())
                            .ok_or("bench-lambda: --warmup needs a whole number")?,
                    )
                }
                "--runtimes" => {
                    let list = it.next().ok_or("bench-lambda: --runtimes needs a list")?;
                    runtimes = Some(parse_runtimes(list)?);
                }
                other => return Err(format!("bench-lambda: unknown argument `{other}` ({HELP_OPTIONS})")),
            }
        }
        // The smoke run proves the runner end to end in seconds; the
        // numbers mean little.
        let (n, k, w) = if smoke { (20, 2, 3) } else { (300, 10, 20) };
        let starts = starts.unwrap_or(k);
        Ok(Options {
            smoke,
            invokes: invokes.unwrap_or(n).max(starts),
            starts,
            warmup: warmup.unwrap_or(w),
            runtimes: runtimes.unwrap_or_else(|| Runtime::ALL.to_vec()),
        })
    }

    /// Timed invocations per emulator start.
    fn per_start(&self) -> usize {
        self.invokes.div_ceil(self.starts)
    }
}

fn parse_runtimes(list: &str) -> Result<Vec<Runtime>, String> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let rt = Runtime::ALL
            .into_iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| format!("bench-lambda: unknown runtime `{name}` (python, node, java, dotnet)"))?;
        if !out.contains(&rt) {
            out.push(rt);
        }
    }
    if out.is_empty() {
        return Err("bench-lambda: --runtimes names no runtime".into());
    }
    Ok(out)
}

/// How the function is started.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Config {
    /// The runtime command alone.
    Bare,
    /// `wrapper CMD...` with the learned block-mode policy.
    Layer,
}

impl Config {
    fn label(self) -> &'static str {
        match self {
            Config::Bare => "bare",
            Config::Layer => "layer",
        }
    }
}

/// Everything a run needs.
struct Ctx {
    opts: Options,
    work: PathBuf,
    rampart: PathBuf,
    layer: Layer,
    /// The 1-minute load average when the measurements started.
    load: f64,
}

/// The samples of one configuration of one runtime.
#[derive(Default)]
struct Samples {
    /// Warm invocations, ms.
    warm: Vec<f64>,
    /// First invocations after a start, ms.
    cold: Vec<f64>,
    /// Invocations made (timed or not) and heartbeat lines seen.
    invocations: usize,
    heartbeats: usize,
}

/// One runtime's results.
struct Row {
    label: String,
    /// `rampart policy check`'s rule counts of the learned policy.
    counts: String,
    bare: Samples,
    layer: Samples,
}

pub fn main(args: &[String]) -> Result<(), String> {
    let opts = Options::parse(args)?;
    let started = Instant::now();
    let target = target_dir()?;
    let work = target.join("lambda-bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let work = std::fs::canonicalize(&work).map_err(|e| format!("{}: {e}", work.display()))?;

    step("runtimes");
    crate::runtimes::ensure_runtimes()?;

    step("build (release)");
    run(cargo().args(["build", "--release", "-p", "rampart-cli", "-p", "rampart-preload", "-p", "rampart-fetch"]))?;
    let release = target.join("release");
    let lib = release.join("librampart.so");
    let rampart = release.join("rampart");
    for p in [&lib, &release.join("librampart_fetch.so"), &rampart] {
        if !p.is_file() {
            return Err(format!("{} is missing after the build", p.display()));
        }
    }

    // The harness (rampart_tests) panics on what it cannot do: a failure
    // of this step, with the panic's message.
    harness(|| {
        // rampart_tests::layer takes the library from RAMPART_LIB (the
        // debug build otherwise), only while it lays the layer out.
        // SAFETY: xtask is single-threaded here; nothing reads the
        // environment concurrently.
        unsafe { std::env::set_var("RAMPART_LIB", &lib) };
        let layer = Layer::new();
        // SAFETY: as above.
        unsafe { std::env::remove_var("RAMPART_LIB") };
        let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        if read(&layer.lib())? != read(&lib)? {
            return Err(format!("the layer's {} is not the release {}", layer.lib().display(), lib.display()));
        }
        println!("    layer: {} (library: the release build)", layer.wrapper().display());
        let load = load_average();
        if load > BUSY_LOAD {
            println!(
                "    {} the 1-minute load average is {load:.2} on {} cores: something else is running, the \
                 numbers will be noisy",
                paint("1;33", "warning:"),
                std::thread::available_parallelism().map_or(0, |n| n.get())
            );
        }
        let ctx = Ctx { opts, work, rampart, layer, load };
        let mut rows = Vec::new();
        for &rt in &ctx.opts.runtimes {
            rows.push(measure(&ctx, rt)?);
        }
        let md = report(&ctx, &rows);
        let stem = if ctx.opts.smoke { "bench-lambda-smoke" } else { "bench-lambda" };
        let md_path = target.join(format!("{stem}.md"));
        std::fs::write(&md_path, &md).map_err(|e| format!("{}: {e}", md_path.display()))?;
        println!("\n{md}");
        println!("Written to {} in {}", md_path.display(), fmt_duration(started.elapsed()));
        Ok(())
    })
}

/// The 1-minute load average (`/proc/loadavg`).
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// Runs `f`, turning a panic of the test harness into an error.
fn harness<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "(no message)".into());
            Err(format!("the Lambda harness failed: {msg}"))
        }
    }
}

fn step(name: &str) {
    println!("{}", paint("1;36", &format!("==> bench-lambda: {name}")));
}

// ----------------------------------------------------------- the client --

/// A kept-alive HTTP/1.1 connection to the emulator's invoke API.
struct Client {
    addr: SocketAddr,
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Result<Client, String> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("connect to the emulator at {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(INVOKE_TIMEOUT)).map_err(|e| e.to_string())?;
        Ok(Client { addr, stream, buf: Vec::with_capacity(4096) })
    }

    /// One invocation as request `id`: the status and the body. The
    /// emulator gives the runtime `X-Amzn-RequestId` as the request id.
    fn invoke(&mut self, id: &str, payload: &str) -> Result<(u16, Vec<u8>), String> {
        let request = format!(
            "POST {INVOKE_PATH} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nX-Amzn-RequestId: {id}\r\n\
             Content-Length: {}\r\n\r\n{payload}",
            self.addr,
            payload.len()
        );
        self.stream.write_all(request.as_bytes()).map_err(|e| format!("invoke {id}: send: {e}"))?;
        self.read_response().map_err(|e| format!("invoke {id}: {e}"))
    }

    fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err("the emulator closed the connection".into()),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) => Err(format!("read: {e}")),
        }
    }

    fn read_response(&mut self) -> Result<(u16, Vec<u8>), String> {
        let end = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            self.fill()?;
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| format!("bad status line in {head:?}"))?;
        let (mut length, mut chunked, mut close) = (None, false, false);
        for line in lines {
            let Some((k, v)) = line.split_once(':') else { continue };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "content-length" => length = v.parse::<usize>().ok(),
                "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                "connection" => close = v.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let body = if chunked {
            self.read_chunked()?
        } else {
            let n = length.ok_or_else(|| format!("a response without a length: {head:?}"))?;
            while self.buf.len() < n {
                self.fill()?;
            }
            self.buf.drain(..n).collect()
        };
        if close {
            *self = Client::connect(self.addr)?;
        }
        Ok((status, body))
    }

    fn read_line(&mut self) -> Result<String, String> {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..at]).into_owned();
                self.buf.drain(..at + 2);
                return Ok(line);
            }
            self.fill()?;
        }
    }

    fn read_chunked(&mut self) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line()?;
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {line:?}"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !self.read_line()?.is_empty() {}
                return Ok(body);
            }
            while self.buf.len() < size + 2 {
                self.fill()?;
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
        }
    }
}

// --------------------------------------------------------------- a run --

/// The runtime's command line under `cfg`, and its environment.
fn command(
    ctx: &Ctx,
    function: &Function,
    cfg: Config,
    env: &[(String, String)],
) -> (Vec<String>, Vec<(String, String)>) {
    let mut cmd = Vec::new();
    if cfg == Config::Layer {
        cmd.push(ctx.layer.wrapper().to_string_lossy().into_owned());
    }
    cmd.extend(function.command());
    let mut all = function.env();
    all.extend_from_slice(env);
    (cmd, all)
}

/// Checks an invocation's answer: 200 and the no-op result of `rt` for
/// request `id`. Returns the runtime's pid.
fn check_result(rt: Runtime, id: &str, status: u16, body: &[u8]) -> Result<u64, String> {
    let text = String::from_utf8_lossy(body);
    if status != 200 {
        return Err(format!("{}: invocation {id} answered {status}: {text}", rt.name()));
    }
    let v: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: invocation {id}: not JSON ({e}): {text}", rt.name()))?;
    let pid = v["pid"].as_u64().filter(|p| *p > 1);
    if v["runtime"] != rt.name() || v["noop"] != true || v["request_id"] != id || pid.is_none() {
        return Err(format!("{}: invocation {id}: not the fixture's no-op result: {text}", rt.name()));
    }
    Ok(pid.unwrap_or_default())
}

/// What one emulator start gave.
struct Batch {
    cold_ms: f64,
    warm_ms: Vec<f64>,
    invocations: usize,
    /// The emulator's stdout: the function's stdout and stderr.
    output: String,
}

/// Starts the emulator, invokes once (the cold start), `warmup` times
/// untimed, `timed` times timed, and stops it.
fn batch(
    ctx: &Ctx,
    function: &Function,
    cfg: Config,
    env: &[(String, String)],
    warmup: usize,
    timed: usize,
) -> Result<Batch, String> {
    let rt = function.runtime;
    let (cmd, env) = command(ctx, function, cfg, env);
    let rie = Rie::start(function.task_root(), &cmd, &env);
    let result = (|| {
        let mut client = Client::connect(rie.invoke_addr())?;
        let id = new_request_id();
        let t = Instant::now();
        let (status, body) = client.invoke(&id, NOOP)?;
        let cold_ms = t.elapsed().as_secs_f64() * 1e3;
        let pid = check_result(rt, &id, status, &body)?;
        let mut warm_ms = Vec::with_capacity(timed);
        for i in 0..warmup + timed {
            let id = new_request_id();
            let t = Instant::now();
            let (status, body) = client.invoke(&id, NOOP)?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            if check_result(rt, &id, status, &body)? != pid {
                return Err(format!("{}: the runtime was restarted during a batch", rt.name()));
            }
            if i >= warmup {
                warm_ms.push(ms);
            }
        }
        Ok((cold_ms, warm_ms))
    })();
    let log = rie.log_lines();
    let stopped = rie.stop();
    let output = stopped.output.join("\n");
    match result {
        Ok((cold_ms, warm_ms)) => Ok(Batch { cold_ms, warm_ms, invocations: 1 + warmup + timed, output }),
        Err(e) => Err(format!(
            "{e}\n{} {} output (tail):\n{}\nemulator log (tail):\n{}",
            rt.name(),
            cfg.label(),
            crate::hooked::tail(&output, 20),
            crate::hooked::tail(&log.join("\n"), 20)
        )),
    }
}

/// Learns the function's policy: a profile run through the layer (a cold
/// start and a few invocations), `rampart learn`, then block mode. Every
/// later start must run clean under it (pid-named paths are generalised by
/// `rampart learn`, or reported as `/proc/self` by the library). Returns
/// the policy and its rule counts.
fn learn(ctx: &Ctx, function: &Function) -> Result<(PathBuf, String), String> {
    let name = function.runtime.name();
    let env = [("RAMPART_MODE".to_owned(), "profile".to_owned())];
    let b = batch(ctx, function, Config::Layer, &env, 0, 5)?;
    let log = ctx.work.join(format!("profile-{name}.log"));
    std::fs::write(&log, &b.output).map_err(|e| format!("{}: {e}", log.display()))?;
    let policy = ctx.work.join(format!("policy-{name}.json"));
    run_output(Command::new(&ctx.rampart).arg("learn").arg("-o").arg(&policy).arg(&log))?;
    run_output(Command::new(&ctx.rampart).args(["policy", "mode"]).arg(&policy).arg("block"))?;
    let checked = output(Command::new(&ctx.rampart).args(["policy", "check"]).arg(&policy))?;
    // `PATH: ok (mode block; file F, network N, ...)`.
    let counts = checked
        .trim()
        .rsplit_once("; ")
        .map(|(_, c)| c.trim_end_matches(')').to_owned())
        .filter(|_| checked.contains("mode block"))
        .ok_or_else(|| format!("`rampart policy check` said {checked:?}"))?;
    Ok((policy, counts))
}

/// Checks the function's output of one batch and counts its heartbeats.
fn check_output(cfg: Config, policy: &Path, b: &Batch, what: &str) -> Result<usize, String> {
    if cfg == Config::Bare {
        return match events(&b.output).first() {
            Some((kind, msg)) => Err(format!("{what}: a bare run wrote a rampart line: {kind} {msg}")),
            None => Ok(0),
        };
    }
    let evs = events(&b.output);
    let mut bad: Vec<String> = evs
        .iter()
        .filter(|(kind, _)| matches!(kind.as_str(), "block" | "alert" | "error" | "torn" | "?"))
        .map(|(kind, target)| format!("{kind} {target}"))
        .collect();
    if !bad.is_empty() {
        bad.dedup();
        return Err(format!(
            "{what}: rampart reported what the learned policy {} should allow, or an error:\n  {}",
            policy.display(),
            bad.join("\n  ")
        ));
    }
    let msgs = statuses(&evs);
    let started: Vec<&String> = msgs.iter().filter(|m| m.starts_with("started: ")).collect();
    let want = format!("started: mode block, policy {}, ", policy.display());
    if started.len() != 1 || !started[0].starts_with(&want) {
        return Err(format!("{what}: expected one `{want}…` line, got {started:?}"));
    }
    let beats = msgs.iter().filter(|m| m.starts_with(HEARTBEAT)).count();
    if beats != b.invocations {
        return Err(format!(
            "{what}: {beats} heartbeat lines (`{HEARTBEAT}`) for {} invocations; status lines:\n  {}",
            b.invocations,
            msgs.join("\n  ")
        ));
    }
    Ok(beats)
}

/// The runtime's label for the table: interpreter and client versions.
fn label(rt: Runtime, function: &Function) -> String {
    let first_line = |cmd: &mut Command| {
        cmd.output()
            .ok()
            .map(|o| {
                let text = [o.stdout, o.stderr].concat();
                String::from_utf8_lossy(&text).lines().next().unwrap_or("").trim().to_owned()
            })
            .unwrap_or_default()
    };
    let program = function.command().into_iter().next().unwrap_or_default();
    match rt {
        Runtime::Python => {
            format!(
                "{} + awslambdaric {}",
                first_line(Command::new(&program).arg("--version")),
                version("PYTHON_RIC_VERSION")
            )
        }
        Runtime::Node => {
            format!(
                "Node.js {} + aws-lambda-ric {}",
                first_line(Command::new(&program).arg("--version")),
                version("NODE_RIC_VERSION")
            )
        }
        Runtime::Java => {
            let v = first_line(Command::new(&program).arg("-version"));
            let v = v.split('"').nth(1).unwrap_or(&v).to_owned();
            format!("Java {v} + aws-lambda-java-runtime-interface-client {}", version("JAVA_RIC_VERSION"))
        }
        Runtime::Dotnet => {
            let list = Command::new(&program).arg("--list-runtimes").output().ok();
            let v = list
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("Microsoft.NETCore.App ").and_then(|r| r.split_whitespace().next()))
                .map(str::to_owned)
                .unwrap_or_else(|| "?".into());
            format!(".NET Core {v} + our HttpClient loop")
        }
    }
}

fn measure(ctx: &Ctx, rt: Runtime) -> Result<Row, String> {
    let o = &ctx.opts;
    let function = Function::new(rt);
    let label = label(rt, &function);
    step(&format!("{label}: learning a policy"));
    let (policy, counts) = learn(ctx, &function)?;
    println!("    {}: {counts}", policy.display());
    let per_start = o.per_start();
    step(&format!(
        "{label}: {} starts × (1 cold + {} warm-up + {per_start} timed invocations), bare and layer alternating",
        o.starts, o.warmup
    ));
    let layer_env = [("RAMPART_POLICY".to_owned(), policy.to_string_lossy().into_owned())];
    let (mut bare, mut layer) = (Samples::default(), Samples::default());
    for rep in 0..o.starts {
        let order = if rep % 2 == 0 { [Config::Bare, Config::Layer] } else { [Config::Layer, Config::Bare] };
        for cfg in order {
            let (env, dst): (&[(String, String)], &mut Samples) = match cfg {
                Config::Bare => (&[], &mut bare),
                Config::Layer => (&layer_env, &mut layer),
            };
            let b = batch(ctx, &function, cfg, env, o.warmup, per_start)?;
            let what = format!("{} {} start {}", rt.name(), cfg.label(), rep + 1);
            dst.heartbeats += check_output(cfg, &policy, &b, &what)?;
            dst.invocations += b.invocations;
            dst.cold.push(b.cold_ms);
            dst.warm.extend(b.warm_ms);
        }
    }
    println!(
        "    warm median {:.3} → {:.3} ms, p90 {:.3} → {:.3} ms; cold median {:.1} → {:.1} ms; {} heartbeats for {} invocations",
        median(&bare.warm),
        median(&layer.warm),
        p90(&bare.warm),
        p90(&layer.warm),
        median(&bare.cold),
        median(&layer.cold),
        layer.heartbeats,
        layer.invocations
    );
    let sorted = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(" ")
    };
    println!("    cold starts, ms: bare {}; layer {}", sorted(&bare.cold), sorted(&layer.cold));
    Ok(Row { label, counts, bare, layer })
}

/// The 90th percentile (nearest rank).
fn p90(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n => s[(n * 9).div_ceil(10).max(1) - 1],
    }
}

// ---------------------------------------------------------------- report --

fn verdict(added: f64, target: f64, decimals: usize) -> String {
    if added <= target { "met".into() } else { format!("**missed** by {}", signed(added - target, decimals, "ms")) }
}

fn report(ctx: &Ctx, rows: &[Row]) -> String {
    let o = &ctx.opts;
    let mut md = String::new();
    let smoke = if o.smoke { " (smoke run: numbers are not meaningful)" } else { "" };
    let _ = writeln!(md, "#### Lambda invocations under the emulator{smoke}\n");
    let _ = writeln!(
        md,
        "Warm: a no-op invocation (`{{\"noop\": true}}`), from sending the request to the end of the answer, \
         {} per configuration ({} starts × {}, after {} untimed warm-ups each). Cold: the first invocation \
         after the emulator's start (it starts the runtime then: process start, runtime client and handler \
         init, the invocation), median of {} starts. Bare: the runtime command; layer: `wrapper` + the \
         release librampart.so in block mode with a policy learned from a profile run. Targets: ≤ \
         {TARGET_WARM_MS} ms added per warm invocation, ≤ {TARGET_COLD_MS} ms per cold start.\n",
        o.per_start() * o.starts,
        o.starts,
        o.per_start(),
        o.warmup,
        o.starts
    );
    let _ = writeln!(
        md,
        "| runtime | warm bare median / p90 | warm layer median / p90 | added (median) | cold bare | cold layer | \
         added |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let warm_added = median(&r.layer.warm) - median(&r.bare.warm);
        let cold_added = median(&r.layer.cold) - median(&r.bare.cold);
        let _ = writeln!(
            md,
            "| {} | {:.3} / {:.3} ms | {:.3} / {:.3} ms | {} ({}) | {:.1} ms | {:.1} ms | {} ({}) |",
            r.label,
            median(&r.bare.warm),
            p90(&r.bare.warm),
            median(&r.layer.warm),
            p90(&r.layer.warm),
            signed(warm_added, 3, "ms"),
            verdict(warm_added, TARGET_WARM_MS, 3),
            median(&r.bare.cold),
            median(&r.layer.cold),
            signed(cold_added, 1, "ms"),
            verdict(cold_added, TARGET_COLD_MS, 1),
        );
    }
    let beats: Vec<String> =
        rows.iter().map(|r| format!("{} for {}", r.layer.heartbeats, r.layer.invocations)).collect();
    let _ = writeln!(
        md,
        "\nOne emulator (`aws-lambda-rie`) at a time, bare and layer alternating start by start; invocations \
         over one kept-alive HTTP/1.1 connection on loopback. Checked: every invocation answered 200 with the \
         fixture's result for its request id from the same runtime process; with the layer, the `started: mode \
         block` line, one heartbeat `status` line per invocation ({}) and no block, alert or error line; bare, \
         no rampart line.",
        beats.join(", ")
    );
    let _ =
        writeln!(md, "\nLearned policies (`rampart learn` on the profile run, then `rampart policy mode block`):\n");
    for r in rows {
        let short = r.label.split(" + ").next().unwrap_or(&r.label);
        let _ = writeln!(md, "- {short}: {}", r.counts);
    }
    let _ = writeln!(
        md,
        "\n{}; {}; {}; load average {:.2} at the start. Regenerate with `cargo xtask bench-lambda`.",
        machine(),
        kernel(),
        revision(),
        ctx.load
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let o = Options::parse(&["--smoke".to_owned()]).unwrap();
        assert!(o.smoke && o.invokes == 20 && o.starts == 2 && o.per_start() == 10);
        assert_eq!(o.runtimes.len(), 4);
        let args: Vec<String> = ["--invokes", "7", "--starts", "3", "--runtimes", "node,python,node"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let o = Options::parse(&args).unwrap();
        assert!(!o.smoke && o.invokes == 7 && o.starts == 3 && o.per_start() == 3 && o.warmup == 20);
        assert_eq!(o.runtimes, [Runtime::Node, Runtime::Python]);
        assert!(Options::parse(&["--starts".to_owned(), "0".to_owned()]).is_err());
        assert!(Options::parse(&["--runtimes".to_owned(), "ruby".to_owned()]).is_err());
        assert!(Options::parse(&["--bogus".to_owned()]).is_err());
    }

    #[test]
    fn client_reads_plain_and_chunked_answers_on_one_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let answers: [&[u8]; 2] = [
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                b"HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            ];
            let mut seen = Vec::new();
            for answer in answers {
                // One request: its head, then its 14-byte body.
                let mut req = Vec::new();
                let mut byte = [0u8; 1];
                while !req.ends_with(b"\r\n\r\n") {
                    conn.read_exact(&mut byte).unwrap();
                    req.push(byte[0]);
                }
                let mut body = [0u8; 14];
                conn.read_exact(&mut body).unwrap();
                seen.push(String::from_utf8_lossy(&req).into_owned());
                // Split writes: the client must put the pieces together.
                let (a, b) = answer.split_at(answer.len() / 2);
                conn.write_all(a).unwrap();
                std::thread::sleep(Duration::from_millis(20));
                conn.write_all(b).unwrap();
            }
            seen
        });
        let mut client = Client::connect(addr).unwrap();
        assert_eq!(client.invoke("id-1", NOOP).unwrap(), (200, b"hello".to_vec()));
        assert_eq!(client.invoke("id-2", NOOP).unwrap(), (502, b"abcde".to_vec()));
        let seen = server.join().unwrap();
        assert!(seen[0].contains("X-Amzn-RequestId: id-1\r\n") && seen[0].contains("Content-Length: 14\r\n"));
        assert!(seen[1].starts_with(&format!("POST {INVOKE_PATH} HTTP/1.1\r\n")), "{}", seen[1]);
    }

    #[test]
    fn percentile() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(p90(&v), 9.0);
        assert_eq!(p90(&[3.0]), 3.0);
        let v: Vec<f64> = (1..=300).map(f64::from).collect();
        assert_eq!(p90(&v), 270.0);
    }
}
