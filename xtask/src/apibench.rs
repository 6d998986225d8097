//! `cargo xtask bench-api`: what the language shims and the library add to
//! one AWS API call, in process, for Python (boto3) and Node.js (the AWS
//! SDK for JavaScript v3).
//!
//! Each run is one process of tests/runtimes/api/bench_calls.{py,js}
//! making `dynamodb:GetItem` calls through the real SDK with its HTTP send
//! replaced by a canned 200 answer (everything the SDK does for a call but
//! the socket: no server noise), in four configurations, interleaved run by
//! run:
//!
//! - bare: the SDK alone;
//! - shim: the shim loaded (PYTHONPATH / NODE_OPTIONS, as the wrapper sets
//!   them), no library: the kernel answers the question with ENOENT;
//! - library: the release librampart.so preloaded, no shim;
//! - shim + library: both, block mode, the call allowed by the policy —
//!   the production path.
//!
//! Also timed: the shim's check alone (its botocore handler, its
//! middleware) with and without the library. Reported as CPU time per call
//! (user + system: the machine's other load stretches wall time, not that),
//! the median of the runs' median batches; added = shim + library − bare.
//! Before timing, one profile-mode run checks that the library really
//! answers (an `api` profile line for `dynamodb:GetItem`), and every timed
//! run must say its shim state (hooked or not) as configured.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::util::{cargo, fmt_duration, output, paint, root, run, target_dir};

/// ≤ 20 µs added per API call (issue 7).
const TARGET_US: f64 = 20.0;

struct Options {
    smoke: bool,
    reps: usize,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut opts = Options { smoke: false, reps: 5 };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--smoke" => opts.smoke = true,
                "--reps" => {
                    opts.reps = it
                        .next()
                        .and_then(|v| v.parse().ok())
                        .filter(|&n| n > 0)
                        .ok_or("--reps needs a positive number")?
                }
                other => return Err(format!("bench-api: unknown option `{other}`")),
            }
        }
        if opts.smoke {
            opts.reps = 1;
        }
        Ok(opts)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Runtime {
    Python,
    Node,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Config {
    Bare,
    Shim,
    Library,
    ShimLibrary,
}

const CONFIGS: [Config; 4] = [Config::Bare, Config::Shim, Config::Library, Config::ShimLibrary];

impl Config {
    fn shim(self) -> bool {
        matches!(self, Config::Shim | Config::ShimLibrary)
    }
    fn library(self) -> bool {
        matches!(self, Config::Library | Config::ShimLibrary)
    }
}

struct Ctx {
    work: PathBuf,
    lib: PathBuf,
    policy: PathBuf,
    node_modules: PathBuf,
    python: String,
}

/// (calls per batch, batches) for a full call and for the check alone.
fn sizes(rt: Runtime, smoke: bool) -> ((usize, usize), (usize, usize)) {
    match (rt, smoke) {
        (_, true) => ((20, 2), (200, 2)),
        (Runtime::Python, false) => ((200, 9), (20_000, 9)),
        (Runtime::Node, false) => ((300, 9), (20_000, 9)),
    }
}

pub fn main(args: &[String]) -> Result<(), String> {
    let opts = Options::parse(args)?;
    let started = Instant::now();
    let target = target_dir()?;
    let work = target.join("api-bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;

    step("SDKs");
    let node_modules = crate::runtimes::ensure_api_sdks()?;

    step("build (release)");
    run(cargo().args(["build", "--release", "-p", "rampart-preload", "-p", "rampart-fetch"]))?;
    let lib = target.join("release/librampart.so");
    if !lib.is_file() {
        return Err(format!("{} is missing after the build", lib.display()));
    }

    // The shims are copied: Python writes __pycache__ beside them.
    let shims = root().join("shims");
    for (dir, files) in
        [("python", &["sitecustomize.py", "rampart_botocore.py"][..]), ("node", &["rampart.js", "package.json"][..])]
    {
        let to = work.join("shims").join(dir);
        std::fs::create_dir_all(&to).map_err(|e| format!("{}: {e}", to.display()))?;
        for f in files {
            std::fs::copy(shims.join(dir).join(f), to.join(f)).map_err(|e| format!("copy {f}: {e}"))?;
        }
    }
    let policy = work.join("policy.json");
    let json = r#"{"version": 1, "mode": "block", "allow": {"file": ["rw /**"],
        "network": ["*:*", "udp:*:*", "unix:/**"], "process": ["/**"], "api": ["dynamodb:GetItem"]}}"#;
    std::fs::write(&policy, json).map_err(|e| format!("{}: {e}", policy.display()))?;
    let python =
        output(Command::new("python3").args(["-c", "import os, sys; print(os.path.realpath(sys.executable))"]))?
            .trim()
            .to_owned();
    let ctx = Ctx { work, lib, policy, node_modules, python };

    step("check: the library answers the shims");
    for rt in [Runtime::Python, Runtime::Node] {
        let mut cmd = bench_command(&ctx, rt, Config::ShimLibrary, "call", 1, 1);
        cmd.env("RAMPART_MODE", "profile");
        let out = cmd.output().map_err(|e| format!("cannot run the {} bench: {e}", name(rt)))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let seen = stderr.lines().any(|l| {
            l.starts_with("{\"rampart\":1,\"type\":\"profile\",\"cat\":\"api\"") && l.contains("\"dynamodb:GetItem\"")
        });
        if !out.status.success() || !seen {
            return Err(format!("{}: no api profile line for dynamodb:GetItem under the library:\n{stderr}", name(rt)));
        }
        println!("    {}: the library reported dynamodb:GetItem", name(rt));
    }

    let mut rows = Vec::new();
    for rt in [Runtime::Python, Runtime::Node] {
        step(&format!("{} ({} runs per configuration)", name(rt), opts.reps));
        rows.push(measure(&ctx, rt, &opts)?);
    }
    let md = report(&ctx, &rows, &opts);
    let stem = if opts.smoke { "bench-api-smoke" } else { "bench-api" };
    let md_path = target.join(format!("{stem}.md"));
    std::fs::write(&md_path, &md).map_err(|e| format!("{}: {e}", md_path.display()))?;
    println!("\n{md}");
    println!("Written to {} in {}", md_path.display(), fmt_duration(started.elapsed()));
    Ok(())
}

fn step(what: &str) {
    println!("{}", paint("1;36", &format!("==> bench-api: {what}")));
}

fn name(rt: Runtime) -> &'static str {
    match rt {
        Runtime::Python => "Python",
        Runtime::Node => "Node.js",
    }
}

/// One process of the bench script: `mode` (call, check), `calls` per
/// batch, `batches`.
fn bench_command(ctx: &Ctx, rt: Runtime, cfg: Config, mode: &str, calls: usize, batches: usize) -> Command {
    let fixtures = root().join("tests/runtimes/api");
    let shims = ctx.work.join("shims");
    let mut cmd = match rt {
        Runtime::Python => {
            let mut c = Command::new(&ctx.python);
            c.arg(fixtures.join("bench_calls.py"));
            c
        }
        Runtime::Node => {
            let mut c = Command::new("node");
            c.arg(fixtures.join("bench_calls.js"))
                .env("NODE_PATH", &ctx.node_modules)
                .env("NODE_NO_WARNINGS", "1")
                .env("RAMPART_NODE_SHIM", shims.join("node/rampart.js"));
            c
        }
    };
    cmd.args([mode, &calls.to_string(), &batches.to_string()]);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        let drop = ["LD_PRELOAD", "PYTHONPATH", "NODE_OPTIONS", "UV_USE_IO_URING"].contains(&&*k);
        if drop || k.starts_with("RAMPART_") && k != "RAMPART_NODE_SHIM" || k.starts_with("AWS_") {
            cmd.env_remove(&*k);
        }
    }
    cmd.env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    if cfg.shim() {
        match rt {
            Runtime::Python => cmd.env("PYTHONPATH", shims.join("python")),
            Runtime::Node => cmd.env("NODE_OPTIONS", format!("--require {}", shims.join("node/rampart.js").display())),
        };
    }
    if cfg.library() {
        cmd.env("LD_PRELOAD", &ctx.lib).env("RAMPART_POLICY", &ctx.policy).env("UV_USE_IO_URING", "0");
    }
    cmd
}

/// CPU ns per call of one run, after checking the shim state it reports.
fn one_run(ctx: &Ctx, rt: Runtime, cfg: Config, mode: &str, (calls, batches): (usize, usize)) -> Result<f64, String> {
    let mut cmd = bench_command(ctx, rt, cfg, mode, calls, batches);
    let out = cmd.output().map_err(|e| format!("cannot run the {} bench: {e}", name(rt)))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let words: Vec<&str> = stdout.split_whitespace().collect();
    let fail = || format!("{} {mode} run failed: {stdout}{stderr}", name(rt));
    if !out.status.success() || words.len() != 3 {
        return Err(fail());
    }
    if words[2].eq_ignore_ascii_case("true") != cfg.shim() {
        return Err(format!("{} {mode}: the shim should be {}: {stdout}", name(rt), cfg.shim()));
    }
    // Allowed calls in block mode write no line but the start line.
    if stderr.lines().any(|l| l.contains("\"type\":\"block\"") || l.contains("\"type\":\"alert\"")) {
        return Err(format!("{} {mode}: the library denied or alerted:\n{stderr}", name(rt)));
    }
    words[0].parse().map_err(|_| fail())
}

struct Row {
    version: String,
    /// The shim's own start: µs of its import (`-X importtime`'s
    /// cumulative time of sitecustomize) or of its `require`.
    start_us: f64,
    call: [f64; 4],
    /// The fastest and slowest bare run: the noise the whole-call
    /// differences sit in.
    bare_range: (f64, f64),
    check_shim: f64,
    check_library: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn measure(ctx: &Ctx, rt: Runtime, opts: &Options) -> Result<Row, String> {
    let (call_size, check_size) = sizes(rt, opts.smoke);
    let mut call: Vec<Vec<f64>> = vec![Vec::new(); 4];
    let (mut check_shim, mut check_library) = (Vec::new(), Vec::new());
    let mut start = Vec::new();
    for rep in 0..opts.reps {
        for _ in 0..3 {
            start.push(start_us(ctx, rt)?);
        }
        for (i, &cfg) in CONFIGS.iter().enumerate() {
            call[i].push(one_run(ctx, rt, cfg, "call", call_size)?);
        }
        check_shim.push(one_run(ctx, rt, Config::Shim, "check", check_size)?);
        check_library.push(one_run(ctx, rt, Config::ShimLibrary, "check", check_size)?);
        println!("    run {}/{} done", rep + 1, opts.reps);
    }
    let version = match rt {
        Runtime::Python => output(Command::new(&ctx.python).args([
            "-c",
            "import platform, importlib.metadata as m; print('Python', platform.python_version(), '+ boto3', m.version('boto3'))",
        ]))?,
        Runtime::Node => {
            let node = output(Command::new("node").arg("--version"))?;
            let pkg = std::fs::read_to_string(ctx.node_modules.join("@aws-sdk/client-dynamodb/package.json"))
                .map_err(|e| format!("client-dynamodb's package.json: {e}"))?;
            let v = pkg.split("\"version\":").nth(1).and_then(|r| r.split('"').nth(1)).unwrap_or("?").to_owned();
            format!("Node.js {} + @aws-sdk/client-dynamodb {v}", node.trim())
        }
    };
    let bare_range = call[0].iter().fold((f64::INFINITY, 0.0_f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let call = [0, 1, 2, 3].map(|i| median(std::mem::take(&mut call[i])));
    Ok(Row {
        version: version.trim().to_owned(),
        start_us: median(start),
        call,
        bare_range,
        check_shim: median(check_shim),
        check_library: median(check_library),
    })
}

/// What loading the shim adds to a fresh process's start, in µs: CPython's
/// `-X importtime` time of `sitecustomize` (compiled from source, as from
/// Lambda's read-only /opt) less that of an empty one; Node.js's `require`
/// of rampart.js timed around it (what `--require` does before the code)
/// less that of an empty file.
fn start_us(ctx: &Ctx, rt: Runtime) -> Result<f64, String> {
    let shims = ctx.work.join("shims");
    let one = |dir: &std::path::Path| -> Result<f64, String> {
        let mut cmd = match rt {
            Runtime::Python => {
                let mut c = Command::new(&ctx.python);
                c.args(["-X", "importtime", "-c", "pass"])
                    .env("PYTHONPATH", dir.join("python"))
                    .env("PYTHONDONTWRITEBYTECODE", "1");
                c
            }
            Runtime::Node => {
                let mut c = Command::new("node");
                let code = "const t = process.hrtime.bigint(); require(process.argv[1]); \
                            console.log(Number(process.hrtime.bigint() - t) / 1000)";
                c.args(["-e", code]).arg(dir.join("node/rampart.js")).env_remove("NODE_OPTIONS");
                c
            }
        };
        let out = cmd.env_remove("LD_PRELOAD").output().map_err(|e| format!("cannot start {}: {e}", name(rt)))?;
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let found = match rt {
            Runtime::Python => stderr.lines().find_map(|l| {
                let f: Vec<&str> = l.strip_prefix("import time:")?.split('|').map(str::trim).collect();
                (f.get(2) == Some(&"sitecustomize")).then(|| f[1].parse().ok())?
            }),
            Runtime::Node => stdout.trim().parse().ok(),
        };
        found.ok_or_else(|| format!("{}: no start time in {stdout}{stderr}", name(rt)))
    };
    // The empty stand-in, laid out like the shims.
    let stand_in = ctx.work.join("empty-shims");
    for dir in ["python", "node"] {
        std::fs::create_dir_all(stand_in.join(dir)).map_err(|e| format!("{e}"))?;
    }
    std::fs::write(stand_in.join("python/sitecustomize.py"), "").map_err(|e| format!("{e}"))?;
    std::fs::write(stand_in.join("node/rampart.js"), "").map_err(|e| format!("{e}"))?;
    Ok(one(&shims)? - one(&stand_in)?)
}

fn us(ns: f64) -> String {
    format!("{:.1} µs", ns / 1000.0)
}

fn report(ctx: &Ctx, rows: &[Row], opts: &Options) -> String {
    let mut md = String::new();
    md.push_str(&format!(
        "Added per API call: the shim's own check on one `dynamodb:GetItem` call (its botocore handler, its \
         middleware), timed alone — with the release librampart.so preloaded (block mode, a policy that allows the \
         call: the library answers the question, no system call) and without it (the kernel answers ENOENT). Bare \
         call: the whole call through the SDK with its HTTP send answered in process (no socket, no server). CPU time \
         (user + system) per call, median of {} runs, interleaved. Shim start: what loading the shim adds to the start of a \
         process that never uses the SDK (Python: `-X importtime` of the shim's `sitecustomize`, compiled from source \
         as from Lambda's read-only /opt, less an empty one's; Node.js: the `require` of rampart.js less an empty \
         file's), median of 3 starts per run. Target: ≤ {TARGET_US:.0} µs added per call.\n\n",
        opts.reps
    ));
    md.push_str(
        "| runtime | added per call, library loaded | without the library | bare call | ratio | shim start |\n",
    );
    md.push_str("|---|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let verdict = if r.check_library / 1000.0 <= TARGET_US { "met" } else { "**missed**" };
        md.push_str(&format!(
            "| {} | {} ({verdict}) | {} | {} | {:.3}× | {:.0} µs |\n",
            r.version,
            us(r.check_library),
            us(r.check_shim),
            us(r.call[0]),
            (r.call[0] + r.check_library) / r.call[0],
            r.start_us,
        ));
    }
    md.push_str(
        "\nWhole calls, the same runs (shim: loaded as the wrapper loads it; library: preloaded as above); the \
         differences are within the spread of the bare runs:\n\n\
         | runtime | bare | + shim | + library | + shim + library | difference | bare runs, fastest–slowest |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:+.1} µs | {}–{} |\n",
            r.version,
            us(r.call[0]),
            us(r.call[1]),
            us(r.call[2]),
            us(r.call[3]),
            (r.call[3] - r.call[0]) / 1000.0,
            us(r.bare_range.0),
            us(r.bare_range.1),
        ));
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load =
        std::fs::read_to_string("/proc/loadavg").ok().and_then(|l| l.split_whitespace().next().map(str::to_owned));
    let rev = output(Command::new("git").args(["rev-parse", "--short", "HEAD"]).current_dir(root()))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    md.push_str(&format!(
        "\n{cpu}, {cores} cores; load average {} at the end; rampart {rev}; library {}. Regenerate with `cargo xtask \
         bench-api`{}.\n",
        load.unwrap_or_default(),
        ctx.lib.display(),
        if opts.smoke { " (this was --smoke: too few calls to mean anything)" } else { "" }
    ));
    md
}
