//! `cargo xtask bench-hooked`: what librampart.so costs the calls it hooks.
//!
//! `benches/hooked/loop.c` runs one operation in a loop (open + close, a
//! 1-byte write + read on a pipe, socket + connect + close on loopback,
//! fork + exec + wait) and prints ns per operation. This runner compiles it,
//! generates policies of 10 / 1k / 100k rules per category that allow the
//! loop's own activity, and runs the loop bare, under `LD_PRELOAD` in each
//! mode and size, and under peer tools (`strace -f`, `proxychains4`,
//! `snoopy`), interleaved, taking the median of several repetitions. Then
//! callgrind counts the user-space instructions an allowed open gains, and
//! `python3`, `node` and `java` cold starts give the added time and memory.
//! The result is a Markdown table for the README (also written to
//! `TARGET/hooked-bench.md`, raw samples in `TARGET/hooked-bench.json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use serde_json::json;

use crate::util::{cargo, fmt_duration, fmt_ns, output, paint, root, run, show, size_label, target_dir};

/// Rules per category of the generated policies (as in benches/src/lib.rs).
const SIZES: [usize; 3] = [10, 1_000, 100_000];
const MODES: [&str; 3] = ["profile", "alert", "block"];
/// The configuration the targets are stated for.
const TARGET_MODE: &str = "block";
const TARGET_RULES: usize = 1_000;
/// Issue 3's targets (block mode, 1k rules).
const TARGET_INSTRUCTIONS: f64 = 400.0;
const TARGET_COLD_MS: f64 = 0.5;
const TARGET_COLD_MB: f64 = 2.0;

/// What every event line starts with (DESIGN.md, "Event lines").
const EVENT_PREFIX: &str = "{\"rampart\":1,";

const HELP_OPTIONS: &str = "\
options: --smoke | --reps N | --cold-reps N | --secs S | --no-peers | --no-callgrind | --no-cold | --allow-inactive";

pub struct Options {
    smoke: bool,
    /// Interleaved repetitions of every microbenchmark configuration.
    reps: usize,
    cold_reps: usize,
    /// Target duration of one bare run (sets the iteration count).
    secs: f64,
    peers: bool,
    callgrind: bool,
    cold: bool,
    /// Run even when the library reports nothing (a placeholder library).
    allow_inactive: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            smoke: false,
            reps: 9,
            cold_reps: 20,
            secs: 0.3,
            peers: true,
            callgrind: true,
            cold: true,
            allow_inactive: false,
        };
        let mut it = args.iter();
        let number = |v: Option<&String>, what: &str| -> Result<f64, String> {
            v.and_then(|s| s.parse::<f64>().ok())
                .filter(|n| *n > 0.0)
                .ok_or_else(|| format!("bench-hooked: {what} needs a positive number"))
        };
        while let Some(a) = it.next() {
            match a.as_str() {
                "--smoke" => o.smoke = true,
                "--reps" => o.reps = number(it.next(), "--reps")? as usize,
                "--cold-reps" => o.cold_reps = number(it.next(), "--cold-reps")? as usize,
                "--secs" => o.secs = number(it.next(), "--secs")?,
                "--no-peers" => o.peers = false,
                "--no-callgrind" => o.callgrind = false,
                "--no-cold" => o.cold = false,
                "--allow-inactive" => o.allow_inactive = true,
                other => return Err(format!("bench-hooked: unknown argument `{other}` ({HELP_OPTIONS})")),
            }
        }
        if o.smoke {
            // Proves the runner works end to end in well under a minute.
            o.reps = 1;
            o.cold_reps = 1;
            o.peers = false;
            o.callgrind = false;
        }
        o.reps = o.reps.max(1);
        o.cold_reps = o.cold_reps.max(1);
        Ok(o)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Op {
    Open,
    Pipe,
    Connect,
    Exec,
}

impl Op {
    const ALL: [Op; 4] = [Op::Open, Op::Pipe, Op::Connect, Op::Exec];

    fn arg(self) -> &'static str {
        match self {
            Op::Open => "open",
            Op::Pipe => "pipe",
            Op::Connect => "connect",
            Op::Exec => "exec",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Op::Open => "open + close (allowed file)",
            Op::Pipe => "pipe: write + read 1 byte",
            Op::Connect => "socket + connect + close (loopback)",
            Op::Exec => "fork + exec /bin/true + wait",
        }
    }

    /// Iterations in `--smoke` ("a few thousand"; exec is ~1 ms each).
    fn smoke_iters(self) -> u64 {
        match self {
            Op::Open | Op::Pipe => 5_000,
            Op::Connect => 2_000,
            Op::Exec => 100,
        }
    }

    /// Issue 3's ceiling on the ratio to bare (block mode, 1k rules).
    fn target_ratio(self) -> f64 {
        match self {
            Op::Open => 1.10,
            Op::Pipe => 1.02,
            Op::Connect => 1.05,
            Op::Exec => 1.15,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Config {
    Bare,
    Rampart { mode: &'static str, rules: usize },
    Strace,
    Proxychains,
    Snoopy,
}

impl Config {
    fn label(self) -> String {
        match self {
            Config::Bare => "bare".into(),
            Config::Rampart { mode, rules } => format!("rampart {mode}, {} rules", size_label(rules)),
            Config::Strace => "peer: `strace -f -o /dev/null`".into(),
            Config::Proxychains => "peer: `proxychains4` (localnet direct)".into(),
            Config::Snoopy => "peer: `snoopy` (defaults: syslog)".into(),
        }
    }

    fn key(self) -> String {
        match self {
            Config::Bare => "bare".into(),
            Config::Rampart { mode, rules } => format!("{mode}-{rules}"),
            Config::Strace => "strace".into(),
            Config::Proxychains => "proxychains4".into(),
            Config::Snoopy => "snoopy".into(),
        }
    }

    /// The peers measure only what they intercept.
    fn applies(self, op: Op) -> bool {
        match self {
            Config::Proxychains => op == Op::Connect,
            Config::Snoopy => op == Op::Exec,
            _ => true,
        }
    }
}

/// Everything a run needs: paths of the built pieces and the work files.
struct Ctx {
    opts: Options,
    work: PathBuf,
    lib: PathBuf,
    rampart: PathBuf,
    loop_bin: PathBuf,
    /// The allowed file the open loop opens.
    file: PathBuf,
    /// `realpath /bin/true`: what the library reports for the exec loop.
    true_path: PathBuf,
    runtimes: Vec<Runtime>,
    proxychains_conf: PathBuf,
    snoopy_lib: Option<PathBuf>,
    /// The library printed nothing where it should have (placeholder).
    inactive_warned: std::cell::Cell<bool>,
}

impl Ctx {
    fn policy(&self, rules: usize) -> PathBuf {
        self.work.join(format!("policy-{rules}.json"))
    }
}

/// A language runtime for the cold-start rows.
pub(crate) struct Runtime {
    pub(crate) label: String,
    pub(crate) argv: Vec<String>,
    /// Read roots and programs its start needs, as policy rules.
    pub(crate) file_rules: Vec<String>,
    pub(crate) process_rules: Vec<String>,
}

pub fn main(args: &[String]) -> Result<(), String> {
    let opts = Options::parse(args)?;
    let started = Instant::now();
    let target = target_dir()?;
    let work = target.join("hooked-bench");
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    // Rules and targets compare canonical paths.
    let work = std::fs::canonicalize(&work).map_err(|e| format!("{}: {e}", work.display()))?;

    step("tools");
    ensure_tools(&opts, &work)?;

    step("build (release)");
    run(cargo().args(["build", "--release", "-p", "rampart-cli", "-p", "rampart-preload", "-p", "rampart-fetch"]))?;
    let release = target.join("release");
    let lib = match std::env::var_os("RAMPART_LIB") {
        // A placeholder or another build, to test the runner itself.
        Some(p) => std::path::absolute(PathBuf::from(p)).map_err(|e| e.to_string())?,
        None => release.join("librampart.so"),
    };
    if !lib.is_file() {
        return Err(format!("{} is missing", lib.display()));
    }
    let loop_bin = build_loop(&work)?;

    step("policies");
    let file = work.join("data/allowed.txt");
    std::fs::create_dir_all(file.parent().unwrap_or(&work)).map_err(|e| e.to_string())?;
    std::fs::write(&file, "rampart hooked-call benchmark\n").map_err(|e| e.to_string())?;
    let true_path = std::fs::canonicalize("/bin/true").map_err(|e| format!("/bin/true: {e}"))?;
    let runtimes = if opts.cold { discover_runtimes()? } else { Vec::new() };
    let snoopy_lib = if opts.peers { Some(snoopy_library(&work)?) } else { None };
    let ctx = Ctx {
        proxychains_conf: work.join("proxychains.conf"),
        opts,
        rampart: release.join("rampart"),
        lib,
        loop_bin,
        file,
        true_path,
        runtimes,
        snoopy_lib,
        work,
        inactive_warned: std::cell::Cell::new(false),
    };
    write_policies(&ctx)?;
    write_peer_configs(&ctx)?;

    let micro = run_micro(&ctx)?;
    let steps = run_steps(&ctx)?;
    let callgrind = if ctx.opts.callgrind { Some(run_callgrind(&ctx)?) } else { None };
    let cold = if ctx.opts.cold { run_cold(&ctx)? } else { Vec::new() };

    let md = report(&ctx, &micro, &steps, callgrind.as_ref(), &cold);
    // A smoke run (as in `cargo xtask test`) must not overwrite the full
    // results the README table comes from.
    let stem = if ctx.opts.smoke { "hooked-bench-smoke" } else { "hooked-bench" };
    let md_path = target.join(format!("{stem}.md"));
    std::fs::write(&md_path, &md).map_err(|e| format!("{}: {e}", md_path.display()))?;
    let json_path = target.join(format!("{stem}.json"));
    std::fs::write(&json_path, raw_json(&micro, &steps, callgrind.as_ref(), &cold).to_string())
        .map_err(|e| format!("{}: {e}", json_path.display()))?;
    println!("\n{md}");
    let took = fmt_duration(started.elapsed());
    println!("Written to {} (raw samples: {}) in {took}", md_path.display(), json_path.display());
    Ok(())
}

fn step(name: &str) {
    println!("{}", paint("1;36", &format!("==> bench-hooked: {name}")));
}

/// Compiles benches/hooked/loop.c to `WORK/loop` (bench-s3 runs its exec
/// loop and its `spawn` too).
pub(crate) fn build_loop(work: &Path) -> Result<PathBuf, String> {
    let loop_bin = work.join("loop");
    let src = root().join("benches/hooked/loop.c");
    run(Command::new("cc").args(["-O2", "-Wall", "-Wextra", "-Werror", "-o"]).arg(&loop_bin).arg(&src))?;
    Ok(loop_bin)
}

// ---------------------------------------------------------------- tools --

/// The first executable called `name` on PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// `apt-get install -y PKG` when `probe` is not on PATH (an `apt-get
/// update` first if the lists are stale).
pub(crate) fn ensure_apt(pkg: &str, probe: &str) -> Result<(), String> {
    if which(probe).is_some() {
        println!("    {pkg}: installed");
        return Ok(());
    }
    println!("    {pkg}: missing, installing with apt-get");
    let install = || {
        let mut cmd = Command::new("apt-get");
        cmd.args(["install", "-y", "--no-install-recommends", pkg]).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    if run(&mut install()).is_err() {
        run(Command::new("apt-get").arg("update"))?;
        run(&mut install()).map_err(|e| format!("{e} (install {pkg} by hand, or run with --no-peers)"))?;
    }
    if which(probe).is_none() {
        return Err(format!("{pkg} installed but `{probe}` is still not on PATH"));
    }
    Ok(())
}

fn ensure_tools(opts: &Options, work: &Path) -> Result<(), String> {
    ensure_apt("gcc", "cc")?;
    if opts.peers {
        ensure_apt("strace", "strace")?;
        ensure_apt("proxychains4", "proxychains4")?;
        snoopy_library(work)?;
    }
    if opts.callgrind {
        ensure_apt("valgrind", "valgrind")?;
    }
    Ok(())
}

/// snoopy's library, unpacked from its .deb into the work directory.
///
/// Not `apt-get install`: the package's maintainer scripts edit
/// `/etc/ld.so.preload` (adding snoopy to every process on the machine, or
/// removing that file), and the benchmark must only ever preload it into
/// its own runs with `LD_PRELOAD`. Unpacking runs no script.
fn snoopy_library(work: &Path) -> Result<PathBuf, String> {
    let root = work.join("snoopy");
    if let Some(lib) = find_file(&root, "libsnoopy.so") {
        return Ok(lib);
    }
    println!("    snoopy: unpacking its .deb into {} (never into /etc/ld.so.preload)", root.display());
    let debs = work.join("snoopy-deb");
    std::fs::create_dir_all(&debs).map_err(|e| e.to_string())?;
    let download = || {
        let mut cmd = Command::new("apt-get");
        cmd.args(["download", "snoopy"]).current_dir(&debs);
        cmd
    };
    if run(&mut download()).is_err() {
        run(Command::new("apt-get").arg("update"))?;
        run(&mut download())?;
    }
    let deb = std::fs::read_dir(&debs)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or("apt-get download snoopy left no .deb")?;
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
    find_file(&root, "libsnoopy.so").ok_or_else(|| format!("no libsnoopy.so in {}", deb.display()))
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
        if entry.file_type().is_ok_and(|t| t.is_dir())
            && let Some(found) = find_file(&path, name)
        {
            return Some(found);
        }
    }
    None
}

/// `python3`, `node` and `java`, resolved to the real executables (a pyenv
/// shim is a shell script: its start would drown the interpreter's).
fn discover_runtimes() -> Result<Vec<Runtime>, String> {
    let missing = |what: &str, e: String| {
        format!("cold start needs {what} (apt-get install python3 nodejs default-jre-headless, or --no-cold): {e}")
    };
    let python = python_runtime().map_err(|e| missing("python3", e))?;
    let node = output(Command::new("node").args(["-p", "process.execPath"])).map_err(|e| missing("node", e))?;
    let node_real = canonical(node.trim())?;
    let java = which("java").ok_or_else(|| missing("java", "not on PATH".into()))?;
    let java_real = std::fs::canonicalize(&java).map_err(|e| format!("{}: {e}", java.display()))?;
    // JAVA_HOME/bin/java → JAVA_HOME.
    let java_home = java_real.parent().and_then(Path::parent).unwrap_or(Path::new("/")).to_string_lossy().into_owned();
    let version = |cmd: &mut Command| output(cmd).map(|s| s.trim().to_owned()).unwrap_or_default();
    let node_version = version(Command::new(&node_real).arg("--version"));
    let java_version = Command::new(&java_real)
        .arg("-version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stderr).lines().next().map(str::to_owned))
        .and_then(|l| l.split('"').nth(1).map(str::to_owned))
        .unwrap_or_default();
    Ok(vec![
        python,
        Runtime {
            label: format!("`node -e 0` (Node.js {node_version})"),
            argv: vec![node_real.clone(), "-e".into(), "0".into()],
            file_rules: Vec::new(),
            process_rules: vec![node_real],
        },
        Runtime {
            label: format!("`java -version` (JDK {java_version})"),
            argv: vec![java_real.to_string_lossy().into_owned(), "-version".into()],
            file_rules: vec![format!("r {java_home}/**")],
            process_rules: vec![format!("{java_home}/bin/*"), format!("{java_home}/lib/*")],
        },
    ])
}

/// `python3 -c pass`, run by the interpreter that `python3` on PATH really runs
/// (`sys.executable`: a pyenv shim is a script that execs it).
pub(crate) fn python_runtime() -> Result<Runtime, String> {
    let py = output(Command::new("python3").args(["-c", "import sys; print(sys.executable); print(sys.base_prefix)"]))?;
    let mut py = py.lines();
    let (py_exe, py_prefix) = (py.next().unwrap_or_default().to_owned(), py.next().unwrap_or_default().to_owned());
    let py_real = canonical(&py_exe)?;
    let py_version = output(Command::new(&py_real).args(["-c", "import platform; print(platform.python_version())"]))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    Ok(Runtime {
        label: format!("`python3 -c pass` (CPython {py_version})"),
        argv: vec![py_real.clone(), "-c".into(), "pass".into()],
        file_rules: vec![format!("r {}/**", py_prefix.trim_end_matches('/'))],
        process_rules: vec![py_real],
    })
}

fn canonical(p: &str) -> Result<String, String> {
    std::fs::canonicalize(p).map(|p| p.to_string_lossy().into_owned()).map_err(|e| format!("{p}: {e}"))
}

// ------------------------------------------------------------- policies --
//
// The generated rules are the shapes of benches/src/lib.rs (`policy_doc`),
// written as JSON here because xtask does not depend on the policy crate;
// `rampart policy check` validates every file before it is used.

fn file_rule(i: usize) -> String {
    match i % 5 {
        0 => format!("r /srv/app{i}/lib/**"),
        1 => format!("rw /data/t{i}/*.json"),
        2 => format!("r /opt/vendor{}/pkg{}/v{}/file{i}.txt", i % 37, i % 101, i % 7),
        3 => format!("r /home/u{i}/.config/**/settings.json"),
        _ => format!("w /var/log/svc{i}/out-?.log"),
    }
}

fn network_rule(i: usize) -> String {
    let (a, b, c) = ((i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
    let low = i & 0xffff;
    match i % 6 {
        0 => format!("svc{i}.example{}.com:443", i % 50),
        1 => format!("*.tenant{i}.internal.example.net:8443"),
        2 => format!("10.{a}.{b}.{c}:5432"),
        3 => format!("[2001:db8:{low:x}::1]:443"),
        4 => format!("100.{}.{b}.0/24:1024-2048", 64 + (a & 0x3f)),
        _ => format!("udp:[fd00::{low:x}:0/112]:*"),
    }
}

fn process_rule(i: usize) -> String {
    match i % 3 {
        0 => format!("/usr/bin/tool{i}"),
        1 => format!("/var/task/bin{i}/*"),
        _ => format!("/opt/app{i}/bin/run-?"),
    }
}

const SERVICES: [&str; 16] = [
    "s3",
    "dynamodb",
    "sqs",
    "sns",
    "kinesis",
    "lambda",
    "sts",
    "kms",
    "secretsmanager",
    "ssm",
    "events",
    "logs",
    "states",
    "firehose",
    "rds-data",
    "execute-api",
];
const VERBS: [&str; 6] = ["Get", "Put", "List", "Describe", "Update", "Query"];
/// Every input source but `direct`, in the policy crate's order.
const INPUTS: [&str; 11] = [
    "aws:sqs",
    "aws:sns",
    "aws:s3",
    "aws:dynamodb",
    "aws:kinesis",
    "aws:apigateway",
    "aws:apigatewayv2",
    "aws:alb",
    "aws:lambda-url",
    "aws:events",
    "aws:logs",
];

fn api_rule(i: usize) -> String {
    let service = SERVICES[i % SERVICES.len()];
    match i % 4 {
        0 | 1 => format!("{service}:{}Item{i}", VERBS[i % VERBS.len()]),
        2 => format!("{service}:{}*", VERBS[(i / 4) % VERBS.len()]),
        _ => format!("{service}:Batch{i}*"),
    }
}

/// What the benchmark itself (and the runtimes of the cold-start rows) must
/// be allowed, appended after the generated rules.
#[derive(Default)]
pub(crate) struct Own {
    pub(crate) file: Vec<String>,
    pub(crate) network: Vec<String>,
    pub(crate) process: Vec<String>,
}

fn own_rules(ctx: &Ctx) -> Own {
    own_rules_for(&ctx.work, &ctx.runtimes)
}

/// The system's read roots, loopback, `/usr/bin`, the work directory and
/// what `runtimes` need.
pub(crate) fn own_rules_for(work: &Path, runtimes: &[Runtime]) -> Own {
    let work = work.to_string_lossy();
    let mut own = Own {
        file: [
            "r /usr/**",
            "r /lib/**",
            "r /lib64/**",
            "r /etc/**",
            "r /proc/**",
            "r /sys/**",
            "r /dev/**",
            "rw /dev/null",
            "rw /dev/tty",
            // The JVM's perf data (hsperfdata_USER) and its core dump
            // settings.
            "rw /tmp/**",
            "rw /proc/self/coredump_filter",
            "rw /proc/*/coredump_filter",
        ]
        .map(String::from)
        .to_vec(),
        network: vec!["127.0.0.1:*".into(), "[::1]:*".into()],
        // valgrind's launcher (under LD_PRELOAD in the callgrind row)
        // execs its tool from /usr/libexec/valgrind.
        process: vec!["/usr/bin/*".into(), "/usr/libexec/valgrind/*".into()],
    };
    own.file.push(format!("rw {work}/**"));
    for rt in runtimes {
        own.file.extend(rt.file_rules.iter().cloned());
        own.process.extend(rt.process_rules.iter().cloned());
    }
    own
}

/// The policy JSON with `n` generated rules per category plus `own`.
pub(crate) fn policy_json(n: usize, own: &Own) -> String {
    let gen_rules = |f: fn(usize) -> String| (0..n).map(f).collect::<Vec<String>>();
    let with = |mut rules: Vec<String>, extra: &[String]| {
        rules.extend(extra.iter().cloned());
        rules
    };
    let doc = json!({
        "version": 1,
        "mode": "block",
        "block": ["file", "network", "process", "api", "input"],
        "allow": {
            "file": with(gen_rules(file_rule), &own.file),
            "network": with(gen_rules(network_rule), &own.network),
            "process": with(gen_rules(process_rule), &own.process),
            "api": gen_rules(api_rule),
            "input": (0..n).map(|i| INPUTS[i % INPUTS.len()]).collect::<Vec<_>>(),
        }
    });
    let mut text = doc.to_string();
    text.push('\n');
    text
}

fn write_policies(ctx: &Ctx) -> Result<(), String> {
    let own = own_rules(ctx);
    let mut paths = Vec::new();
    for n in SIZES {
        let path = ctx.policy(n);
        std::fs::write(&path, policy_json(n, &own)).map_err(|e| format!("{}: {e}", path.display()))?;
        paths.push(path);
    }
    let checked = output(Command::new(&ctx.rampart).args(["policy", "check"]).args(&paths))?;
    print!("{}", checked.lines().map(|l| format!("    {l}\n")).collect::<String>());
    Ok(())
}

fn write_peer_configs(ctx: &Ctx) -> Result<(), String> {
    // Loopback is a `localnet`: proxychains' connect hook runs, matches it
    // and connects directly. The proxy listed is never used: without the
    // localnet line the loop fails (port 9 refuses), which shows the hook
    // really sits in front of connect. Not quiet: its "DLL init" line
    // proves the library was loaded.
    let conf = "strict_chain\nproxy_dns\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n\
                localnet 127.0.0.0/255.0.0.0\n[ProxyList]\nsocks5 127.0.0.1 9\n";
    std::fs::write(&ctx.proxychains_conf, conf).map_err(|e| e.to_string())?;
    if let Some(lib) = &ctx.snoopy_lib {
        check_snoopy(ctx, lib)?;
    }
    Ok(())
}

/// snoopy reads only the compiled-in /etc/snoopy.ini (not created here:
/// the machine's configuration is left alone), so it runs with its
/// defaults: per exec it gathers its data (login uid, user name, cwd,
/// command line), formats the message and sends it to syslog's /dev/log.
/// Where no syslog listens, only that last send fails. One traced run shows
/// that its hook really runs in the loop's exec path.
fn check_snoopy(ctx: &Ctx, lib: &Path) -> Result<(), String> {
    let trace = ctx.work.join("snoopy.strace");
    let mut cmd = clean("strace", ctx);
    cmd.args(["-f", "-e", "trace=connect,sendto,sendmsg", "-o"])
        .arg(&trace)
        .arg(&ctx.loop_bin)
        .args(["exec", "3", "5"])
        .env("LD_PRELOAD", lib);
    run_output(&mut cmd)?;
    let text = std::fs::read_to_string(&trace).map_err(|e| format!("{}: {e}", trace.display()))?;
    if !text.contains("\"/dev/log\"") {
        return Err(format!("snoopy ({}) did not try to log the loop's execs: see {}", lib.display(), trace.display()));
    }
    Ok(())
}

// ------------------------------------------------------ one loop run --

/// A command without anything a surrounding rampart or preload put in the
/// environment, run from the work directory.
fn clean(program: impl AsRef<std::ffi::OsStr>, ctx: &Ctx) -> Command {
    clean_in(program, &ctx.work)
}

/// [`clean`], run from `dir`.
pub(crate) fn clean_in(program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("RAMPART_") || k == "LD_PRELOAD" {
            cmd.env_remove(&key);
        }
    }
    // Node's io_uring file I/O would bypass the hooks; set for bare runs too
    // so both sides start the same way.
    cmd.env("UV_USE_IO_URING", "0").current_dir(dir);
    cmd
}

fn rampart_env(cmd: &mut Command, ctx: &Ctx, mode: &str, rules: usize) {
    cmd.env("LD_PRELOAD", &ctx.lib).env("RAMPART_POLICY", ctx.policy(rules)).env("RAMPART_MODE", mode);
}

fn loop_command(ctx: &Ctx, cfg: Config, op: Op, iters: u64, max_secs: f64) -> Command {
    let mut args: Vec<String> = vec![op.arg().into(), iters.to_string(), format!("{max_secs}")];
    if op == Op::Open {
        args.push(ctx.file.to_string_lossy().into_owned());
    }
    let lp = ctx.loop_bin.to_string_lossy().into_owned();
    match cfg {
        Config::Bare => {
            let mut c = clean(&lp, ctx);
            c.args(&args);
            c
        }
        Config::Rampart { mode, rules } => {
            let mut c = clean(&lp, ctx);
            c.args(&args);
            rampart_env(&mut c, ctx, mode, rules);
            c
        }
        Config::Strace => {
            let mut c = clean("strace", ctx);
            c.args(["-f", "-o", "/dev/null", &lp]).args(&args);
            c
        }
        Config::Proxychains => {
            let mut c = clean("proxychains4", ctx);
            c.arg("-f").arg(&ctx.proxychains_conf).arg(&lp).args(&args);
            c
        }
        Config::Snoopy => {
            let mut c = clean(&lp, ctx);
            c.args(&args);
            if let Some(lib) = &ctx.snoopy_lib {
                c.env("LD_PRELOAD", lib);
            }
            c
        }
    }
}

pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub(crate) fn run_output(cmd: &mut Command) -> Result<Output, String> {
    let out = cmd.output().map_err(|e| format!("cannot start `{}`: {e}", show(cmd)))?;
    if !out.status.success() {
        return Err(format!(
            "`{}` failed ({}):\n{}",
            show(cmd),
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr), 20)
        ));
    }
    Ok(out)
}

/// rampart's event lines in a run's stderr: (type, target).
pub(crate) fn events(stderr: &str) -> Vec<(String, String)> {
    stderr
        .lines()
        .filter_map(|l| l.find(EVENT_PREFIX).map(|at| &l[at..]))
        .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
            Ok(v) => (
                v["type"].as_str().unwrap_or("?").to_owned(),
                v["target"].as_str().map_or_else(|| v["msg"].to_string(), str::to_owned),
            ),
            Err(_) => ("torn".to_owned(), l.to_owned()),
        })
        .collect()
}

/// Fails a run whose events say the numbers are not what they claim: the
/// policy did not load, or did not allow the benchmark's own activity.
/// With `tolerate_errors`, `error` lines are only shown (valgrind's own
/// process in front of the loop changes what the library finds at start).
pub(crate) fn check_events(
    stderr: &str,
    mode: &str,
    what: &str,
    tolerate_errors: bool,
) -> Result<Vec<(String, String)>, String> {
    let evs = events(stderr);
    let lines = |kinds: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = evs
            .iter()
            .filter(|(t, _)| kinds.contains(&t.as_str()))
            .map(|(t, target)| format!("{t} {target}"))
            .collect();
        v.dedup();
        v.truncate(10);
        v
    };
    let denied = lines(if mode == "profile" { &["block"] } else { &["block", "alert"] });
    if !denied.is_empty() {
        return Err(format!(
            "{what}: rampart reported what the benchmark policy should allow (fix own_rules in xtask/src/hooked.rs):\n  {}",
            denied.join("\n  ")
        ));
    }
    let errors = lines(&["error", "torn", "?"]);
    if !errors.is_empty() {
        let msg = format!("{what}: rampart reported errors:\n  {}", errors.join("\n  "));
        if !tolerate_errors {
            return Err(msg);
        }
        eprintln!("{} {msg}", paint("1;33", "warning:"));
    }
    Ok(evs)
}

struct Sample {
    ns: f64,
    done: u64,
}

fn run_sample(ctx: &Ctx, cfg: Config, op: Op, iters: u64, max_secs: f64) -> Result<Sample, String> {
    let mut cmd = loop_command(ctx, cfg, op, iters, max_secs);
    let out = run_output(&mut cmd)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (done, ns) =
        loop_result(&stdout, op.arg()).map_err(|e| format!("`{}` {e}, stderr:\n{}", show(&cmd), tail(&stderr, 10)))?;
    let what = format!("{} / {}", op.arg(), cfg.label());
    match cfg {
        Config::Rampart { mode, .. } => {
            let evs = check_events(&stderr, mode, &what, false)?;
            if mode == "profile" {
                expect_profile(ctx, op, &evs, &what)?;
            }
        }
        Config::Proxychains if !stderr.contains("[proxychains] DLL init") => {
            return Err(format!("{what}: proxychains4 did not load its library:\n{}", tail(&stderr, 10)));
        }
        _ => {}
    }
    Ok(Sample { ns, done })
}

/// The `OP DONE NS_PER_OP` line of a loop run: (done, ns per op).
pub(crate) fn loop_result(stdout: &str, op: &str) -> Result<(u64, f64), String> {
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(op))
        .ok_or_else(|| format!("printed no result: stdout {stdout:?}"))?;
    let mut parts = line.split_whitespace().skip(1);
    let done = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let ns = parts.next().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
    if done == 0 || !ns.is_finite() {
        return Err(format!("printed a bad result line {line:?}"));
    }
    Ok((done, ns))
}

/// In profile mode the library reports the benchmark's own activity: proof
/// that the hooks really ran (an empty or broken library would make every
/// ratio 1.00×).
fn expect_profile(ctx: &Ctx, op: Op, evs: &[(String, String)], what: &str) -> Result<(), String> {
    if op == Op::Pipe {
        // Nothing of a pipe is hooked: nothing to report.
        return Ok(());
    }
    let file = ctx.file.to_string_lossy();
    let exe = ctx.true_path.to_string_lossy();
    let seen = evs.iter().filter(|(t, _)| t == "profile").any(|(_, target)| match op {
        Op::Open => *target == file,
        Op::Connect => target.starts_with("127.0.0.1:"),
        Op::Exec | Op::Pipe => *target == exe,
    });
    if seen {
        return Ok(());
    }
    let msg = format!(
        "{what}: the library wrote no profile line for the benchmark's {} — are the hooks in {} active?",
        op.arg(),
        ctx.lib.display()
    );
    if ctx.opts.allow_inactive {
        if !ctx.inactive_warned.replace(true) {
            eprintln!("{} {msg} (--allow-inactive: going on)", paint("1;33", "warning:"));
        }
        return Ok(());
    }
    Err(msg)
}

// ------------------------------------------------------- microbenchmarks --

fn configs(opts: &Options) -> Vec<Config> {
    let sizes: &[usize] = if opts.smoke { &SIZES[..2] } else { &SIZES };
    let mut cfgs = vec![Config::Bare];
    for mode in MODES {
        for &rules in sizes {
            cfgs.push(Config::Rampart { mode, rules });
        }
    }
    if opts.peers {
        cfgs.extend([Config::Strace, Config::Proxychains, Config::Snoopy]);
    }
    cfgs
}

struct Micro {
    /// Iterations asked of each run, per op.
    iters: BTreeMap<Op, u64>,
    /// ns/op samples, per (op, config).
    samples: BTreeMap<(Op, Config), Vec<f64>>,
    /// Runs that stopped at their time limit before all iterations.
    capped: BTreeMap<(Op, Config), u64>,
    configs: Vec<Config>,
}

impl Micro {
    fn median(&self, op: Op, cfg: Config) -> Option<f64> {
        self.samples.get(&(op, cfg)).map(|v| median(v))
    }

    fn ratio(&self, op: Op, cfg: Config) -> Option<f64> {
        Some(self.median(op, cfg)? / self.median(op, Config::Bare)?)
    }
}

fn run_micro(ctx: &Ctx) -> Result<Micro, String> {
    let opts = &ctx.opts;
    // A run may take this many times a bare run before it stops early.
    let slack = 10.0;
    let mut iters = BTreeMap::new();
    step(if opts.smoke { "microbenchmarks (smoke)" } else { "calibrating iterations" });
    for op in Op::ALL {
        let n = if opts.smoke {
            op.smoke_iters()
        } else {
            // As many iterations as a bare run does in --secs.
            run_sample(ctx, Config::Bare, op, 1 << 40, opts.secs)?.done.max(20)
        };
        println!("    {:<8} {n} iterations per run", op.arg());
        iters.insert(op, n);
    }
    let max_secs = if opts.smoke { 5.0 } else { opts.secs * slack };
    let cfgs = configs(opts);
    let mut micro = Micro { iters, samples: BTreeMap::new(), capped: BTreeMap::new(), configs: cfgs.clone() };
    step(&format!("microbenchmarks: {} repetitions, configurations interleaved", opts.reps));
    for rep in 0..opts.reps {
        let t = Instant::now();
        for op in Op::ALL {
            // A different order every repetition: drift in the machine's
            // speed spreads over all configurations instead of one.
            let mut order: Vec<Config> = cfgs.iter().copied().filter(|c| c.applies(op)).collect();
            let k = rep % order.len();
            order.rotate_left(k);
            for cfg in order {
                let n = micro.iters[&op];
                let s = run_sample(ctx, cfg, op, n, max_secs)?;
                if s.done < n {
                    *micro.capped.entry((op, cfg)).or_default() += 1;
                }
                micro.samples.entry((op, cfg)).or_default().push(s.ns);
            }
        }
        println!("    repetition {}/{} done in {}", rep + 1, opts.reps, fmt_duration(t.elapsed()));
    }
    for op in Op::ALL {
        let line: Vec<String> = cfgs
            .iter()
            .filter(|c| c.applies(op))
            .filter_map(|&c| {
                let v = micro.samples.get(&(op, c))?;
                let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
                Some(format!("{} {} [{}..{}]", c.key(), fmt_ns(median(v)), fmt_ns(lo), fmt_ns(hi)))
            })
            .collect();
        println!("    {:<8} {}", op.arg(), line.join(", "));
    }
    Ok(micro)
}

pub(crate) fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

// ------------------------------------------------- native instructions --

/// User-space instructions per open + close counted natively: `loop
/// count-steps` single-steps the timed iterations under ptrace (valgrind
/// cannot run the production path: see `Callgrind::no_openat2`).
struct Steps {
    iters: u64,
    /// Instructions per op, per configuration (bare first).
    per_op: Vec<(Config, f64)>,
    /// Where the target configuration's instructions go: (per op, function).
    hotspots: Vec<(f64, String)>,
}

/// Instructions per op of `cfg` minus bare's.
fn added(per_op: &[(Config, f64)], cfg: Config) -> Option<f64> {
    let bare = per_op.iter().find(|(c, _)| *c == Config::Bare)?.1;
    Some(per_op.iter().find(|(c, _)| *c == cfg)?.1 - bare)
}

fn run_steps(ctx: &Ctx) -> Result<Steps, String> {
    step("instructions per allowed open + close (ptrace single-step, native)");
    // Single-stepping costs µs per instruction: a hundred iterations are
    // plenty for a count that varies by a handful. Runs of N and 2N
    // iterations: their difference leaves out the fixed cost around the
    // loop (the marks, reading the clock).
    let (iters, sizes): (u64, &[usize]) = if ctx.opts.smoke { (10, &[TARGET_RULES]) } else { (100, &SIZES) };
    let mut cfgs = vec![Config::Bare];
    cfgs.extend(sizes.iter().map(|&rules| Config::Rampart { mode: TARGET_MODE, rules }));
    let mut per_op = Vec::new();
    let mut hotspots = Vec::new();
    for cfg in cfgs {
        let (short, _) = count_steps(ctx, cfg, iters)?;
        let (long, stdout) = count_steps(ctx, cfg, 2 * iters)?;
        let per = long.saturating_sub(short) as f64 / iters as f64;
        println!("    {:<32} {per:>10.0} instructions per op", cfg.label());
        per_op.push((cfg, per));
        if cfg == (Config::Rampart { mode: TARGET_MODE, rules: TARGET_RULES }) {
            hotspots = by_function(&stdout, 2 * iters);
        }
    }
    Ok(Steps { iters, per_op, hotspots })
}

/// One `loop count-steps` run of `iters` opens: the total and its output.
fn count_steps(ctx: &Ctx, cfg: Config, iters: u64) -> Result<(u64, String), String> {
    let mut cmd = clean(&ctx.loop_bin, ctx);
    cmd.args(["count-steps", "--"]).arg(&ctx.loop_bin).args(["open", &iters.to_string(), "1000"]).arg(&ctx.file);
    if let Config::Rampart { mode, rules } = cfg {
        cmd.env("LOOP_CHILD_PRELOAD", &ctx.lib).env("RAMPART_POLICY", ctx.policy(rules)).env("RAMPART_MODE", mode);
    }
    let out = run_output(&mut cmd)?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if let Config::Rampart { mode, .. } = cfg {
        check_events(&String::from_utf8_lossy(&out.stderr), mode, &format!("count-steps {}", cfg.label()), false)?;
    }
    let total = stdout
        .lines()
        .find_map(|l| l.strip_prefix("steps "))
        .and_then(|n| n.trim().parse().ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("`{}` printed no step count", show(&cmd)))?;
    Ok((total, stdout))
}

/// A mapped object's symbols (sorted addresses) and LOAD segments
/// (file offset, address, size), from binutils' nm and readelf.
struct Object {
    symbols: Vec<(u64, String)>,
    loads: Vec<(u64, u64, u64)>,
}

impl Object {
    fn read(path: &str) -> Object {
        let mut symbols = Vec::new();
        // The full symbol table only: in a stripped object (libc) the
        // dynamic symbols would name internal functions after an unrelated
        // export, so such an object is reported as a whole.
        if let Ok(text) = output(Command::new("nm").args(["-C", "-n", "--defined-only", path])) {
            for line in text.lines() {
                let mut parts = line.splitn(3, ' ');
                let (Some(addr), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next()) else { continue };
                if matches!(kind, "t" | "T" | "w" | "W" | "i")
                    && let Ok(a) = u64::from_str_radix(addr, 16)
                {
                    symbols.push((a, name.to_owned()));
                }
            }
        }
        symbols.sort();
        let mut loads = Vec::new();
        if let Ok(text) = output(Command::new("readelf").args(["-lW", path])) {
            for line in text.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                let hex = |i: usize| f.get(i).and_then(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok());
                if f.first() == Some(&"LOAD")
                    && let (Some(off), Some(addr), Some(size)) = (hex(1), hex(2), hex(4))
                {
                    loads.push((off, addr, size));
                }
            }
        }
        Object { symbols, loads }
    }

    /// The function containing file offset `off`.
    fn function(&self, off: u64) -> Option<&str> {
        let addr =
            self.loads.iter().find(|(o, _, size)| off >= *o && off < o + size).map_or(off, |(o, a, _)| off - o + a);
        let i = self.symbols.partition_point(|(a, _)| *a <= addr);
        self.symbols.get(i.checked_sub(1)?).map(|(_, name)| name.as_str())
    }
}

/// The top functions by instructions per op, from `ip PATH OFFSET COUNT`.
fn by_function(stdout: &str, iters: u64) -> Vec<(f64, String)> {
    let mut objects: BTreeMap<String, Object> = BTreeMap::new();
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for line in stdout.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [_, path, off, n] = f.as_slice() else { continue };
        if f.first() != Some(&"ip") {
            continue;
        }
        let (Ok(off), Ok(n)) = (u64::from_str_radix(off, 16), n.parse::<u64>()) else { continue };
        let short = path.rsplit('/').next().unwrap_or(path);
        let name = if path.starts_with('/') {
            let obj = objects.entry((*path).to_owned()).or_insert_with(|| Object::read(path));
            match obj.function(off) {
                Some(func) => format!("{short}: {func}"),
                None => format!("{short} (no symbols)"),
            }
        } else {
            (*path).to_owned()
        };
        *totals.entry(name).or_default() += n;
    }
    let mut list: Vec<(f64, String)> = totals.into_iter().map(|(f, n)| (n as f64 / iters as f64, f)).collect();
    list.sort_by(|a, b| b.0.total_cmp(&a.0));
    list.truncate(6);
    list
}

// ------------------------------------------------------------- callgrind --

struct Callgrind {
    iters: u64,
    /// Instructions per open + close, per configuration (bare first).
    per_op: Vec<(Config, f64)>,
    /// Where the target configuration's instructions go: (per op, function).
    hotspots: Vec<(f64, String)>,
    /// valgrind does not implement openat2: the library took its fallback.
    no_openat2: bool,
}

/// User-space instructions executed inside `timed_loop` (the measured
/// iterations only: setup, warm-up and the library's start are outside the
/// collected region), divided by the iterations.
fn run_callgrind(ctx: &Ctx) -> Result<Callgrind, String> {
    step("callgrind: instructions per allowed open + close");
    let iters = 2_000;
    let mut per_op = Vec::new();
    let mut hotspots = Vec::new();
    let mut no_openat2 = false;
    let mut cfgs = vec![Config::Bare];
    cfgs.extend(SIZES.map(|rules| Config::Rampart { mode: TARGET_MODE, rules }));
    for cfg in cfgs {
        let out_file = ctx.work.join(format!("callgrind.{}.out", cfg.key()));
        let _ = std::fs::remove_file(&out_file);
        let mut cmd = clean("valgrind", ctx);
        cmd.args(["--tool=callgrind", "--toggle-collect=timed_loop"])
            .arg(format!("--callgrind-out-file={}", out_file.display()))
            .arg(&ctx.loop_bin)
            .args(["open", &iters.to_string(), "1000"])
            .arg(&ctx.file);
        if let Config::Rampart { mode, rules } = cfg {
            rampart_env(&mut cmd, ctx, mode, rules);
        }
        let out = run_output(&mut cmd)?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if let Config::Rampart { mode, rules } = cfg {
            check_events(&stderr, mode, &format!("callgrind {}", cfg.label()), true)?;
            // 437 = openat2 on x86_64 (valgrind < 3.20 lacks it).
            no_openat2 |= stderr.contains("unhandled amd64-linux syscall: 437");
            if rules == TARGET_RULES {
                hotspots = callgrind_hotspots(&out_file, iters);
            }
        }
        let text = std::fs::read_to_string(&out_file).map_err(|e| format!("{}: {e}", out_file.display()))?;
        let total = callgrind_total(&text)
            .filter(|&t| t > 0)
            .ok_or_else(|| format!("no instructions counted in timed_loop: see {}", out_file.display()))?;
        let per = total as f64 / iters as f64;
        println!("    {:<32} {per:>10.0} instructions per op", cfg.label());
        per_op.push((cfg, per));
    }
    Ok(Callgrind { iters, per_op, hotspots, no_openat2 })
}

/// The top functions by own instructions (`callgrind_annotate`), per op.
fn callgrind_hotspots(file: &Path, iters: u64) -> Vec<(f64, String)> {
    output(Command::new("callgrind_annotate").arg(file)).map(|t| parse_annotate(&t, iters)).unwrap_or_default()
}

fn parse_annotate(text: &str, iters: u64) -> Vec<(f64, String)> {
    let mut out = Vec::new();
    let mut body = false;
    for line in text.lines() {
        if line.trim_start().starts_with("Ir") && line.contains("file:function") {
            body = true;
            continue;
        }
        if !body {
            continue;
        }
        // `32,896,000 (83.22%)  ./string/...S:__memset_avx2_unaligned_erms [/usr/lib/.../libc.so.6]`
        let Some((count, rest)) = line.trim_start().split_once(' ') else { continue };
        let Ok(n) = count.replace(',', "").parse::<u64>() else { continue };
        let rest = rest.split_once(')').map_or(rest, |(_, r)| r).trim();
        let func = rest.split_once(':').map_or(rest, |(_, f)| f);
        let func = func.rsplit_once(" [").map_or(func, |(f, _)| f).trim();
        out.push((n as f64 / iters as f64, func.to_owned()));
        if out.len() == 5 {
            break;
        }
    }
    out
}

/// The `totals:` (or `summary:`) line of a callgrind output file: Ir.
fn callgrind_total(text: &str) -> Option<u64> {
    let line =
        text.lines().find(|l| l.starts_with("totals:")).or_else(|| text.lines().find(|l| l.starts_with("summary:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// ------------------------------------------------------------ cold start --

/// Medians of one side of a cold-start row.
#[derive(Clone, Copy)]
pub(crate) struct Start {
    pub(crate) wall_ms: f64,
    pub(crate) cpu_ms: f64,
    pub(crate) rss_kb: f64,
}

struct Cold {
    label: String,
    bare: Start,
    with: Start,
}

#[derive(Default)]
pub(crate) struct Starts {
    pub(crate) wall_ms: Vec<f64>,
    pub(crate) cpu_ms: Vec<f64>,
    pub(crate) rss_kb: Vec<f64>,
}

impl Starts {
    pub(crate) fn median(&self) -> Start {
        Start { wall_ms: median(&self.wall_ms), cpu_ms: median(&self.cpu_ms), rss_kb: median(&self.rss_kb) }
    }
}

fn run_cold(ctx: &Ctx) -> Result<Vec<Cold>, String> {
    let reps = ctx.opts.cold_reps;
    step(&format!("cold start: {reps} interleaved runs each, bare vs rampart block {TARGET_RULES} rules"));
    let mut out = Vec::new();
    for rt in &ctx.runtimes {
        let mut bare = Starts::default();
        let mut with = Starts::default();
        // One untimed start of each first: the page cache, not the
        // library, would otherwise dominate the first sample.
        for rep in 0..=reps {
            let order = if rep % 2 == 0 { [false, true] } else { [true, false] };
            for protected in order {
                let s = spawn_once(ctx, rt, protected)?;
                if rep == 0 {
                    continue;
                }
                let dst = if protected { &mut with } else { &mut bare };
                dst.wall_ms.push(s.wall_ms);
                dst.cpu_ms.push(s.cpu_ms);
                dst.rss_kb.push(s.rss_kb);
            }
        }
        let c = Cold { label: rt.label.clone(), bare: bare.median(), with: with.median() };
        println!(
            "    {:<40} wall {:.1} → {:.1} ms, cpu {:.1} → {:.1} ms, max RSS {:.0} → {:.0} kB",
            c.label, c.bare.wall_ms, c.with.wall_ms, c.bare.cpu_ms, c.with.cpu_ms, c.bare.rss_kb, c.with.rss_kb
        );
        out.push(c);
    }
    Ok(out)
}

/// One start through `loop spawn` (the preload goes to the child only).
fn spawn_once(ctx: &Ctx, rt: &Runtime, protected: bool) -> Result<Start, String> {
    let mut cmd = clean(&ctx.loop_bin, ctx);
    cmd.args(["spawn", "--"]).args(&rt.argv);
    if protected {
        cmd.env("LOOP_CHILD_PRELOAD", &ctx.lib)
            .env("RAMPART_POLICY", ctx.policy(TARGET_RULES))
            .env("RAMPART_MODE", TARGET_MODE);
    }
    let (start, stderr) = spawn_measured(&mut cmd)?;
    if protected {
        check_events(&stderr, TARGET_MODE, &rt.label, false)?;
    }
    Ok(start)
}

/// Runs `loop spawn -- CMD` (built by the caller): CMD's start and its
/// stderr (with its stdout). An error when CMD fails.
pub(crate) fn spawn_measured(cmd: &mut Command) -> Result<(Start, String), String> {
    let out = run_output(cmd)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let f: Vec<&str> = stdout.lines().find(|l| l.starts_with("spawn ")).unwrap_or("").split_whitespace().collect();
    let (Some(ns), Some(kb), Some(code), Some(cpu)) = (
        f.get(1).and_then(|s| s.parse::<f64>().ok()),
        f.get(2).and_then(|s| s.parse::<f64>().ok()),
        f.get(3).and_then(|s| s.parse::<i32>().ok()),
        f.get(4).and_then(|s| s.parse::<f64>().ok()),
    ) else {
        return Err(format!("`{}`: no result line in {stdout:?}", show(cmd)));
    };
    if code != 0 {
        return Err(format!("`{}` exited {code}:\n{}", show(cmd), tail(&stderr, 15)));
    }
    Ok((Start { wall_ms: ns / 1e6, cpu_ms: cpu / 1e6, rss_kb: kb }, stderr.into_owned()))
}

// ---------------------------------------------------------------- report --

/// `42 ns`, `1.3 µs`, `12.5 ms`.
/// `+0.42 ms`, `−0.10 ms`.
pub(crate) fn signed(x: f64, decimals: usize, unit: &str) -> String {
    let sign = if x < 0.0 { "−" } else { "+" };
    format!("{sign}{:.*} {unit}", decimals, x.abs())
}

fn verdict(met: bool, by: String) -> String {
    if met { "**met**".into() } else { format!("**missed** by {by}") }
}

fn report(ctx: &Ctx, micro: &Micro, steps: &Steps, cg: Option<&Callgrind>, cold: &[Cold]) -> String {
    let mut md = String::new();
    let smoke = if ctx.opts.smoke { " (smoke run: numbers are not meaningful)" } else { "" };
    let _ = writeln!(md, "#### Hooked calls{smoke}\n");
    let _ = writeln!(
        md,
        "Time per operation, median of {} interleaved runs; in parentheses the ratio to bare. \
         Iterations per run: {}.\n",
        ctx.opts.reps,
        Op::ALL.map(|op| format!("{} {}", op.arg(), micro.iters[&op])).join(", ")
    );
    let _ = writeln!(md, "| run | {} |", Op::ALL.map(Op::label).join(" | "));
    let _ = writeln!(md, "|---|{}", "---:|".repeat(Op::ALL.len()));
    for &cfg in &micro.configs {
        let cells: Vec<String> = Op::ALL
            .iter()
            .map(|&op| match (micro.median(op, cfg), micro.ratio(op, cfg)) {
                (Some(m), _) if cfg == Config::Bare => fmt_ns(m),
                (Some(m), Some(r)) => {
                    let capped = if micro.capped.contains_key(&(op, cfg)) { "†" } else { "" };
                    format!("{} ({r:.2}×){capped}", fmt_ns(m))
                }
                _ => "–".into(),
            })
            .collect();
        let _ = writeln!(md, "| {} | {} |", cfg.label(), cells.join(" | "));
    }
    if !micro.capped.is_empty() {
        let _ = writeln!(
            md,
            "\n† at least one run stopped at its time limit ({}× a bare run) before all iterations; the time is per \
             iteration done.",
            10
        );
    }

    let _ = writeln!(md, "\n#### User-space instructions per allowed open + close\n");
    let _ = writeln!(
        md,
        "| counted by | {} |",
        steps.per_op.iter().map(|(c, _)| c.label()).collect::<Vec<_>>().join(" | ")
    );
    let _ = writeln!(md, "|---|{}", "---:|".repeat(steps.per_op.len()));
    let row = |per_op: &[(Config, f64)]| -> String {
        steps
            .per_op
            .iter()
            .map(|&(c, _)| match (per_op.iter().find(|(k, _)| *k == c), added(per_op, c)) {
                (Some(&(_, v)), Some(a)) if c != Config::Bare => format!("{v:.0} ({})", signed(a, 0, "").trim_end()),
                (Some(&(_, v)), _) => format!("{v:.0}"),
                (None, _) => "–".into(),
            })
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let _ = writeln!(
        md,
        "| native: ptrace single-step (runs of {} and {} iterations, difference) | {} |",
        steps.iters,
        2 * steps.iters,
        row(&steps.per_op)
    );
    if let Some(cg) = cg {
        let _ = writeln!(md, "| valgrind --tool=callgrind ({} iterations) | {} |", cg.iters, row(&cg.per_op));
    }
    let _ = writeln!(
        md,
        "\nOnly the measured iterations are counted (not setup, warm-up or loading the policy); time in the kernel \
         is not. Native: `loop count-steps` single-steps them under ptrace, the production path exactly. Each \
         iteration of a `rep stos`/`rep movs` (glibc's memset/memcpy above 2 KiB) counts as one instruction."
    );
    if cg.is_some_and(|c| c.no_openat2) {
        let _ = writeln!(
            md,
            "This valgrind does not implement `openat2` (\"unhandled syscall 437\"): under callgrind the library \
             takes its fallback path (resolving in user space), not the one-syscall `openat2` path it takes \
             natively — the native row is the one that counts."
        );
    }
    let tops =
        |list: &[(f64, String)]| list.iter().map(|(n, f)| format!("`{f}` {n:.0}")).collect::<Vec<_>>().join(", ");
    if !steps.hotspots.is_empty() {
        let _ = writeln!(
            md,
            "Where they go, native, block mode with {} rules (instructions per op): {}.",
            size_label(TARGET_RULES),
            tops(&steps.hotspots)
        );
    }
    if let Some(cg) = cg.filter(|c| !c.hotspots.is_empty()) {
        let _ = writeln!(md, "Under callgrind (own instructions per op): {}.", tops(&cg.hotspots));
    }

    if !cold.is_empty() {
        let _ = writeln!(
            md,
            "\n#### Cold start, rampart block mode with {} rules per category (median of {})\n",
            size_label(TARGET_RULES),
            ctx.opts.cold_reps
        );
        let _ = writeln!(
            md,
            "| command | wall bare | rampart | added | CPU bare | rampart | added | max RSS bare | rampart | added |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for c in cold {
            let _ = writeln!(
                md,
                "| {} | {:.1} ms | {:.1} ms | {} | {:.1} ms | {:.1} ms | {} | {:.1} MB | {:.1} MB | {} |",
                c.label,
                c.bare.wall_ms,
                c.with.wall_ms,
                signed(c.with.wall_ms - c.bare.wall_ms, 2, "ms"),
                c.bare.cpu_ms,
                c.with.cpu_ms,
                signed(c.with.cpu_ms - c.bare.cpu_ms, 2, "ms"),
                kb_to_mb(c.bare.rss_kb),
                kb_to_mb(c.with.rss_kb),
                signed(kb_to_mb(c.with.rss_kb - c.bare.rss_kb), 2, "MB"),
            );
        }
        let _ = writeln!(
            md,
            "\nWall: fork to wait4 of the command; CPU: its user + system time (rusage), less disturbed by other \
             load; max RSS: ru_maxrss. Each start once untimed first (page cache)."
        );
    }

    let _ = writeln!(md, "\n#### Targets (issue 3; block mode, {} rules per category)\n", size_label(TARGET_RULES));
    let _ = writeln!(md, "| what | target | measured | |");
    let _ = writeln!(md, "|---|---:|---:|---|");
    let tcfg = Config::Rampart { mode: TARGET_MODE, rules: TARGET_RULES };
    for op in Op::ALL {
        let goal = op.target_ratio();
        let row = match micro.ratio(op, tcfg) {
            Some(r) => format!("{r:.2}× | {}", verdict(r <= goal, format!("{:.2}×", r - goal))),
            None => "– | not measured".into(),
        };
        let _ = writeln!(md, "| {} | ≤ {goal:.2}× bare | {row} |", op.label());
    }
    if let Some(a) = added(&steps.per_op, tcfg) {
        let _ = writeln!(
            md,
            "| user instructions added per allowed open (native) | ≤ {TARGET_INSTRUCTIONS:.0} | {a:.0} | {} |",
            verdict(a <= TARGET_INSTRUCTIONS, format!("{:.0}", a - TARGET_INSTRUCTIONS))
        );
    }
    for c in cold {
        let ms = c.with.wall_ms - c.bare.wall_ms;
        let mb = kb_to_mb(c.with.rss_kb - c.bare.rss_kb);
        let _ = writeln!(
            md,
            "| cold start {}: time | {} | {} | {} |",
            c.label,
            signed(TARGET_COLD_MS, 1, "ms"),
            signed(ms, 2, "ms"),
            verdict(ms <= TARGET_COLD_MS, format!("{:.2} ms", ms - TARGET_COLD_MS))
        );
        let _ = writeln!(
            md,
            "| cold start {}: max RSS | {} | {} | {} |",
            c.label,
            signed(TARGET_COLD_MB, 1, "MB"),
            signed(mb, 2, "MB"),
            verdict(mb <= TARGET_COLD_MB, format!("{:.2} MB", mb - TARGET_COLD_MB))
        );
    }
    let _ = writeln!(
        md,
        "\n{}; {}; {}. Regenerate with `cargo xtask bench-hooked` (loops in `benches/hooked/loop.c`).",
        machine(),
        kernel(),
        revision()
    );
    md
}

/// ru_maxrss is in KiB; the targets are in MB (10⁶ bytes).
pub(crate) fn kb_to_mb(kb: f64) -> f64 {
    kb * 1024.0 / 1e6
}

pub(crate) fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_owned()));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{}, {cores} cores", model.unwrap_or_else(|| "unknown CPU".into()))
}

/// The commit measured, marked when the work tree had changes.
pub(crate) fn revision() -> String {
    let git = |args: &[&str]| output(Command::new("git").args(args).current_dir(root())).unwrap_or_default();
    let head = git(&["rev-parse", "--short", "HEAD"]);
    if head.trim().is_empty() {
        return "rampart (no git)".into();
    }
    let dirty = !git(&["status", "--porcelain", "--untracked-files=no", "crates"]).trim().is_empty();
    format!("rampart {}{}", head.trim(), if dirty { " + uncommitted changes in crates/" } else { "" })
}

pub(crate) fn kernel() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("Linux {}", release.trim())
}

fn raw_json(micro: &Micro, steps: &Steps, cg: Option<&Callgrind>, cold: &[Cold]) -> serde_json::Value {
    let samples: Vec<serde_json::Value> = micro
        .samples
        .iter()
        .map(|((op, cfg), v)| json!({"op": op.arg(), "config": cfg.key(), "ns_per_op": v, "iters": micro.iters[op]}))
        .collect();
    let callgrind: Vec<serde_json::Value> = cg
        .map(|c| c.per_op.iter().map(|(cfg, v)| json!({"config": cfg.key(), "instructions_per_op": v})).collect())
        .unwrap_or_default();
    let cold: Vec<serde_json::Value> = cold
        .iter()
        .map(|c| {
            let side = |s: &Start| json!({"wall_ms": s.wall_ms, "cpu_ms": s.cpu_ms, "maxrss_kb": s.rss_kb});
            json!({"command": c.label, "bare": side(&c.bare), "rampart": side(&c.with)})
        })
        .collect();
    let native: Vec<serde_json::Value> =
        steps.per_op.iter().map(|(cfg, v)| json!({"config": cfg.key(), "instructions_per_op": v})).collect();
    json!({"micro": samples, "instructions_native": native, "callgrind": callgrind, "cold_start": cold})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_has_generated_and_own_rules() {
        let own = Own { file: vec!["r /usr/**".into()], network: vec!["127.0.0.1:*".into()], process: vec![] };
        let v: serde_json::Value = serde_json::from_str(&policy_json(10, &own)).unwrap();
        assert_eq!(v["allow"]["file"].as_array().unwrap().len(), 11);
        assert_eq!(v["allow"]["file"][10], "r /usr/**");
        assert_eq!(v["allow"]["network"][10], "127.0.0.1:*");
        assert_eq!(v["allow"]["process"].as_array().unwrap().len(), 10);
        assert_eq!(v["allow"]["input"][0], "aws:sqs");
        assert_eq!(v["allow"]["file"][0], "r /srv/app0/lib/**");
    }

    #[test]
    fn events_are_classified() {
        let err = "hello\n{\"rampart\":1,\"type\":\"block\",\"cat\":\"file\",\"target\":\"/x\"}\n";
        assert!(check_events(err, "block", "t", false).is_err());
        assert!(check_events(err, "profile", "t", true).is_err());
        let ok = "{\"rampart\":1,\"type\":\"profile\",\"target\":\"/x\"}\n{\"rampart\":1,\"type\":\"status\"}\n";
        let evs = check_events(ok, "profile", "t", false).unwrap();
        assert_eq!(evs[0], ("profile".to_owned(), "/x".to_owned()));
        let alert = "{\"rampart\":1,\"type\":\"alert\",\"target\":\"/y\"}";
        assert!(check_events(alert, "alert", "t", false).is_err());
        assert!(check_events(alert, "profile", "t", false).is_ok());
        let error = "{\"rampart\":1,\"type\":\"error\",\"msg\":\"x\"}";
        assert!(check_events(error, "block", "t", false).is_err());
        assert!(check_events(error, "block", "t", true).is_ok());
        assert!(check_events("{\"rampart\":1,\"type\":\"err", "block", "t", false).is_err());
    }

    #[test]
    fn medians_and_totals() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let text = "events: Ir\nfn=(1) main\n5 10\nsummary: 12345\ntotals: 12345\n";
        assert_eq!(callgrind_total(text), Some(12345));
    }

    #[test]
    fn annotate_hotspots() {
        let text = "Ir  \n---\n100 (100.0%)  PROGRAM TOTALS\n\n---\nIr                   file:function\n---\n\
                    32,896,000 (83.22%)  ./string/memset.S:__memset_avx2 [/usr/lib/libc.so.6]\n\
                    1,992,000 ( 5.04%)  ???:rampart_decide::paths::resolve [/x/librampart.so]\n";
        let h = parse_annotate(text, 2000);
        assert_eq!(
            h,
            vec![(16448.0, "__memset_avx2".to_owned()), (996.0, "rampart_decide::paths::resolve".to_owned())]
        );
    }

    #[test]
    fn options() {
        let o = Options::parse(&["--smoke".to_owned()]).unwrap();
        assert!(o.smoke && o.reps == 1 && !o.peers && !o.callgrind && o.cold);
        assert!(Options::parse(&["--reps".to_owned(), "0".to_owned()]).is_err());
        assert!(Options::parse(&["--bogus".to_owned()]).is_err());
    }
}
