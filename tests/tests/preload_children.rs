//! Children follow the policy of the process rampart started, not files or
//! variables the code can change: an exec'd child loads the root's
//! compiled policy from a sealed memfd, and nothing can rewrite it.

use std::path::Path;

use rampart_event::EventType;
use rampart_tests::{rampart_run, run, write_policy};

fn policy(dir: &Path) -> std::path::PathBuf {
    let d = dir.display();
    write_policy(
        dir,
        &format!(
            r#"{{"version":1,"mode":"block","block":["file"],
            "allow":{{"file":["r /usr/**","r /lib/**","r /etc/**","r /proc/**","rw /dev/null","rw {d}/policy.json","r {d}/ok"],
            "process":["/usr/bin/*"]}}}}"#
        ),
    )
}

/// The root rewrites the policy file with garbage before starting its
/// children: they still enforce the root's policy (no error line, the
/// secret is blocked in the child and in a grandchild).
#[test]
fn exec_children_use_the_roots_compiled_policy() {
    let dir = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(dir.path()).unwrap();
    let p = policy(&dir);
    std::fs::write(dir.join("secret"), "s3cr3t").unwrap();
    std::fs::write(dir.join("ok"), "fine").unwrap();
    let d = dir.display();
    let script = format!("echo '{{broken' > {d}/policy.json; cat {d}/ok; cat {d}/secret; sh -c 'cat {d}/secret'");
    let out = run(rampart_run(Some(&p), None).args(["/bin/sh", "-c", &script]));
    assert_eq!(out.stdout, "fine", "{out:#?}");
    assert!(out.of(EventType::Error).is_empty(), "{out:#?}");
    let blocks = out.with_target(EventType::Block, &format!("{d}/secret"));
    assert_eq!(blocks.len(), 2, "{out:#?}");
    // One from cat under sh, one from cat under the inner sh: different pids.
    assert_ne!(blocks[0].pid, blocks[1].pid);
    assert!(out.stderr.matches("Permission denied").count() == 2, "{out:#?}");
}

/// The snapshot cannot be written, even by a process the policy lets open
/// /proc for writing: the memfd is sealed.
#[test]
fn the_snapshot_is_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(dir.path()).unwrap();
    let p = write_policy(&dir, r#"{"version":1,"mode":"block","allow":{"file":["rw /**"],"process":["/usr/bin/*"]}}"#);
    // A grandchild script finds the snapshot's path in its environment
    // and tries to append to it and to truncate it.
    let script = dir.join("tamper.sh");
    std::fs::write(
        &script,
        "page=\"${RAMPART_SNAPSHOT#*:*:*:*:}\"; echo x >> \"$page\"; echo after-append; truncate -s 0 \"$page\"; \
         wc -c < \"$page\"\n",
    )
    .unwrap();
    let out = run(rampart_run(Some(&p), None).args(["/bin/sh", "-c"]).arg(format!("/bin/sh {}", script.display())));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"after-append"), "{out:#?}");
    let size: u64 = lines.get(1).and_then(|l| l.trim().parse().ok()).unwrap_or(0);
    assert!(size > 0, "the snapshot was emptied: {out:#?}");
    assert!(out.stderr.contains("I/O error") || out.stderr.contains("Operation not permitted"), "{out:#?}");
    assert!(out.stderr.contains("truncate") && out.stderr.contains("Operation not permitted"), "{out:#?}");
}

/// Compiles a C source from a string into `dir` with `cc`.
fn cc(dir: &Path, name: &str, src: &str, args: &[&str]) -> std::path::PathBuf {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, src).unwrap();
    let out = dir.join(name);
    let st = std::process::Command::new("cc").args(args).arg("-o").arg(&out).arg(&c).arg("-lpthread").status();
    assert!(st.is_ok_and(|s| s.success()), "cc failed for {name} (is gcc installed? apt-get install gcc)");
    out
}

/// Another preloaded library's constructor runs before rampart's: its
/// calls pass through unchecked (documented), nothing crashes, and from
/// the program's own start on everything is checked — including a call
/// made by a thread-specific-data destructor while a thread exits.
#[test]
fn before_the_constructor_and_during_thread_exit() {
    let dir = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::write(dir.join("secret"), "s3cr3t").unwrap();
    let d = dir.display();
    let early = cc(
        &dir,
        "libearly.so",
        &format!(
            r#"#include <fcntl.h>
            #include <unistd.h>
            int early_fd = -2;
            __attribute__((constructor)) static void early(void) {{ early_fd = open("{d}/secret", O_RDONLY); }}"#
        ),
        &["-shared", "-fPIC"],
    );
    let main = cc(
        &dir,
        "main",
        &format!(
            r#"#include <errno.h>
            #include <fcntl.h>
            #include <pthread.h>
            #include <stdio.h>
            #include <unistd.h>
            #include <dlfcn.h>
            static pthread_key_t key;
            static int at_exit_errno = -1;
            static void on_exit_of_thread(void *v) {{
                (void)v;
                int fd = open("{d}/secret", O_RDONLY);
                at_exit_errno = fd < 0 ? errno : 0;
            }}
            static void *body(void *v) {{ pthread_setspecific(key, (void *)1); return v; }}
            int main(void) {{
                int *early_fd = dlsym(RTLD_DEFAULT, "early_fd");
                pthread_key_create(&key, on_exit_of_thread);
                pthread_t t;
                pthread_create(&t, NULL, body, NULL);
                pthread_join(t, NULL);
                int fd = open("{d}/secret", O_RDONLY);
                printf("early=%s main=%s thread_exit=%d\n", early_fd && *early_fd >= 0 ? "opened" : "failed",
                       fd < 0 && errno == EACCES ? "EACCES" : "opened", at_exit_errno);
                return 0;
            }}"#
        ),
        &["-O2", "-ldl"],
    );
    let p = write_policy(
        &dir,
        r#"{"version":1,"mode":"block","allow":{"file":["r /usr/**","r /lib/**","r /etc/**"],"process":[]}}"#,
    );
    let mut cmd = rampart_run(Some(&p), None);
    cmd.arg(&main);
    // rampart run puts its library first; the other library goes after it
    // (as LD_PRELOAD=librampart.so:libearly.so), so its constructor runs first.
    cmd.env("LD_PRELOAD", &early);
    let out = run(&mut cmd);
    assert_eq!(out.code, Some(0), "{out:#?}");
    // 13 = EACCES: the destructor's open at thread exit was blocked too.
    assert_eq!(out.stdout, "early=opened main=EACCES thread_exit=13\n", "{out:#?}");
    assert_eq!(out.with_target(EventType::Block, &format!("{d}/secret")).len(), 2, "{out:#?}");
}

/// With the root's stderr a regular file opened without `O_APPEND`
/// (`2> file`), children's lines (appended) and the root's (at its offset)
/// must not overwrite each other: every line survives, in order.
#[test]
fn lines_survive_a_stderr_redirected_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.txt");
    let file = std::fs::File::create(&log).unwrap();
    let status = rampart_run(None, Some("profile"))
        .args(["/bin/sh", "-c", "echo before >&2; /bin/true; echo after >&2"])
        .stderr(file)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at = |needle: &str| lines.iter().position(|l| l.contains(needle));
    let (before, exec, after) = (at("before"), at("\"target\":\"/usr/bin/true\""), at("after"));
    assert!(before.is_some() && exec.is_some() && after.is_some(), "{text}");
    assert!(before < exec && exec < after, "{text}");
}

/// The arena's block-mode policy (Python may run; `ro/` is read-only,
/// `secret/x` denied), written to a file, and `rampart run` with it.
fn arena_run(a: &rampart_tests::evasion::Arena, dir: &Path) -> std::process::Command {
    let p = write_policy(dir, &a.policy_text());
    let mut cmd = rampart_run(Some(&p), None);
    cmd.envs(a.env()).current_dir(a.sb.path("allowed"));
    cmd
}

/// A child keeps no descriptor of the library's: a program that checks
/// which descriptors it got (CPython's test_subprocess does, in
/// test_pass_fds_redirected) finds only its own. The root keeps its
/// control page, snapshot and log, high and close-on-exec.
#[test]
fn children_hold_no_descriptor_of_the_library() {
    let a = rampart_tests::evasion::Arena::new("ch-fds");
    let dir = tempfile::tempdir().unwrap();
    let py = &rampart_tests::evasion::python().0;
    // Descriptors from 900 up are the library's range; the test harness
    // may pass lower ones of its own.
    let lister = r#"import fcntl, os
def fds(low):
    out = []
    for n in sorted(os.listdir('/proc/self/fd'), key=int):
        try:
            target = os.readlink('/proc/self/fd/' + n)
        except OSError:
            continue
        if int(n) >= low and not target.startswith('/proc/'):
            cloexec = fcntl.fcntl(int(n), fcntl.F_GETFD) & fcntl.FD_CLOEXEC
            out.append((int(n), target.split(' ')[0].split(':[')[0], bool(cloexec)))
    return out
"#;
    let child = format!(
        "{lister}import sys\nprint(sys.argv[1], fds(3), flush=True)\ntry:\n    open(os.environ['EV_SECRET'])\nexcept OSError:\n    pass\n"
    );
    std::fs::write(a.sb.path("allowed/fds.py"), child).unwrap();
    let code = format!(
        r#"{lister}import subprocess, sys
print('root', fds(900), flush=True)
child = os.environ['EV_ALLOWED'] + '/fds.py'
subprocess.run([sys.executable, '-I', child, 'child'], pass_fds=())
r = subprocess.run([sys.executable, '-I', child, 'captured'], capture_output=True)
print(r.stdout.decode(), end='', flush=True)
"#
    );
    let out = run(arena_run(&a, dir.path()).args([py, "-I", "-c", &code]));
    let lines: Vec<&str> = out.stdout.lines().collect();
    // The root: control page, snapshot, log (the pipe of its stderr).
    let root = lines.first().copied().unwrap_or_default();
    for held in ["'/memfd:rampart-control', True)", "'/memfd:rampart-policy', True)", "'pipe', True)"] {
        assert!(root.contains(held), "the root does not hold {held}: {out:#?}");
    }
    assert!(!root.contains("False"), "a descriptor of the library's survives exec: {out:#?}");
    assert!(root.matches("(9").count() == 3, "not three descriptors at 900 and up: {out:#?}");
    assert_eq!(lines.get(1), Some(&"child []"), "{out:#?}");
    assert_eq!(lines.get(2), Some(&"captured []"), "{out:#?}");
    // Both children's lines are in the root's log, the captured one's too,
    // without a descriptor for it.
    assert_eq!(out.with_target(EventType::Block, &a.secret()).len(), 2, "{out:#?}");
}

/// CPython's own check of the descriptors a child gets.
#[test]
fn cpython_pass_fds_tests_pass_under_the_library() {
    let py = &rampart_tests::evasion::python().0;
    let out = run(rampart_run(None, Some("profile")).args([
        py,
        "-m",
        "test",
        "test_subprocess",
        "-m",
        "test_pass_fds_redirected",
        "-m",
        "test_pass_fds",
        "-m",
        "test_close_fds",
    ]));
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(out.stdout.contains("SUCCESS"), "{out:#?}");
}

/// Code in the root `dup2`s a file it may only read over the root's log
/// descriptor: a child's line (its stderr captured, so it reaches for the
/// root's log) must not be written into that file, nor the root's own.
#[test]
fn lines_are_never_written_into_a_file_put_at_the_logs_number() {
    let a = rampart_tests::evasion::Arena::new("ch-logfd");
    let victim = a.sb.path("ro/victim");
    std::fs::write(&victim, "read-only\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let py = &rampart_tests::evasion::python().0;
    let code = format!(
        r#"import os, subprocess, sys
fd = os.open({victim:?}, os.O_RDONLY)
for n in os.listdir('/proc/self/fd'):
    try:
        target = os.readlink('/proc/self/fd/' + n)
    except OSError:
        continue
    if int(n) >= 900 and not target.startswith('/memfd:'):
        os.dup2(fd, int(n))
r = subprocess.run([sys.executable, '-I', '-c', 'import os\ntry:\n    open(os.environ["EV_SECRET"])\nexcept OSError:\n    pass'], capture_output=True)
print('child-stderr', r.stderr.decode().count('"type":"block"'), flush=True)
try:
    open(os.environ['EV_SECRET'])
except OSError:
    pass
"#
    );
    let out = run(arena_run(&a, dir.path()).args([py, "-I", "-c", &code]));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "read-only\n", "{out:#?}");
    // The child's line went to its own stderr instead; the root's to its.
    assert!(out.stdout.contains("child-stderr 1"), "{out:#?}");
    assert_eq!(out.with_target(EventType::Block, &a.secret()).len(), 1, "{out:#?}");
}

/// A root that replaces itself by exec (a shell's `exec`) keeps its log:
/// the new program's children still write to the original stderr even
/// when their own is captured.
#[test]
fn the_log_survives_an_exec_in_place() {
    let a = rampart_tests::evasion::Arena::new("ch-log-exec");
    let dir = tempfile::tempdir().unwrap();
    let py = &rampart_tests::evasion::python().0;
    let code = r#"import os, subprocess, sys
r = subprocess.run([sys.executable, '-I', '-c', 'import os\ntry:\n    open(os.environ["EV_SECRET"])\nexcept OSError:\n    pass'], capture_output=True)
print('child-stderr', r.stderr.decode().count('"type":"block"'), flush=True)
"#;
    std::fs::write(a.sb.path("allowed/exec_root.py"), code).unwrap();
    let script = format!("exec {py} -I {}", a.sb.path("allowed/exec_root.py"));
    let out = run(arena_run(&a, dir.path()).args(["/bin/sh", "-c", &script]));
    assert!(out.stdout.contains("child-stderr 0"), "{out:#?}");
    assert_eq!(out.with_target(EventType::Block, &a.secret()).len(), 1, "{out:#?}");
    assert!(out.of(EventType::Error).is_empty(), "{out:#?}");
}

/// Under Lambda every process maps the root's decision counters writable.
/// Code in the root `dup2`s a file it may only read over the counters'
/// number: a child must not map that file and count into it.
#[test]
fn children_never_count_into_a_file_put_at_the_counters_number() {
    let a = rampart_tests::evasion::Arena::new("ch-counters");
    let victim = a.sb.path("ro/victim");
    let original = "A".repeat(8192);
    std::fs::write(&victim, &original).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let py = &rampart_tests::evasion::python().0;
    let code = format!(
        r#"import os, subprocess, sys
fd = os.open({victim:?}, os.O_RDONLY)
swapped = 0
for n in os.listdir('/proc/self/fd'):
    try:
        target = os.readlink('/proc/self/fd/' + n)
    except OSError:
        continue
    if target.startswith('/memfd:rampart-counters'):
        os.dup2(fd, int(n))
        swapped += 1
print('swapped', swapped, flush=True)
subprocess.run([sys.executable, '-I', '-c', 'import json, os\nfor _ in range(50):\n    open("/etc/hostname").close()'])
"#
    );
    // The Runtime API need not answer: the relay only has to start, and
    // with it the counters.
    let out = run(arena_run(&a, dir.path()).env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9").args([py, "-I", "-c", &code]));
    assert!(out.stdout.contains("swapped 1"), "the counters were not found: {out:#?}");
    assert!(std::fs::read(&victim).unwrap() == original.as_bytes(), "the child counted into the file: {out:#?}");
}
