//! `cargo xtask test`: every check CI runs, in order, failing fast.

use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::runtimes::{ensure_runtimes, s3s_fs_path};
use crate::util::{cargo, fmt_duration, paint, root, run, show, succeeds};

/// The cargo-fuzz release this project pins (builds on Rust 1.95).
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// The fuzz crates (relative to the workspace root) and their targets;
/// seeds are in `DIR/seeds/TARGET/`.
pub const FUZZ_CRATES: [(&str, &[&str]); 3] = [
    ("crates/policy/fuzz", &["parse_policy", "match_queries", "load_snapshot"]),
    ("crates/decide/fuzz", &["resolve_paths", "decode_inputs", "classify_api"]),
    ("crates/inputs/fuzz", &["classify_events"]),
];
const DEFAULT_FUZZ_SECS: u64 = 20;

pub struct Options {
    pub fuzz_secs: u64,
    pub skip_fuzz: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut opts = Options { fuzz_secs: DEFAULT_FUZZ_SECS, skip_fuzz: false };
        if let Some(v) = std::env::var_os("RAMPART_FUZZ_SECS") {
            opts.fuzz_secs = parse_secs(&v.to_string_lossy())?;
        }
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--fuzz-secs" => {
                    opts.fuzz_secs = parse_secs(it.next().ok_or("--fuzz-secs needs a number of seconds")?)?
                }
                "--no-fuzz" => opts.skip_fuzz = true,
                other => return Err(format!("test: unknown argument `{other}`")),
            }
        }
        Ok(opts)
    }
}

fn parse_secs(s: &str) -> Result<u64, String> {
    s.parse().ok().filter(|&n| n > 0).ok_or_else(|| format!("fuzz seconds must be a positive number, not `{s}`"))
}

type StepFn = Box<dyn FnOnce() -> Result<(), String>>;

struct Step {
    name: String,
    what: String,
    run: StepFn,
}

fn step(name: &str, what: impl Into<String>, run: impl FnOnce() -> Result<(), String> + 'static) -> Step {
    Step { name: name.to_owned(), what: what.into(), run: Box::new(run) }
}

/// The test that reads AWS's SigV4 suite from `../shared/testdata` (copied
/// data, never committed). Where that data is absent the test fails on its
/// own; `cargo xtask test` skips it instead and says so — a skip, never a
/// pass.
const SHARED_SUITE: &str = "../shared/testdata/aws-signing-test-suite-v4";
const SHARED_SUITE_TEST: &str = "aws_signing_test_suite_v4";

fn test_step() -> Step {
    let mut args = vec!["test", "--workspace"];
    let skip_shared = !root().join(SHARED_SUITE).is_dir();
    let mut what = "cargo test --workspace".to_owned();
    if skip_shared {
        args.extend(["--", "--skip", SHARED_SUITE_TEST]);
        what = format!("{what}, SKIPPING `{SHARED_SUITE_TEST}`: {SHARED_SUITE} is absent next to the workspace");
    }
    let mut cmd = cargo();
    cmd.args(&args);
    step("test", what, move || {
        if skip_shared {
            println!("    {}", paint("1;33", &format!("SKIPPED: {SHARED_SUITE_TEST} ({SHARED_SUITE} is absent)")));
        }
        // The s3s-fs the runtimes step found or installed (tests/src/s3s.rs
        // reads S3S_FS first), so the suites run the pinned version even if
        // another one is earlier on PATH.
        if let Some(path) = s3s_fs_path() {
            println!("    S3S_FS={}", path.display());
            cmd.env("S3S_FS", path);
        }
        run(&mut cmd)
    })
}

/// A cargo step: announced with its command line.
fn cargo_step(name: &str, args: &[&str]) -> Step {
    let mut cmd = cargo();
    cmd.args(args);
    let what = show(&cmd);
    step(name, what, move || run(&mut cmd))
}

pub fn main(opts: Options) -> i32 {
    let mut steps = vec![
        step("tools", "rustfmt, clippy and cargo-fuzz, installed only if missing", ensure_tools),
        step(
            "runtimes",
            "java, javac, mcs, dotnetcore2, botocore, boto3, moto[server], s3s-fs, shellcheck, the Lambda emulator and runtime clients, the AWS SDK for JavaScript, cfn-lint, python-hcl2, hclfmt and the CDK packages, installed only if missing",
            ensure_runtimes,
        ),
        cargo_step("fmt", &["fmt", "--all", "--", "--check"]),
        cargo_step("clippy", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]),
        // The end-to-end suites run the built binary and preload library.
        cargo_step("build", &["build", "-p", "rampart-cli", "-p", "rampart-preload", "-p", "rampart-fetch"]),
        step(
            "layer",
            "cargo xtask layer (both zips, glibc 2.17 checks, licences, size budget; seconds when warm)",
            || crate::layer::main(&[]),
        ),
        step(
            "layer-arm64",
            "the aarch64 librampart.so from its zip under qemu-aarch64 (tests/tests/layer_arm64.rs, --ignored); \
             qemu-user and libc6-arm64-cross installed only if missing",
            crate::layer::arm64_test,
        ),
        test_step(),
        step(
            "regress",
            "cargo xtask regress (CPython's and Node.js's own tests bare, in profile mode and in alert mode with an \
             empty policy: every test case's result the same; docs/runtime-suites.md)",
            || crate::regress::main(&[]),
        ),
        cargo_step("bench-smoke", &["bench", "-p", "rampart-benches", "--", "--test"]),
        step(
            "bench-hooked-smoke",
            "cargo xtask bench-hooked --smoke (the hooked-call runner, a few thousand iterations)",
            || crate::hooked::main(&["--smoke".to_owned()]),
        ),
        step(
            "bench-s3-smoke",
            "cargo xtask bench-s3 --smoke (policy from s3s-fs: sizes, cold start, PUT → enforcement, exec)",
            || crate::s3bench::main(&["--smoke".to_owned()]),
        ),
        step(
            "bench-lambda-smoke",
            "cargo xtask bench-lambda --smoke (warm and cold invocations under the emulator, bare vs the layer)",
            || crate::lambdabench::main(&["--smoke".to_owned()]),
        ),
        step("bench-api-smoke", "cargo xtask bench-api --smoke (the language shims' cost per AWS API call)", || {
            crate::apibench::main(&["--smoke".to_owned()])
        }),
    ];
    // The fuzz crates are workspaces of their own: fmt each one here.
    for (i, (dir, _)) in FUZZ_CRATES.iter().enumerate() {
        let manifest = root().join(dir).join("Cargo.toml").to_string_lossy().into_owned();
        steps.insert(3 + i, cargo_step(&format!("fmt-{dir}"), &["fmt", "--manifest-path", &manifest, "--", "--check"]));
    }
    if !opts.skip_fuzz {
        for (dir, targets) in FUZZ_CRATES {
            let fuzz_dir = root().join(dir);
            let mut build = fuzz_cmd(&fuzz_dir);
            build.args(["build", "--sanitizer", "address"]);
            let what = format!("{} (in {dir})", show(&build));
            steps.push(step(&format!("fuzz-build {dir}"), what, move || run(&mut build)));
            for &target in targets {
                let dir_path = fuzz_dir.clone();
                let secs = opts.fuzz_secs;
                let what = format!("cargo fuzz run {target} for {secs}s (seeds in {dir}/seeds/{target})");
                steps.push(step(&format!("fuzz-{target}"), what, move || fuzz_run(&dir_path, dir, target, secs)));
            }
        }
    }

    let total = steps.len();
    let started = Instant::now();
    let mut done: Vec<(String, Duration)> = Vec::new();
    for (i, s) in steps.into_iter().enumerate() {
        println!("\n{} {}", paint("1;36", &format!("==> [{}/{total}] {}:", i + 1, s.name)), s.what);
        let t = Instant::now();
        let result = (s.run)();
        let took = t.elapsed();
        match result {
            Ok(()) => {
                println!("{}", paint("32", &format!("<== {} passed in {}", s.name, fmt_duration(took))));
                done.push((s.name, took));
            }
            Err(e) => {
                eprintln!(
                    "\n{} {e}",
                    paint("1;31", &format!("xtask test: step `{}` FAILED after {}:", s.name, fmt_duration(took)))
                );
                summary(&done, Some(&s.name), total, started.elapsed());
                return 1;
            }
        }
    }
    summary(&done, None, total, started.elapsed());
    0
}

fn summary(done: &[(String, Duration)], failed: Option<&str>, total: usize, took: Duration) {
    println!("\n{}", paint("1", "xtask test summary"));
    for (name, d) in done {
        println!("  {}  {name:<20} {:>8}", paint("32", "ok  "), fmt_duration(*d));
    }
    if let Some(name) = failed {
        println!("  {}  {name:<20}", paint("31", "FAIL"));
    }
    let not_run = total - done.len() - usize::from(failed.is_some());
    if not_run > 0 {
        println!("  ({not_run} later step(s) not run)");
    }
    println!("total {}", fmt_duration(took));
    println!("steps: {} passed, {} failed", done.len(), usize::from(failed.is_some()));
}

/// `cargo fuzz` in the fuzz crate, on the stable toolchain: cargo fuzz
/// passes `-Z` flags (sanitizer, coverage) that stable rustc accepts only
/// with `RUSTC_BOOTSTRAP=1`.
fn fuzz_cmd(fuzz_dir: &Path) -> Command {
    let mut cmd = cargo();
    cmd.arg("fuzz").current_dir(fuzz_dir).env("RUSTC_BOOTSTRAP", "1");
    cmd
}

/// Runs one fuzz target for `secs` seconds: new inputs go to the ignored
/// `corpus/TARGET`, the committed `seeds/TARGET` is read only. libFuzzer's
/// chatter goes to `artifacts/TARGET.log`; its tail is shown on failure.
fn fuzz_run(fuzz_dir: &Path, dir: &str, target: &str, secs: u64) -> Result<(), String> {
    let corpus = format!("corpus/{target}");
    let seeds = format!("seeds/{target}");
    std::fs::create_dir_all(fuzz_dir.join(&corpus)).map_err(|e| format!("cannot create {corpus}: {e}"))?;
    std::fs::create_dir_all(fuzz_dir.join("artifacts")).map_err(|e| format!("cannot create artifacts/: {e}"))?;
    let log_path = fuzz_dir.join(format!("artifacts/{target}.log"));
    let log = File::create(&log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;

    let mut cmd = fuzz_cmd(fuzz_dir);
    cmd.args(["run", "--sanitizer", "address", target, &corpus, &seeds, "--"])
        .arg(format!("-max_total_time={secs}"))
        .args(["-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"]);
    // A libFuzzer dictionary next to the targets, if the target has one.
    if fuzz_dir.join(format!("{target}.dict")).is_file() {
        cmd.arg(format!("-dict={target}.dict"));
    }
    cmd.stdout(log).stderr(log2);
    println!("    {}", show(&cmd));
    let status = cmd.status().map_err(|e| format!("cannot start `{}`: {e}", show(&cmd)))?;
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    if status.success() {
        for line in text.lines().filter(|l| l.starts_with("Done ") || l.starts_with("stat::number_of_executed_units")) {
            println!("    {line}");
        }
        return Ok(());
    }
    let lines: Vec<&str> = text.lines().collect();
    for line in &lines[lines.len().saturating_sub(60)..] {
        eprintln!("    {line}");
    }
    Err(format!(
        "fuzz target `{target}` failed ({status}); full log: {}; a crashing input is saved under {}/artifacts/{target}/ \
         (reproduce: cd {dir} && RUSTC_BOOTSTRAP=1 cargo fuzz run {target} artifacts/{target}/<file>)",
        log_path.display(),
        dir
    ))
}

fn ensure_tools() -> Result<(), String> {
    // rustfmt and clippy: rustup components.
    let installed = Command::new("rustup").args(["component", "list", "--installed"]).output();
    match installed {
        Ok(out) if out.status.success() => {
            let list = String::from_utf8_lossy(&out.stdout);
            for comp in ["rustfmt", "clippy"] {
                if list.lines().any(|l| l.starts_with(&format!("{comp}-")) || l == comp) {
                    println!("    {comp}: installed");
                } else {
                    println!("    {comp}: missing, installing");
                    run(Command::new("rustup").args(["component", "add", comp]))?;
                }
            }
        }
        _ => {
            // No rustup: the tools must come with the toolchain.
            for (comp, sub) in [("rustfmt", "fmt"), ("clippy", "clippy")] {
                if !succeeds(cargo().args([sub, "--version"])) {
                    return Err(format!("`cargo {sub}` is missing and there is no rustup to install {comp}"));
                }
                println!("    {comp}: installed");
            }
        }
    }
    // cargo-fuzz: from crates.io, pinned.
    let version = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["fuzz", "--version"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match version {
        Some(v) => println!("    cargo-fuzz: {v}"),
        None => {
            println!("    cargo-fuzz: missing, installing {CARGO_FUZZ_VERSION}");
            run(cargo().args(["install", "cargo-fuzz", "--version", CARGO_FUZZ_VERSION, "--locked"]))?;
        }
    }
    Ok(())
}
