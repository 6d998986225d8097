//! `cargo xtask regress`: the runtimes' own regression tests, bare and under
//! librampart.so, compared test case by test case.
//!
//! The library must be invisible to code it allows: whatever CPython's and
//! Node.js's own tests observe about files, processes, sockets and signals
//! has to come out the same with the library loaded in profile mode and in
//! alert mode with an empty policy (every activity reported, nothing denied).
//! Each suite runs bare, then under `rampart run` in each mode; a test case
//! whose result differs is run again, bare and in that mode, so a flaky case
//! (one that differs between two runs of the same kind) is told apart from a
//! difference the library causes. docs/runtime-suites.md has the details.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::util::{fmt_duration, output, paint, show, target_dir};

pub const HELP: &str = "\
cargo xtask regress — the runtimes' own regression tests, bare and under librampart.so

USAGE:
    cargo xtask regress [OPTIONS]

Runs CPython's regression tests for the areas the library hooks (python3 -m
test test_os test_subprocess ...; -u not given, so CPython's network
resources are off) and a selection of Node.js's own tests
(test/parallel/test-{fs,child-process,net,dgram}-*.js of the Node.js 20
source, from Debian's nodejs source package, fetched with apt-get source
into TARGET/regress/) three times: bare, under `rampart run --mode profile`
and under `rampart run` with an empty policy in alert mode. Passes only when
every test case has the same result (passed, failed, errored, skipped, ...)
in the three runs. A case that differs is run again bare and in that mode:
when a run of the same kind disagrees with itself the case is flaky and
excluded, with the evidence printed. Needs the debug build (cargo build -p
rampart-cli -p rampart-preload -p rampart-fetch). Logs and the report go to
TARGET/regress/; about 8 minutes on 2 cores shared with other builds.

OPTIONS:
    --python-only, --node-only   run one suite
    --modules A,B,...   CPython test modules (default: the list in
                        docs/runtime-suites.md)
    --node-match P,...  Node.js test file prefixes after `test-`
                        (default: fs-,child-process-,net-,dgram-)
    -j, --jobs N        CPython's worker processes (default 2)
    --node-jobs N       Node.js test files at a time (default 6: most of
                        them wait on timers and sockets, not the CPU)
    --sequential        one suite after the other (default: both at once,
                        their progress lines interleaved)
    --no-recheck        report differences without running them again
    --lib PATH          the librampart.so to preload (RAMPART_LIB; default
                        the one next to target/debug/rampart)
    -h, --help          this text
";

/// CPython's tests for what the library hooks: opens, directory listing,
/// exec and spawn, sockets, signals and threads around them.
const PYTHON_MODULES: &[&str] = &[
    "test_os",
    "test_subprocess",
    "test_posix",
    "test_tempfile",
    "test_shutil",
    "test_pathlib",
    "test_fileio",
    "test_glob",
    "test_zipfile",
    "test_tarfile",
    "test_httplib",
    "test_signal",
    "test_threading",
    "test_io",
    "test_fcntl",
    "test_pty",
    "test_socketserver",
    "test_popen",
    "test_pipes",
];

/// CPython test cases left out of the comparison, and why (the evidence is
/// in docs/runtime-suites.md).
const PYTHON_EXCLUDED_CASES: &[(&str, &str)] = &[
    ("test.test_os.FileTests.test_closerange", DEPENDS_ON_WORKER_FDS),
    ("test.test_os.TestInvalidFD.test_closerange", DEPENDS_ON_WORKER_FDS),
];
const DEPENDS_ON_WORKER_FDS: &str = "passes or skips by the number regrtest's worker JSON descriptor got in the \
     -j parent (bare: skipped; bare with one more descriptor open in the parent, `3</dev/null`: passed); \
     the library's exec check (ops/exec.rs is_static) holds a descriptor while a thread spawns a worker";

/// Node.js test files (test/parallel/test-PREFIX*.js) run by default.
const NODE_PREFIXES: &[&str] = &["fs-", "child-process-", "net-", "dgram-"];

/// Node.js's test files whose bare result is not a result (see
/// docs/runtime-suites.md for the evidence).
const NODE_EXCLUDED: &[(&str, &str)] = &[];

/// The Debian release whose source package carries Node.js 20's test/
/// directory (bookworm has Node.js 18; the installed Node.js is 20).
const NODE_DEB_SUITE: &str = "trixie";
/// A Node.js test that takes longer than this has hung.
const NODE_TEST_TIMEOUT: Duration = Duration::from_secs(90);
/// CPython's per-module limit (`--timeout`): a hung module is killed with
/// a traceback instead of stalling the step.
const PYTHON_MODULE_TIMEOUT_SECS: u32 = 300;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Bare,
    Profile,
    Alert,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Bare, Mode::Profile, Mode::Alert];

    fn name(self) -> &'static str {
        match self {
            Mode::Bare => "bare",
            Mode::Profile => "profile",
            Mode::Alert => "alert",
        }
    }
}

/// Each case's status and a line saying why it did not pass.
type Cases = BTreeMap<String, (Status, String)>;

/// One test case's result, as the runner reported it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Status {
    Passed,
    Failed,
    Errored,
    Skipped,
    ExpectedFailure,
    UnexpectedSuccess,
    TimedOut,
    /// Not reported in this run (its module crashed, or it was not run).
    Absent,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Errored => "errored",
            Status::Skipped => "skipped",
            Status::ExpectedFailure => "xfail",
            Status::UnexpectedSuccess => "xpass",
            Status::TimedOut => "timeout",
            Status::Absent => "absent",
        })
    }
}

/// What one run of a suite reported: each case's status and a line saying
/// why it did not pass, grouped by module (CPython) or file (Node.js).
#[derive(Default)]
struct RunResult {
    cases: Cases,
    /// The module's own verdict (`passed`, `failed`, `crashed`...), which
    /// also catches what no test case carries (a subtest's failure).
    groups: BTreeMap<String, String>,
    /// Event lines on the root's stderr, by type.
    events: BTreeMap<String, usize>,
    took: Duration,
}

struct Options {
    python: bool,
    node: bool,
    modules: Vec<String>,
    node_prefixes: Vec<String>,
    jobs: usize,
    node_jobs: usize,
    sequential: bool,
    recheck: bool,
    lib: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Option<Options>, String> {
        let mut opts = Options {
            python: true,
            node: true,
            modules: PYTHON_MODULES.iter().map(|s| s.to_string()).collect(),
            node_prefixes: NODE_PREFIXES.iter().map(|s| s.to_string()).collect(),
            jobs: 2,
            node_jobs: 6,
            sequential: false,
            recheck: true,
            lib: None,
        };
        let list = |v: Option<&String>, what: &str| -> Result<Vec<String>, String> {
            let v = v.ok_or_else(|| format!("{what} needs a comma-separated list"))?;
            Ok(v.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
        };
        let count = |v: Option<&String>, what: &str| -> Result<usize, String> {
            let v = v.ok_or_else(|| format!("{what} needs a number"))?;
            v.parse().ok().filter(|&n| n > 0).ok_or_else(|| format!("bad {what} `{v}`"))
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "-h" | "--help" => return Ok(None),
                "--python-only" => opts.node = false,
                "--node-only" => opts.python = false,
                "--modules" => opts.modules = list(it.next(), "--modules")?,
                "--node-match" => opts.node_prefixes = list(it.next(), "--node-match")?,
                "-j" | "--jobs" => opts.jobs = count(it.next(), "--jobs")?,
                "--node-jobs" => opts.node_jobs = count(it.next(), "--node-jobs")?,
                "--no-recheck" => opts.recheck = false,
                "--sequential" => opts.sequential = true,
                "--lib" => opts.lib = Some(PathBuf::from(it.next().ok_or("--lib needs a path")?)),
                other => return Err(format!("regress: unknown argument `{other}` (see --help)")),
            }
        }
        if !opts.python && !opts.node {
            return Err("--python-only and --node-only exclude each other".into());
        }
        Ok(Some(opts))
    }
}

/// How a run is started: bare, or under `rampart run` in a mode.
struct Launcher {
    rampart: PathBuf,
    lib: Option<PathBuf>,
    alert_policy: PathBuf,
}

impl Launcher {
    /// `program args...` as `mode` runs it.
    fn command(&self, mode: Mode, program: &Path) -> Command {
        let mut cmd = match mode {
            Mode::Bare => return Command::new(program),
            Mode::Profile => {
                let mut c = Command::new(&self.rampart);
                c.args(["run", "--mode", "profile", "--"]);
                c
            }
            Mode::Alert => {
                let mut c = Command::new(&self.rampart);
                c.arg("run").arg("--policy").arg(&self.alert_policy).arg("--");
                c
            }
        };
        if let Some(lib) = &self.lib {
            cmd.env("RAMPART_LIB", lib);
        }
        cmd.arg(program);
        cmd
    }
}

pub fn main(args: &[String]) -> Result<(), String> {
    let Some(opts) = Options::parse(args)? else {
        print!("{HELP}");
        return Ok(());
    };
    let started = Instant::now();
    let target = target_dir()?;
    let out = target.join("regress");
    fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let rampart = target.join("debug/rampart");
    let lib = opts.lib.clone().unwrap_or_else(|| target.join("debug/librampart.so"));
    for needed in [&rampart, &lib] {
        if !needed.is_file() {
            return Err(format!(
                "{} is missing: build first (cargo build -p rampart-cli -p rampart-preload -p rampart-fetch)",
                needed.display()
            ));
        }
    }
    // An empty allowlist in alert mode: every activity is reported, none
    // denied — the most the library does to a process it lets run.
    let alert_policy = out.join("alert-empty-policy.json");
    write(&alert_policy, r#"{"version":1,"mode":"alert","allow":{}}"#)?;
    let launcher = Launcher { rampart, lib: opts.lib.clone(), alert_policy };

    // The two suites at once unless asked otherwise: Node.js's tests mostly
    // wait on timers and sockets, so they fill the time CPython's leave.
    let (python, node) = if opts.sequential {
        let python = opts.python.then(|| python_suite(&opts, &launcher, &out));
        (python, opts.node.then(|| node_suite(&opts, &launcher, &out)))
    } else {
        std::thread::scope(|s| {
            let node = s.spawn(|| opts.node.then(|| node_suite(&opts, &launcher, &out)));
            let python = opts.python.then(|| python_suite(&opts, &launcher, &out));
            (python, node.join().unwrap_or_else(|_| Some(Err("the Node.js suite's thread panicked".into()))))
        })
    };
    let mut suites: Vec<SuiteReport> = Vec::new();
    for suite in [python, node].into_iter().flatten() {
        suites.push(suite?);
    }

    let report = render_report(&suites, started.elapsed());
    print!("\n{report}");
    let report_path = out.join("report.md");
    write(&report_path, &report)?;
    println!("(report written to {})", report_path.display());
    let differences: usize = suites.iter().map(|s| s.differences.len()).sum();
    if differences == 0 {
        Ok(())
    } else {
        Err(format!(
            "{differences} test case(s) differ between the bare run and a run under librampart.so (listed above; logs in {})",
            out.display()
        ))
    }
}

/// One suite's outcome: its runs, the cases that differ, the flaky ones.
struct SuiteReport {
    name: String,
    detail: String,
    runs: Vec<(Mode, RunResult)>,
    differences: Vec<Difference>,
    flaky: Vec<Difference>,
    excluded: Vec<(String, String)>,
    logs: PathBuf,
}

/// A case whose status is not the same in every run.
struct Difference {
    group: String,
    case: String,
    /// Every run's status, the re-runs after the first three.
    seen: Vec<(Mode, Status)>,
    why: String,
}

// ---------------------------------------------------------------- CPython

fn python_suite(opts: &Options, launcher: &Launcher, out: &Path) -> Result<SuiteReport, String> {
    let python = real_python()?;
    ensure_python_tests(&python)?;
    let logs = out.join("python");
    fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    let version = output(Command::new(&python).arg("--version"))?.trim().to_owned();
    println!(
        "{} {version} ({}), {} module(s), -j{}",
        paint("1;36", "==> CPython's regression tests:"),
        python.display(),
        opts.modules.len(),
        opts.jobs
    );
    let modules: Vec<String> = opts.modules.clone();
    let without_excluded = |mut r: RunResult| {
        r.cases.retain(|name, _| !PYTHON_EXCLUDED_CASES.iter().any(|(x, _)| x == name));
        r
    };
    let mut runs = Vec::new();
    for mode in Mode::ALL {
        let r = run_python(launcher, mode, &python, &modules, opts.jobs, &logs, mode.name())?;
        runs.push((mode, without_excluded(r)));
    }
    let (differences, flaky) = compare(&runs, opts.recheck, |mode, groups, attempt| {
        let tag = format!("recheck{attempt}-{}", mode.name());
        run_python(launcher, mode, &python, groups, opts.jobs, &logs, &tag).map(without_excluded)
    })?;
    let mut excluded = vec![(
        "test_socket".to_owned(),
        "not run: over 4 minutes bare here, and RecvmsgRFC3542AncillaryUDP6Test.testSecondCmsgTrunc0 hangs \
         until regrtest's timeout"
            .to_owned(),
    )];
    excluded.extend(PYTHON_EXCLUDED_CASES.iter().map(|(c, why)| (c.to_string(), why.to_string())));
    Ok(SuiteReport {
        name: "CPython".into(),
        detail: format!("{version}, python3 -m test -j{}", opts.jobs),
        runs,
        differences,
        flaky,
        excluded,
        logs,
    })
}

/// The interpreter the project's Python suites use: the real executable
/// behind pyenv's shim (tests/src/evasion.rs `python()`), so the library is
/// loaded into CPython and not into a shell script.
fn real_python() -> Result<PathBuf, String> {
    let probe = "import os, sys; print(os.path.realpath(sys.executable))";
    let text = output(Command::new("python3").args(["-I", "-c", probe]))?;
    Ok(PathBuf::from(text.trim()))
}

/// CPython's `test` package ships with pyenv's builds (Lib/test); Debian's
/// python3 keeps it in a package of its own, installed here if missing.
fn ensure_python_tests(python: &Path) -> Result<(), String> {
    let check = || {
        Command::new(python)
            .args(["-c", "import test.libregrtest, test.support"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if check() {
        return Ok(());
    }
    let minor = output(Command::new(python).args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"]))?;
    let package = format!("libpython{}-testsuite", minor.trim());
    if python.starts_with("/usr/bin") {
        println!("    {python:?} has no `test` package: apt-get install {package}");
        crate::util::run(Command::new("apt-get").args(["install", "-y", "-q", &package]))?;
        if check() {
            return Ok(());
        }
    }
    Err(format!(
        "{} has no `test` package (CPython's Lib/test): the step needs an interpreter that ships it \
         (pyenv's builds do; Debian's python3 has it in {package})",
        python.display()
    ))
}

/// Event lines on a stderr: `{"rampart":1,"type":"T",...}`, counted by T.
fn count_events(text: &str, into: &mut BTreeMap<String, usize>) {
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("{\"rampart\":1,\"type\":\"") else { continue };
        let kind = rest.split('"').next().unwrap_or("?");
        *into.entry(kind.to_owned()).or_default() += 1;
    }
}

fn run_python(
    launcher: &Launcher,
    mode: Mode,
    python: &Path,
    modules: &[String],
    jobs: usize,
    logs: &Path,
    tag: &str,
) -> Result<RunResult, String> {
    let dir = logs.join(tag);
    let _ = fs::remove_dir_all(&dir);
    let tmp = dir.join("tmp");
    fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let junit = dir.join("junit.xml");
    let mut cmd = launcher.command(mode, python);
    cmd.args(["-m", "test", "--junit-xml"])
        .arg(&junit)
        .arg(format!("-j{jobs}"))
        // No --randseed: it also shuffles the order; the default order is fixed.
        .args(["--timeout", &PYTHON_MODULE_TIMEOUT_SECS.to_string()])
        .args(modules)
        .current_dir(&dir)
        .env("TMPDIR", &tmp);
    println!("{} {}", paint("1", &format!("--> cpython {tag}:")), show(&cmd));
    let t = Instant::now();
    let stdout_log = dir.join("stdout.log");
    let stderr_log = dir.join("stderr.log");
    // Progress lines (`0:00:03 load avg: 1.2 [ 1/17] test_os passed`) are
    // shown as they come; everything goes to the log.
    let mut groups = BTreeMap::new();
    let status = run_streaming(&mut cmd, &stdout_log, &stderr_log, |line| {
        let (module, verdict) = regrtest_progress(line)?;
        groups.insert(module.to_owned(), verdict.to_owned());
        Some(format!("    [cpython {tag}] {module}: {verdict}"))
    })?;
    let took = t.elapsed();
    let mut result = RunResult { groups, took, ..RunResult::default() };
    count_events(&fs::read_to_string(&stderr_log).unwrap_or_default(), &mut result.events);
    if junit.is_file() {
        result.cases = read_junit(python, &junit)?;
    } else {
        eprintln!(
            "    [cpython {tag}] no JUnit file: python3 -m test ended with {status} (see {})",
            stdout_log.display()
        );
    }
    for m in modules {
        result.groups.entry(m.clone()).or_insert_with(|| "absent".into());
    }
    write_results(&dir, &result)?;
    println!(
        "    [cpython {tag}] {} test cases in {}: {} ({status})",
        result.cases.len(),
        fmt_duration(took),
        count_statuses(&result)
    );
    Ok(result)
}

/// `0:00:12 load avg: 3.25 [ 5/17] test_pathlib passed` (or `[ 5/17/1]`
/// once something failed) → ("test_pathlib", "passed"). The verdict ends
/// where regrtest's timing or detail starts.
fn regrtest_progress(line: &str) -> Option<(&str, &str)> {
    let start = line.find(" [")?;
    let rest = &line[start + 2..];
    let close = rest.find("] ")?;
    if !rest[..close].trim().chars().all(|c| c.is_ascii_digit() || c == '/') {
        return None;
    }
    let rest = &rest[close + 2..];
    let (module, verdict) = rest.split_once(' ')?;
    if !module.starts_with("test_") {
        return None;
    }
    let verdict = verdict.split(" (").next()?.split(" -- ").next()?.trim();
    Some((module, verdict))
}

/// The JUnit file regrtest writes, read by CPython's own ElementTree (the
/// xtask has no XML parser): one `STATUS \t NAME \t WHY` line a case.
/// A case whose element carries no name is one whose subtest failed
/// (regrtest's result class records subtests nowhere): it is named after
/// its module and position, and the module's verdict shows it too.
const JUNIT_TO_LINES: &str = r#"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
unnamed = 0
for suite in root.iter('testsuite'):
    last = '?'
    for case in suite.findall('testcase'):
        name = case.get('name')
        if not name:
            unnamed += 1
            name = '%s.<unnamed #%d, after %s>' % (last.rsplit('.', 2)[0], unnamed, last.rsplit('.', 1)[-1])
        else:
            last = name
        status, why = 'passed', ''
        for tag, st in (('error', 'errored'), ('failure', 'failed'), ('skipped', 'skipped'), ('output', 'xfail')):
            el = case.find(tag)
            if el is not None:
                status = st
                why = el.get('type', '') + ': ' + (el.get('message') or el.text or '')
                break
        if case.find('outcome') is not None:
            status = 'xpass'
        if not case.get('name') and status == 'passed':
            status = 'failed'
            why = 'a subtest failed (regrtest names no case for it)'
        why = ' '.join(why.strip().splitlines()[-1:])[:300] if status not in ('passed', 'skipped') else why.strip()[:200]
        print(status, name, why.replace('\t', ' '), sep='\t')
"#;

fn read_junit(python: &Path, junit: &Path) -> Result<Cases, String> {
    let text = output(Command::new(python).args(["-I", "-c", JUNIT_TO_LINES]).arg(junit))?;
    let mut cases = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, '\t');
        let (Some(status), Some(name)) = (parts.next(), parts.next()) else { continue };
        let status = match status {
            "passed" => Status::Passed,
            "failed" => Status::Failed,
            "errored" => Status::Errored,
            "skipped" => Status::Skipped,
            "xfail" => Status::ExpectedFailure,
            "xpass" => Status::UnexpectedSuccess,
            other => return Err(format!("{}: unknown status `{other}`", junit.display())),
        };
        // `test.test_os.FileTests.test_access`: the module is the second part.
        cases.insert(name.to_owned(), (status, parts.next().unwrap_or("").to_owned()));
    }
    Ok(cases)
}

/// The module (CPython) or file (Node.js) a case belongs to.
fn group_of(case: &str) -> &str {
    match case.strip_prefix("test.") {
        Some(rest) => rest.split('.').next().unwrap_or(rest),
        None => case.split("::").next().unwrap_or(case),
    }
}

// ---------------------------------------------------------------- Node.js

fn node_suite(opts: &Options, launcher: &Launcher, out: &Path) -> Result<SuiteReport, String> {
    let node = real_node()?;
    let version = output(Command::new(&node).arg("--version"))?.trim().to_owned();
    let tree = ensure_node_tests(out, &version)?;
    let parallel = tree.join("test/parallel");
    let mut files: Vec<String> = fs::read_dir(&parallel)
        .map_err(|e| format!("cannot list {}: {e}", parallel.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| {
            (f.ends_with(".js") || f.ends_with(".mjs"))
                && opts.node_prefixes.iter().any(|p| f.strip_prefix("test-").is_some_and(|r| r.starts_with(p.as_str())))
        })
        .collect();
    files.sort();
    let excluded: Vec<(String, String)> = NODE_EXCLUDED
        .iter()
        .filter(|(f, _)| files.iter().any(|x| x == f))
        .map(|(f, why)| (f.to_string(), why.to_string()))
        .collect();
    files.retain(|f| !excluded.iter().any(|(x, _)| x == f));
    let logs = out.join("node");
    fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    println!(
        "\n{} node {version} ({}), {} test files from {}, {} at a time",
        paint("1;36", "==> Node.js's own tests:"),
        node.display(),
        files.len(),
        tree.display(),
        opts.node_jobs
    );
    let mut runs = Vec::new();
    for mode in Mode::ALL {
        let r = run_node(launcher, mode, &node, &tree, &files, opts.node_jobs, &logs, mode.name())?;
        runs.push((mode, r));
    }
    let (differences, flaky) = compare(&runs, opts.recheck, |mode, groups, attempt| {
        let tag = format!("recheck{attempt}-{}", mode.name());
        run_node(launcher, mode, &node, &tree, groups, opts.node_jobs, &logs, &tag)
    })?;
    Ok(SuiteReport {
        name: "Node.js".into(),
        detail: format!(
            "node {version}, tests of {} (test/parallel/test-{{{}}}*)",
            tree.file_name().unwrap_or_default().to_string_lossy(),
            opts.node_prefixes.join(",")
        ),
        runs,
        differences,
        flaky,
        excluded,
        logs,
    })
}

/// The Debian archive this machine's apt already uses (the first `URIs:` of
/// a deb822 `.sources` file, or the first `deb` line of `sources.list`):
/// the source package comes from the same registry as the machine's
/// packages, never from an address of our own.
fn debian_mirror() -> Result<String, String> {
    let mut texts = Vec::new();
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut files: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        texts.extend(
            files
                .iter()
                .filter(|p| p.extension().is_some_and(|x| x == "sources"))
                .filter_map(|p| fs::read_to_string(p).ok()),
        );
    }
    let deb822 = texts
        .iter()
        .flat_map(|t| t.lines())
        .find_map(|l| l.strip_prefix("URIs:"))
        .and_then(|u| u.split_whitespace().next());
    let classic = || {
        fs::read_to_string("/etc/apt/sources.list").ok().and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("deb "))
                .and_then(|rest| rest.split_whitespace().find(|w| w.contains("://")).map(str::to_owned))
        })
    };
    deb822
        .map(str::to_owned)
        .or_else(classic)
        .filter(|u| !u.contains("security"))
        .ok_or_else(|| "no Debian archive in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list".to_owned())
}

fn real_node() -> Result<PathBuf, String> {
    let text = output(Command::new("node").args(["-e", "console.log(require('fs').realpathSync(process.execPath))"]))?;
    Ok(PathBuf::from(text.trim()))
}

/// Node.js's test/ directory for the installed major version: Debian's
/// nodejs source package (the upstream tarball, test/ included) from
/// `NODE_DEB_SUITE`, through apt-get with a private source list and state
/// (the machine's own apt configuration is left as it is; apt checks the
/// files against Debian's signed index). Kept under TARGET/regress/.
fn ensure_node_tests(out: &Path, installed: &str) -> Result<PathBuf, String> {
    let major = installed.trim_start_matches('v').split('.').next().unwrap_or("").to_owned();
    let base = out.join("node-src");
    if let Some(tree) = find_node_tree(&base, &major) {
        return Ok(tree);
    }
    println!("    Node.js {major}'s tests are not here yet: apt-get source nodejs from Debian {NODE_DEB_SUITE}");
    let apt = base.join("apt");
    for sub in ["lists/partial", "cache/archives/partial", "download"] {
        fs::create_dir_all(apt.join(sub)).map_err(|e| format!("cannot create {}: {e}", apt.join(sub).display()))?;
    }
    let list = apt.join("sources.list");
    let mirror = debian_mirror()?;
    write(&list, &format!("deb-src {mirror} {NODE_DEB_SUITE} main\n"))?;
    let apt_opts = |cmd: &mut Command| {
        cmd.arg("-o")
            .arg(format!("Dir::Etc::SourceList={}", list.display()))
            .args(["-o", "Dir::Etc::SourceParts=-"])
            .arg("-o")
            .arg(format!("Dir::State::Lists={}", apt.join("lists").display()))
            .arg("-o")
            .arg(format!("Dir::Cache={}", apt.join("cache").display()))
            // The download folder is root's: no _apt sandbox user to warn about it.
            .args(["-o", "APT::Get::List-Cleanup=0", "-o", "APT::Sandbox::User=root", "-q"]);
    };
    let mut update = Command::new("apt-get");
    apt_opts(&mut update);
    update.arg("update");
    crate::util::run(&mut update)?;
    let download = apt.join("download");
    let mut source = Command::new("apt-get");
    apt_opts(&mut source);
    // The upstream tarball only: the Debian packaging is not needed.
    source.args(["source", "--download-only", "--tar-only", "nodejs"]).current_dir(&download);
    crate::util::run(&mut source)?;
    let tarball = fs::read_dir(&download)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with("nodejs_") && n.ends_with(".orig.tar.xz")
        })
        .ok_or_else(|| format!("apt-get source nodejs left no nodejs_*.orig.tar.xz in {}", download.display()))?;
    let name = tarball.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let upstream = name.trim_start_matches("nodejs_").split('+').next().unwrap_or("").to_owned();
    if upstream.split('.').next() != Some(major.as_str()) {
        return Err(format!(
            "Debian {NODE_DEB_SUITE} has Node.js {upstream}, the installed node is {installed}: \
             no source package carries Node.js {major}'s tests (change NODE_DEB_SUITE in xtask/src/regress.rs)"
        ));
    }
    let top = format!("node-v{upstream}");
    crate::util::run(
        Command::new("tar")
            .arg("-xJf")
            .arg(&tarball)
            .arg("-C")
            .arg(&base)
            .args([format!("{top}/test"), format!("{top}/tools/test.py")]),
    )?;
    let _ = fs::remove_dir_all(&download);
    find_node_tree(&base, &major).ok_or_else(|| format!("{} holds no node-v{major}.*/test/parallel", base.display()))
}

fn find_node_tree(base: &Path, major: &str) -> Option<PathBuf> {
    let prefix = format!("node-v{major}.");
    let mut trees: Vec<PathBuf> = fs::read_dir(base)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&prefix)) && p.join("test/parallel").is_dir()
        })
        .collect();
    trees.sort();
    trees.pop()
}

/// The node options a test asks for in its `// Flags:` comment (Node's
/// test.py passes them the same way; only the first such line counts).
fn node_flags(source: &str) -> Vec<String> {
    for line in source.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("//")
            && let Some(flags) = rest.trim_start().strip_prefix("Flags:")
        {
            return flags.split_whitespace().map(str::to_owned).collect();
        }
    }
    Vec::new()
}

#[allow(clippy::too_many_arguments)]
fn run_node(
    launcher: &Launcher,
    mode: Mode,
    node: &Path,
    tree: &Path,
    files: &[String],
    jobs: usize,
    logs: &Path,
    tag: &str,
) -> Result<RunResult, String> {
    let dir = logs.join(tag);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    println!("{} {} test files, {}", paint("1", &format!("--> node {tag}:")), files.len(), {
        let c = launcher.command(mode, node);
        show(&c) + " [FLAGS] test/parallel/FILE"
    });
    let t = Instant::now();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<(String, FileOutcome)>> = Mutex::new(Vec::new());
    let failure: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|s| {
        for slot in 0..jobs {
            let (next, done, results, failure, dir) = (&next, &done, &results, &failure, &dir);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(file) = files.get(i) else { break };
                    match run_node_file(launcher, mode, node, tree, file, slot, dir) {
                        Ok(outcome) => {
                            let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                            if n % 50 == 0 || n == files.len() {
                                println!("    [node {tag}] {n}/{} files", files.len());
                            }
                            results.lock().unwrap().push((file.clone(), outcome));
                        }
                        Err(e) => {
                            *failure.lock().unwrap() = Some(e);
                            next.store(files.len(), Ordering::SeqCst);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap() {
        return Err(e);
    }
    let mut result = RunResult { took: t.elapsed(), ..RunResult::default() };
    for (file, FileOutcome { status, why, events }) in results.into_inner().unwrap() {
        result.groups.insert(file.clone(), status.to_string());
        result.cases.insert(format!("{file}::"), (status, why));
        for (k, v) in events {
            *result.events.entry(k).or_default() += v;
        }
    }
    write_results(&dir, &result)?;
    let counts = count_statuses(&result);
    println!("    [node {tag}] {} files in {}: {counts}", files.len(), fmt_duration(result.took));
    Ok(result)
}

fn run_node_file(
    launcher: &Launcher,
    mode: Mode,
    node: &Path,
    tree: &Path,
    file: &str,
    slot: usize,
    dir: &Path,
) -> Result<FileOutcome, String> {
    let rel = format!("test/parallel/{file}");
    let source = fs::read_to_string(tree.join(&rel)).map_err(|e| format!("cannot read {rel}: {e}"))?;
    let stdout_path = dir.join(format!("{file}.stdout"));
    let stderr_path = dir.join(format!("{file}.stderr"));
    let mut cmd = launcher.command(mode, node);
    cmd.args(node_flags(&source))
        .arg(&rel)
        .current_dir(tree)
        // Each worker slot its own test/.tmp.N (test/common/tmpdir.js).
        .env("TEST_THREAD_ID", slot.to_string())
        .env_remove("NODE_OPTIONS")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).map_err(|e| format!("{}: {e}", stdout_path.display()))?)
        .stderr(File::create(&stderr_path).map_err(|e| format!("{}: {e}", stderr_path.display()))?);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().map_err(|e| format!("cannot start `{}`: {e}", show(&cmd)))?;
    let deadline = Instant::now() + NODE_TEST_TIMEOUT;
    let status: Option<ExitStatus> = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(st) => break Some(st),
            None if Instant::now() > deadline => {
                // The whole group: node's own children too.
                let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let stdout = fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
    let mut events = BTreeMap::new();
    count_events(&stderr, &mut events);
    let (st, why) = match status {
        None => (Status::TimedOut, format!("killed after {}", fmt_duration(NODE_TEST_TIMEOUT))),
        Some(s) if s.success() => match stdout.lines().find(|l| l.starts_with("1..0 # Skipped")) {
            Some(l) => (Status::Skipped, l.trim_start_matches("1..0 # Skipped:").trim().to_owned()),
            None => (Status::Passed, String::new()),
        },
        Some(s) => {
            // The thrown error's first line says what broke; else the last
            // line that is not the library's.
            let own = || stderr.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("{\"rampart\":1,"));
            let line = own()
                .find(|l| l.contains("Error") && !l.starts_with("at "))
                .or_else(|| own().rfind(|l| !l.starts_with("Node.js v")))
                .unwrap_or("");
            (Status::Failed, format!("{s}: {}", line.chars().take(300).collect::<String>()))
        }
    };
    Ok(FileOutcome { status: st, why, events })
}

/// One Node.js test file's run.
struct FileOutcome {
    status: Status,
    why: String,
    /// Event lines on its stderr, by type.
    events: BTreeMap<String, usize>,
}

// ---------------------------------------------------------------- comparing

fn count_statuses(r: &RunResult) -> String {
    let mut counts: BTreeMap<Status, usize> = BTreeMap::new();
    for (s, _) in r.cases.values() {
        *counts.entry(*s).or_default() += 1;
    }
    counts.iter().map(|(s, n)| format!("{n} {s}")).collect::<Vec<_>>().join(", ")
}

/// The cases whose status differs between the bare run and a guarded one,
/// each checked again (bare and in the mode that differed) unless
/// `recheck` is off: a case whose two bare runs, or two runs in that mode,
/// disagree is flaky; one whose runs agree within each kind and differ
/// between the kinds is the library's doing. Module verdicts (`groups`)
/// are compared as `group::` pseudo-cases, so a failure no case records
/// still counts.
fn compare(
    runs: &[(Mode, RunResult)],
    recheck: bool,
    mut rerun: impl FnMut(Mode, &[String], usize) -> Result<RunResult, String>,
) -> Result<(Vec<Difference>, Vec<Difference>), String> {
    let keyed = |r: &RunResult| -> Cases {
        let mut all = r.cases.clone();
        for (g, verdict) in &r.groups {
            let status = match verdict.as_str() {
                "passed" => Status::Passed,
                "skipped" => Status::Skipped,
                _ => Status::Failed,
            };
            all.entry(format!("{g}::")).or_insert((status, format!("module verdict: {verdict}")));
        }
        all
    };
    let all: Vec<(Mode, Cases)> = runs.iter().map(|(m, r)| (*m, keyed(r))).collect();
    let names: BTreeSet<&String> = all.iter().flat_map(|(_, c)| c.keys()).collect();
    let get = |c: &Cases, k: &str| c.get(k).map_or(Status::Absent, |(s, _)| *s);
    let bare = &all[0].1;
    let mut suspects: Vec<Difference> = Vec::new();
    for name in names {
        let seen: Vec<(Mode, Status)> = all.iter().map(|(m, c)| (*m, get(c, name))).collect();
        if seen.iter().all(|(_, s)| *s == seen[0].1) {
            continue;
        }
        let why = all
            .iter()
            .filter_map(|(m, c)| c.get(name.as_str()).filter(|(s, _)| *s != get(bare, name)).map(|(_, w)| (m, w)))
            .filter(|(_, w)| !w.is_empty())
            .map(|(m, w)| format!("{}: {w}", m.name()))
            .next()
            .unwrap_or_default();
        suspects.push(Difference { group: group_of(name).to_owned(), case: name.clone(), seen, why });
    }
    if suspects.is_empty() || !recheck {
        return Ok((suspects, Vec::new()));
    }
    // Re-run the groups that differ, bare and in each differing mode.
    let groups: Vec<String> = suspects.iter().map(|d| d.group.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let modes: Vec<Mode> = Mode::ALL
        .into_iter()
        .filter(|m| {
            *m == Mode::Bare || suspects.iter().any(|d| d.seen.iter().any(|(mm, s)| mm == m && *s != d.seen[0].1))
        })
        .collect();
    println!(
        "{} {} case(s) in {} group(s) differ; running them again ({})",
        paint("1;33", "--> recheck:"),
        suspects.len(),
        groups.len(),
        modes.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
    );
    let mut again: Vec<(Mode, Cases)> = Vec::new();
    for m in modes {
        let r = rerun(m, &groups, 2)?;
        again.push((m, keyed(&r)));
    }
    let mut differences = Vec::new();
    let mut flaky = Vec::new();
    for mut d in suspects {
        let first_bare = d.seen[0].1;
        let mut guarded_unstable = false;
        for (m, c) in &again {
            let s = get(c, &d.case);
            let first = d.seen.iter().find(|(mm, _)| mm == m).map(|(_, s)| *s);
            guarded_unstable |= *m != Mode::Bare && first != Some(s);
            d.seen.push((*m, s));
        }
        let bare_unstable = d.seen.iter().any(|(m, s)| *m == Mode::Bare && *s != first_bare);
        // Only two bare runs that disagree make a case flaky: one that
        // changes between runs under the library only is still the
        // library's doing (an fd number, a timing it shifts).
        if bare_unstable {
            flaky.push(d);
        } else {
            if guarded_unstable {
                d.why = format!("intermittent under the library; {}", d.why);
            }
            differences.push(d);
        }
    }
    Ok((differences, flaky))
}

// ---------------------------------------------------------------- reporting

fn render_report(suites: &[SuiteReport], took: Duration) -> String {
    let mut s = String::from("# cargo xtask regress\n\n");
    s += "| suite | run | cases | passed | failed | errored | skipped | other | groups not passed | event lines | time |\n";
    s += "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|\n";
    for suite in suites {
        for (mode, r) in &suite.runs {
            let n = |st: Status| r.cases.values().filter(|(s, _)| *s == st).count();
            let other = r.cases.len() - n(Status::Passed) - n(Status::Failed) - n(Status::Errored) - n(Status::Skipped);
            let not_passed = r.groups.values().filter(|v| *v != "passed" && *v != "skipped").count();
            let events = if r.events.is_empty() {
                "none".to_owned()
            } else {
                r.events.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ")
            };
            s += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {other} | {not_passed} | {events} | {} |\n",
                suite.name,
                mode.name(),
                r.cases.len(),
                n(Status::Passed),
                n(Status::Failed),
                n(Status::Errored),
                n(Status::Skipped),
                fmt_duration(r.took)
            );
        }
    }
    s += &format!("\nTotal time {}.\n", fmt_duration(took));
    for suite in suites {
        s += &format!("\n## {} ({})\n\nLogs: {}\n", suite.name, suite.detail, suite.logs.display());
        for (what, why) in &suite.excluded {
            s += &format!("- excluded: `{what}`: {why}\n");
        }
        if suite.differences.is_empty() {
            s += "\nNo difference: every case has the same result in every run.\n";
        } else {
            s += &format!("\n{} difference(s):\n\n", suite.differences.len());
            for d in &suite.differences {
                s += &format!("- `{}` — {}\n", d.case, seen_text(&d.seen));
                if !d.why.is_empty() {
                    s += &format!("  - {}\n", d.why);
                }
            }
        }
        if !suite.flaky.is_empty() {
            s += &format!(
                "\n{} flaky case(s), excluded (a run disagreed with a run of the same kind):\n\n",
                suite.flaky.len()
            );
            for d in &suite.flaky {
                s += &format!("- `{}` — {}\n", d.case, seen_text(&d.seen));
            }
        }
    }
    s
}

fn seen_text(seen: &[(Mode, Status)]) -> String {
    seen.iter().map(|(m, s)| format!("{} {s}", m.name())).collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------- helpers

/// `DIR/results.tsv`: each case's status and why, and each group's verdict,
/// so two runs can be compared by hand (`diff`).
fn write_results(dir: &Path, r: &RunResult) -> Result<(), String> {
    let mut text = String::new();
    for (case, (status, why)) in &r.cases {
        text += &format!("{status}\t{case}\t{why}\n");
    }
    for (group, verdict) in &r.groups {
        text += &format!("{verdict}\t{group}::\t(module verdict)\n");
    }
    write(&dir.join("results.tsv"), &text)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Runs `cmd` with stdout read line by line (each line to `stdout_log`,
/// and to the terminal when `progress` turns it into a message) and stderr
/// to `stderr_log`.
fn run_streaming(
    cmd: &mut Command,
    stdout_log: &Path,
    stderr_log: &Path,
    mut progress: impl FnMut(&str) -> Option<String>,
) -> Result<ExitStatus, String> {
    let err = File::create(stderr_log).map_err(|e| format!("{}: {e}", stderr_log.display()))?;
    let mut log = File::create(stdout_log).map_err(|e| format!("{}: {e}", stdout_log.display()))?;
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(err);
    let mut child = cmd.spawn().map_err(|e| format!("cannot start `{}`: {e}", show(cmd)))?;
    let stdout = child.stdout.take().ok_or("no stdout pipe")?;
    for line in BufReader::new(stdout).split(b'\n') {
        let line = line.map_err(|e| e.to_string())?;
        let _ = log.write_all(&line);
        let _ = log.write_all(b"\n");
        if let Some(msg) = progress(&String::from_utf8_lossy(&line)) {
            println!("{msg}");
        }
    }
    child.wait().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_name_module_and_verdict() {
        assert_eq!(regrtest_progress("0:00:03 load avg: 2.93 [ 1/17] test_os passed"), Some(("test_os", "passed")));
        assert_eq!(
            regrtest_progress("0:00:41 load avg: 2.51 [12/17/1] test_threading failed (1 failure)"),
            Some(("test_threading", "failed"))
        );
        assert_eq!(
            regrtest_progress("0:00:19 load avg: 3.15 [ 8/17] test_zipfile passed (31.2 sec)"),
            Some(("test_zipfile", "passed"))
        );
        assert_eq!(regrtest_progress("0:01:26 load avg: 1.33 running (1): test_socket (44.5 sec)"), None);
    }

    #[test]
    fn flags_come_from_the_first_flags_comment() {
        let src = "'use strict';\n// Flags: --expose-internals --no-warnings\n// Flags: --other\n";
        assert_eq!(node_flags(src), ["--expose-internals", "--no-warnings"]);
        assert!(node_flags("// no flags here\n").is_empty());
    }

    #[test]
    fn event_lines_are_counted_by_type() {
        let mut events = BTreeMap::new();
        count_events(
            "x\n{\"rampart\":1,\"type\":\"alert\",\"cat\":\"file\"}\n{\"rampart\":1,\"type\":\"alert\"}\n",
            &mut events,
        );
        assert_eq!(events.get("alert"), Some(&2));
    }
}
