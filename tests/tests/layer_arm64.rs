//! The arm64 layer library, run: `librampart.so` for aarch64 (what
//! `cargo xtask layer` built, or `RAMPART_ARM64_LIB`) loaded into an
//! aarch64 C program (tests/runtimes/c/arm64.c) under `qemu-aarch64`, with
//! Debian's arm64 glibc (`/usr/aarch64-linux-gnu`, apt `libc6-arm64-cross`)
//! as the guest's root for libraries. Block and allow for open, connect and
//! exec: each denied call fails with EACCES and writes one `block` line,
//! each allowed one succeeds and writes none, and nothing a denied call
//! would have done happened (files, connections, a program's effect).
//!
//! `#[ignore]`d: it needs the cross-built library and qemu-user, which
//! `cargo xtask test` provides in its `layer` and `layer-arm64` steps
//! (`cargo test -p rampart-tests --test layer_arm64 -- --ignored`); a plain
//! `cargo test --workspace` reports it as ignored.
//!
//! LD_PRELOAD and the RAMPART_* settings are given to the guest only (`-E`),
//! never to qemu itself. What qemu-user cannot show: without binfmt_misc an
//! `execve` inside the guest is the host kernel's, so an aarch64 program
//! cannot be exec'd as it is. The allowed exec therefore runs
//! `qemu-aarch64 PROG child ROOT`, which carries the environment the library
//! re-injected into a new guest: its result line proves the exec happened,
//! its own block line that the library was loaded into the child. The
//! denied exec is the host's `touch`, whose file would show if it ran.
//! Exec is checked for `execv`; the other exec entry points, the vfork and
//! posix_spawn paths, and the Runtime API are covered natively by
//! preload_c.rs and the runtime suites, not here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use rampart_event::EventType::{Alert, Block, Profile, Status};
use rampart_tests::cprog;
use rampart_tests::runtimes_common::{
    ALLOWED_DATA, Peers, Sandbox, TempDir, Want, assert_events, assert_quiet_outside_cases, base_file_rules,
    policy_json, realpath, run_fixture,
};
use rampart_tests::{target_dir, write_policy};
use serde_json::{Value, json};

/// qemu starts in tens of milliseconds; the exec case starts a second one.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Where `libc6-arm64-cross` puts the arm64 glibc and its loader.
const SYSROOT: &str = "/usr/aarch64-linux-gnu";

/// The aarch64 library under test.
fn arm64_lib() -> PathBuf {
    let path = std::env::var_os("RAMPART_ARM64_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("aarch64-unknown-linux-gnu/release/librampart.so"));
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo xtask layer` (or set RAMPART_ARM64_LIB)",
        path.display()
    );
    path
}

/// qemu-aarch64 on PATH, as an absolute path with links resolved (what the
/// library reports as the exec target).
fn qemu() -> String {
    let found = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("qemu-aarch64")).find(|p| p.is_file()));
    let path = found.unwrap_or_else(|| panic!("qemu-aarch64 is not on PATH: apt-get install qemu-user"));
    realpath(&path.display().to_string())
}

/// The program, compiled for aarch64 once per run of the suite.
fn program() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        assert!(
            Path::new(SYSROOT).join("lib/ld-linux-aarch64.so.1").is_file(),
            "{SYSROOT} has no arm64 glibc: apt-get install libc6-arm64-cross"
        );
        let dir = cprog::suite_dir("layer_arm64");
        let out = dir.join("arm64");
        compile_aarch64("arm64.c", &out);
        out
    })
}

/// zig's C compiler (the ziglang wheel that `cargo xtask layer` installs
/// for cargo-zigbuild) for aarch64 against glibc 2.17, the floor the layer
/// library is built for; compiled to a private name and renamed into place.
fn compile_aarch64(source: &str, out: &Path) {
    let src = cprog::source_dir().join(source);
    let tmp = out.with_file_name(format!(".arm64.{}.tmp", std::process::id()));
    let mut cc = Command::new("python3");
    cc.args(["-m", "ziglang", "cc", "-target", "aarch64-linux-gnu.2.17", "-O2", "-Wall", "-Wextra", "-Werror"])
        .arg("-o")
        .arg(&tmp)
        .arg(&src);
    let output = cc.output().unwrap_or_else(|e| panic!("cannot run python3 -m ziglang ({e})"));
    assert!(
        output.status.success(),
        "zig cc for aarch64 failed on {} (pip install ziglang; `cargo xtask layer` installs it):\n{}",
        src.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&tmp, out).unwrap_or_else(|e| panic!("rename {} -> {}: {e}", tmp.display(), out.display()));
}

/// The ELF machine of a file (e_machine at offset 18, little endian).
fn elf_machine(path: &Path) -> u16 {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(bytes.len() > 20 && bytes.starts_with(b"\x7fELF"), "{} is not an ELF file", path.display());
    u16::from_le_bytes([bytes[18], bytes[19]])
}

const EM_AARCH64: u16 = 183;

/// One run of the program: its result lines by case (the exec'd child's
/// under "child") and the transcript.
struct Run {
    results: BTreeMap<String, Value>,
    t: rampart_tests::runtimes_common::Transcript,
}

fn run(sb: &Sandbox, peers: &Peers, policy: &Path, qemu: &str) -> Run {
    let prog = program();
    let mut cmd = Command::new(qemu);
    // The host qemu gets none of rampart's settings: they are the guest's.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("RAMPART_") || k == "LD_PRELOAD" || k.starts_with("QEMU_") {
            cmd.env_remove(&*k);
        }
    }
    cmd.args(["-L", SYSROOT])
        .arg("-E")
        .arg(format!("LD_PRELOAD={}", arm64_lib().display()))
        .arg("-E")
        .arg(format!("RAMPART_POLICY={}", policy.display()))
        // For the qemu-aarch64 the allowed exec starts (it has no -L).
        .arg("-E")
        .arg(format!("QEMU_LD_PREFIX={SYSROOT}"))
        .arg(prog)
        .arg(sb.path(""))
        .arg(qemu)
        .arg(peers.tcp_allowed_port().to_string())
        .arg(peers.tcp_denied_port().to_string())
        .arg(prog)
        .current_dir(sb.root());
    let t = run_fixture(&mut cmd, TIMEOUT);
    let mut results = BTreeMap::new();
    for line in t.stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("stdout line {line:?}: {e}"));
        let name = v["case"].as_str().unwrap_or_else(|| panic!("no case in {line}")).to_owned();
        assert!(results.insert(name.clone(), v).is_none(), "two result lines for {name}:\n{}", t.stdout);
    }
    Run { results, t }
}

impl Run {
    fn result(&self, case: &str) -> &Value {
        self.results.get(case).unwrap_or_else(|| {
            panic!(
                "case {case} printed no result (exit {:?})\nstdout:\n{}\nstderr:\n{}",
                self.t.code, self.t.stdout, self.t.raw_stderr
            )
        })
    }

    /// The case's ret, errno and data (when it has one) are `want`.
    fn expect(&self, case: &str, want: Value) {
        let got = self.result(case);
        for (k, v) in want.as_object().expect("an object") {
            assert_eq!(&got[k], v, "case {case}: `{k}`\nresult: {got}\nstderr:\n{}", self.t.raw_stderr);
        }
    }
}

#[test]
#[ignore = "needs `cargo xtask layer` and qemu-user: run by `cargo xtask test` (layer-arm64 step)"]
fn arm64_library_blocks_and_allows_open_connect_exec_under_qemu() {
    let lib = arm64_lib();
    assert_eq!(elf_machine(&lib), EM_AARCH64, "{} is not an aarch64 library", lib.display());
    let qemu = qemu();
    let prog = program();
    assert_eq!(elf_machine(prog), EM_AARCH64, "{} is not an aarch64 program", prog.display());

    let sb = Sandbox::new("layer-arm64");
    let peers = Peers::new();
    let mut file = base_file_rules();
    file.extend(sb.rules());
    let network = vec![format!("127.0.0.1:{}", peers.tcp_allowed_port())];
    let process = vec![qemu.clone()];
    let policies = TempDir::new("layer-arm64-policy");
    let policy = write_policy(policies.path(), &policy_json("block", &file, &network, &process));

    let r = run(&sb, &peers, &policy, &qemu);
    assert_eq!(r.t.code, Some(0), "the program failed\nstdout:\n{}\nstderr:\n{}", r.t.stdout, r.t.raw_stderr);
    let pid = r.result("open_allowed")["pid"].as_u64().expect("pid") as u32;

    // The library loaded in the guest, in block mode, from this policy.
    let started: Vec<_> = r
        .t
        .startup
        .events
        .iter()
        .filter(|e| {
            e.kind == Status && e.pid == pid && e.msg.as_deref().is_some_and(|m| m.starts_with("started: mode block"))
        })
        .collect();
    assert_eq!(started.len(), 1, "no `started: mode block` line from pid {pid}:\n{}", r.t.raw_stderr);
    assert_quiet_outside_cases(&r.t, &[Block, Alert, Profile]);

    // open
    r.expect("open_allowed", json!({"ret": 0, "errno": 0, "data": ALLOWED_DATA}));
    assert_events(r.t.case("open_allowed"), &[]);
    r.expect("open_denied", json!({"ret": -1, "errno": 13, "data": ""}));
    assert_events(r.t.case("open_denied"), &[Want::file(Block, sb.path("secret/x"), "r").pid(pid)]);
    r.expect("open_write_denied", json!({"ret": -1, "errno": 13}));
    assert_events(r.t.case("open_write_denied"), &[Want::file(Block, sb.path("ro/data.txt"), "w").pid(pid)]);

    // connect: the allowed listener got the program's bytes, the denied
    // one no connection at all.
    r.expect("connect_allowed", json!({"ret": 0, "errno": 0}));
    assert_events(r.t.case("connect_allowed"), &[]);
    r.expect("connect_denied", json!({"ret": -1, "errno": 13}));
    let target = format!("127.0.0.1:{}", peers.tcp_denied_port());
    assert_events(r.t.case("connect_denied"), &[Want::net(Block, target).pid(pid)]);
    let log = peers.drain();
    assert_eq!((log.tcp_allowed_accepted, log.tcp_denied_accepted), (1, 0), "connections accepted: {log:?}");

    // exec allowed: the child ran (its line), is another process, read
    // the allowed file, and was itself protected (its denied open).
    r.expect("exec_allowed", json!({"ret": 0, "errno": 0}));
    let child = r.result("child");
    let child_pid = child["pid"].as_u64().expect("child pid") as u32;
    assert_ne!(child_pid, pid, "the child line came from the parent: {child}");
    assert_eq!(child["ppid"].as_u64(), Some(u64::from(pid)), "the child's parent: {child}");
    r.expect(
        "child",
        json!({"ret": 0, "errno": 0, "data": ALLOWED_DATA, "denied_ret": -1, "denied_errno": 13, "denied_data": ""}),
    );
    assert_events(r.t.case("exec_allowed"), &[Want::file(Block, sb.path("secret/x"), "r").pid(child_pid)]);

    // exec denied: EACCES in the same process, and touch never ran.
    r.expect("exec_denied", json!({"ret": -1, "errno": 13}));
    let touched = sb.path("allowed/exec-denied-ran");
    let touch = realpath("/usr/bin/touch");
    assert_events(r.t.case("exec_denied"), &[Want::process(Block, touch).argv(&["touch", touched.as_str()]).pid(pid)]);

    // Nothing a denied call would have done: the sandbox is as it was.
    assert_eq!(sb.snapshot(), sb.initial_snapshot(), "the sandbox changed");
}
