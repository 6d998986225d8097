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
