//! Exec evasions (issue 13, rows 2, 3 (exec half), 9 and 10, and the
//! classics): each attack runs bare, where it must run the denied program
//! (or read the secret), then guarded in block mode, where it must not.
//! Races run for at most 3 s and must score zero.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use rampart_event::EventType;
use rampart_policy::Category;
use rampart_tests::cprog;
use rampart_tests::evasion::{Arena, Lang, Tries};

/// The C attack program (`tests/runtimes/c/evasion_exec.c`).
fn cprog() -> &'static PathBuf {
    static PROG: OnceLock<PathBuf> = OnceLock::new();
    PROG.get_or_init(|| {
        let out = cprog::suite_dir("evasion_exec").join("evasion_exec");
        cprog::compile("evasion_exec.c", &out, &["-O2", "-Wall", "-Wextra", "-Werror", "-pthread"]);
        out
    })
}

/// Blocked, and by a process decision: no file denial on the way (which
/// would stop the attack before it got to the exec, proving nothing).
fn process_blocked(t: &Tries) {
    t.assert_blocked();
    let blocks = t.guarded.of(EventType::Block);
    assert!(
        blocks.iter().any(|e| e.cat == Some(Category::Process)),
        "{}: no process block line\n{:#?}",
        t.name,
        t.guarded
    );
    assert!(
        blocks.iter().all(|e| e.cat != Some(Category::File)),
        "{}: a file denial stopped the attack first\n{:#?}",
        t.name,
        t.guarded
    );
}

fn write_script(path: &str, text: &str) {
    std::fs::write(path, text).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

// ---------------------------------------------------------------------------
// Row 2: what is decided on is what runs.

#[test]
fn symlink_swapped_between_check_and_exec() {
    let a = Arena::new("exec-symlink");
    // A thread points `link` at the allowed program and the denied one in
    // turn (each swap one atomic rename); the main thread runs `link`.
    process_blocked(&a.attempt("symlink-swap", Lang::Python, SYMLINK_SWAP, &[]));
}

/// Row 2 where `openat2` is missing (kernels before 5.6: the library
/// opens the program with a plain open and checks where it landed).
#[test]
fn symlink_swapped_between_check_and_exec_without_openat2() {
    let mut a = Arena::new("exec-symlink-no2");
    a.process.push(cprog().display().to_string());
    let py = &rampart_tests::evasion::python().0;
    let args = ["noopenat2", py.as_str(), "-I", "-c", SYMLINK_SWAP];
    process_blocked(&a.attempt("symlink-swap-no-openat2", Lang::Program(cprog().clone()), "", &args));
}

const SYMLINK_SWAP: &str = r#"
import os, subprocess, tempfile, threading, time
d = tempfile.mkdtemp(dir=os.environ['EV_ALLOWED'])
link = os.path.join(d, 'link')
stop = False
def swap():
    i = 0
    while not stop:
        tmp = os.path.join(d, 'tmp-link')
        os.symlink(os.environ['EV_DENIED_PROG'] if i % 2 else os.environ['EV_OK_PROG'], tmp)
        os.replace(tmp, link)
        i += 1
os.symlink(os.environ['EV_OK_PROG'], link)
t = threading.Thread(target=swap)
t.start()
end = time.monotonic() + 2.5
while time.monotonic() < end:
    try:
        subprocess.run([link, 'HIT'])
    except OSError:
        pass
stop = True
t.join()
"#;

#[test]
fn directory_renamed_to_a_link_between_check_and_exec() {
    let mut a = Arena::new("exec-rename");
    // The policy allows ALLOWED/run/ok. A thread renames, in turn, a real
    // directory holding an allowed program and a link to a directory
    // holding the denied one onto ALLOWED/run.
    let evil = a.sb.path("evil");
    std::fs::create_dir_all(&evil).expect("mkdir");
    std::fs::copy(a.denied_program(), format!("{evil}/ok")).expect("copy");
    a.process.push(a.sb.path("allowed/run/ok"));
    // The attack copies the allowed program.
    a.file.push(format!("r {}/**", a.sb.path("bin")));
    let code = r#"
import os, shutil, subprocess, threading, time
d = os.environ['EV_ALLOWED']
run = os.path.join(d, 'run')
for n in ('run', 'real', 'lnk'):
    p = os.path.join(d, n)
    if os.path.islink(p):
        os.unlink(p)
    elif os.path.isdir(p):
        shutil.rmtree(p)
os.mkdir(os.path.join(d, 'real'))
shutil.copy(os.environ['EV_OK_PROG'], os.path.join(d, 'real', 'ok'))
os.symlink(os.path.join(os.environ['EV_ROOT'], 'evil'), os.path.join(d, 'lnk'))
os.rename(os.path.join(d, 'real'), run)
stop = False
def swap():
    while not stop:
        os.rename(run, os.path.join(d, 'real'))
        os.rename(os.path.join(d, 'lnk'), run)
        os.rename(run, os.path.join(d, 'lnk'))
        os.rename(os.path.join(d, 'real'), run)
t = threading.Thread(target=swap)
t.start()
end = time.monotonic() + 2.5
while time.monotonic() < end:
    try:
        subprocess.run([os.path.join(run, 'ok'), 'HIT'])
    except OSError:
        pass
stop = True
t.join()
"#;
    process_blocked(&a.attempt("rename-swap", Lang::Python, code, &[]));
}

// ---------------------------------------------------------------------------
// Row 3, exec half: the path is captured once.

/// Every exec entry point the path goes through as a string (`fexecve`
/// and `execveat(AT_EMPTY_PATH)` take a descriptor; `system` and `popen`
/// run `/bin/sh`).
const ENTRY_POINTS: [&str; 10] =
    ["execve", "execv", "execvp", "execvpe", "execl", "execle", "execlp", "execveat", "posix_spawn", "posix_spawnp"];

#[test]
fn c_thread_rewrites_the_path_buffer_after_the_check() {
    let mut a = Arena::new("exec-buf");
    a.process.push(cprog().display().to_string());
    let (ok, denied) = (a.sb.path("bin/ok"), a.denied_program());
    for entry in ENTRY_POINTS {
        let t =
            a.attempt(&format!("buffer-{entry}"), Lang::Program(cprog().clone()), "", &["buffer", entry, &ok, &denied]);
        process_blocked(&t);
    }
}

/// Row 2 from C, through every entry point: a thread swaps a symlink
/// between the allowed and the denied program.
#[test]
fn c_symlink_swapped_under_every_entry_point() {
    let mut a = Arena::new("exec-link");
    a.process.push(cprog().display().to_string());
    let (ok, denied) = (a.sb.path("bin/ok"), a.denied_program());
    for entry in ENTRY_POINTS {
        let dir = a.sb.path(&format!("allowed/{entry}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let t = a.attempt(
            &format!("link-{entry}"),
            Lang::Program(cprog().clone()),
            "",
            &["link", entry, &dir, &ok, &denied],
        );
        process_blocked(&t);
    }
}

// ---------------------------------------------------------------------------
// Row 10: the #! interpreter is a program too.

#[test]
fn allowed_script_whose_interpreter_is_denied() {
    let a = Arena::new("exec-shebang");
    let script = a.sb.path("bin/script");
    // The kernel runs `deny/echo HIT bin/script`: HIT is the #! argument.
    write_script(&script, &format!("#!{} HIT\n", a.denied_program()));
    let code = "import os, subprocess\ntry:\n    subprocess.run([os.environ['EV_ROOT'] + '/bin/script'])\nexcept OSError as e:\n    print('no', e)";
    let t = a.attempt("shebang-denied", Lang::Python, code, &[]);
    t.assert_blocked();
    assert!(
        !t.guarded.with_target(EventType::Block, &a.denied_program()).is_empty(),
        "the block line names the interpreter\n{:#?}",
        t.guarded
    );
}

#[test]
fn nested_script_whose_inner_interpreter_is_denied() {
    let mut a = Arena::new("exec-shebang-nested");
    // outer's interpreter is inner (allowed), whose interpreter is denied.
    let inner = a.sb.path("bin/inner");
    write_script(&inner, &format!("#!{} HIT\n", a.denied_program()));
    write_script(&a.sb.path("bin/outer"), &format!("#!{inner}\n"));
    a.process.push(a.sb.path("bin/*"));
    let code = "import os, subprocess\ntry:\n    subprocess.run([os.environ['EV_ROOT'] + '/bin/outer'])\nexcept OSError as e:\n    print('no', e)";
    process_blocked(&a.attempt("shebang-nested", Lang::Python, code, &[]));
}

/// Not an attack: scripts run as before, with the arguments the kernel
/// gives them ($0 the script's path as the caller spelled it).
#[test]
fn scripts_keep_their_arguments() {
    let mut a = Arena::new("exec-scripts");
    // The shell reads the scripts.
    a.file.push(format!("r {}/**", a.sb.path("bin")));
    write_script(&a.sb.path("bin/show"), "#!/bin/sh -e\necho \"HIT 0=$0 1=$1 2=$2\"\n");
    write_script(&a.sb.path("bin/outer"), &format!("#!{}\n", a.sb.path("bin/show")));
    let code = "import os, subprocess\nr = os.environ['EV_ROOT']\nsubprocess.run([r + '/bin/show', 'a b', 'c'])\nsubprocess.run([r + '/bin/outer', 'x'])\nos.chdir(r + '/bin')\nsubprocess.run(['./show', 'rel'])";
    let t = a.attempt("scripts-run", Lang::Python, code, &[]);
    t.assert_works_bare();
    assert_eq!(t.guarded.stdout, t.bare.stdout, "{:#?}", t.guarded);
    assert!(t.guarded.of(EventType::Block).is_empty(), "{:#?}", t.guarded);
    let root = a.sb.path("");
    assert_eq!(
        t.bare.stdout,
        format!(
            "HIT 0={root}/bin/show 1=a b 2=c\nHIT 0={root}/bin/show 1={root}/bin/outer 2=x\nHIT 0=./show 1=rel 2=\n"
        ),
        "the kernel's own argv for scripts (nested: the inner script's name, then the outer's)"
    );
}

/// Not an attack: a script run through a descriptor behaves as the
/// kernel makes it behave: it runs when its interpreter can open
/// `/dev/fd/N[/name]`, and fails with `ENOENT` when the descriptor is
/// close-on-exec.
#[test]
fn scripts_run_through_descriptors_as_the_kernel_runs_them() {
    let mut a = Arena::new("exec-fd-scripts");
    a.process.push(cprog().display().to_string());
    a.file.push(format!("r {}/**", a.sb.path("bin")));
    write_script(&a.sb.path("bin/show"), "#!/bin/sh\necho \"HIT $1 $2\"\n");
    let t = a.attempt("fd-scripts", Lang::Program(cprog().clone()), "", &["fd-script", &a.sb.path("bin"), "show"]);
    t.assert_works_bare();
    assert_eq!(
        t.bare.stdout,
        "HIT fexecve inherited\nHIT execveat inherited\nfexecve cloexec: No such file or directory\n\
         execveat cloexec: No such file or directory\n"
    );
    assert_eq!(t.guarded.stdout, t.bare.stdout, "{:#?}", t.guarded);
}

// ---------------------------------------------------------------------------
// Row 9: spawn file actions.

#[test]
fn posix_spawn_opens_the_secret_for_the_child() {
    let a = Arena::new("exec-spawn-open");
    let code = r#"
import os
pid = os.posix_spawn('/bin/sh', ['sh', '-c', 'read l <&3; echo HIT $l'], os.environ,
                     file_actions=[(os.POSIX_SPAWN_OPEN, 3, os.environ['EV_SECRET'], os.O_RDONLY, 0)])
os.waitpid(pid, 0)
"#;
    let code = format!("try:\n{}\nexcept OSError as e:\n    print('no', e)", indent(code));
    let t = a.attempt("spawn-open", Lang::Python, &code, &[]);
    t.assert_blocked();
    assert!(!t.guarded.with_target(EventType::Block, &a.secret()).is_empty(), "{:#?}", t.guarded);
}

/// The path of a spawn `OPEN` action is a symlink a thread swaps between
/// an allowed file and the secret: the child must get the file checked.
#[test]
fn posix_spawn_open_of_a_swapped_symlink() {
    let a = Arena::new("exec-spawn-open-swap");
    a.attempt("spawn-open-swap", Lang::Python, SPAWN_OPEN_SWAP, &[]).assert_blocked();
}

/// The same where `openat2` is missing.
#[test]
fn posix_spawn_open_of_a_swapped_symlink_without_openat2() {
    let mut a = Arena::new("exec-spawn-open-swap-no2");
    a.process.push(cprog().display().to_string());
    let py = &rampart_tests::evasion::python().0;
    let args = ["noopenat2", py.as_str(), "-I", "-c", SPAWN_OPEN_SWAP];
    a.attempt("spawn-open-swap-no-openat2", Lang::Program(cprog().clone()), "", &args).assert_blocked();
}

const SPAWN_OPEN_SWAP: &str = r#"
import os, tempfile, threading, time
d = tempfile.mkdtemp(dir=os.environ['EV_ALLOWED'])
ok = os.path.join(d, 'ok')
with open(ok, 'w') as f:
    f.write('fine\n')
link = os.path.join(d, 'link')
os.symlink(ok, link)
stop = False
def swap():
    i = 0
    while not stop:
        tmp = os.path.join(d, 'tmp')
        os.symlink(os.environ['EV_SECRET'] if i % 2 else ok, tmp)
        os.replace(tmp, link)
        i += 1
t = threading.Thread(target=swap)
t.start()
end = time.monotonic() + 2.5
while time.monotonic() < end:
    try:
        pid = os.posix_spawn('/bin/sh', ['sh', '-c', 'read l <&3; [ "$l" = fine ] || echo HIT $l'], os.environ,
                             file_actions=[(os.POSIX_SPAWN_OPEN, 3, link, os.O_RDONLY, 0)])
        os.waitpid(pid, 0)
    except OSError:
        pass
stop = True
t.join()
"#;

#[test]
fn c_posix_spawn_chdir_then_relative_open_of_the_secret() {
    let mut a = Arena::new("exec-spawn-chdir");
    a.process.push(cprog().display().to_string());
    let dir = a.sb.path("secret");
    let t = a.attempt("spawn-chdir", Lang::Program(cprog().clone()), "", &["spawn-chdir", &dir, "x"]);
    t.assert_blocked();
    assert!(!t.guarded.with_target(EventType::Block, &a.secret()).is_empty(), "{:#?}", t.guarded);
}

/// Not an attack: dup2 onto every number the library would use for the
/// exec descriptor does not redirect the exec.
#[test]
fn c_posix_spawn_dup2_onto_high_descriptors_runs_the_checked_program() {
    let mut a = Arena::new("exec-spawn-dup2");
    a.process.push(cprog().display().to_string());
    let echo = a.sb.path("bin/echo-ok");
    let t = a.attempt("spawn-dup2", Lang::Program(cprog().clone()), "", &["spawn-dup2", &echo, "HIT"]);
    t.assert_works_bare();
    assert_eq!(t.guarded.stdout, "HIT\n", "{:#?}", t.guarded);
}

/// Not an attack: a `closefrom` that leaves no number for the exec
/// descriptor still runs the checked program (by its real path), and
/// still denies a denied one.
#[test]
fn c_posix_spawn_closefrom_runs_the_checked_program() {
    let mut a = Arena::new("exec-spawn-closefrom");
    a.process.push(cprog().display().to_string());
    let echo = a.sb.path("bin/echo-ok");
    let t = a.attempt("spawn-closefrom", Lang::Program(cprog().clone()), "", &["spawn-closefrom", &echo, "HIT"]);
    t.assert_works_bare();
    assert_eq!(t.guarded.stdout, "HIT\n", "{:#?}", t.guarded);
    let denied = a.denied_program();
    a.attempt("spawn-closefrom-denied", Lang::Program(cprog().clone()), "", &["spawn-closefrom", &denied, "HIT"])
        .assert_blocked();
}

/// A denied spawn changes nothing: its `OPEN ... O_TRUNC` of an allowed
/// file is not performed.
#[test]
fn c_denied_posix_spawn_truncates_nothing() {
    let mut a = Arena::new("exec-spawn-trunc");
    a.process.push(cprog().display().to_string());
    let file = a.sb.path("allowed/keep");
    let denied = a.denied_program();
    let t = a.attempt("spawn-trunc", Lang::Program(cprog().clone()), "", &["spawn-trunc", &file, &denied, "HIT"]);
    process_blocked(&t);
    assert_eq!(t.bare_hits(), 2, "the program ran and the file was truncated\n{:#?}", t.bare);
}

/// A file action the library cannot read (a tag no glibc version has)
/// is denied in block mode: what it would do in the child is unknown.
#[test]
fn c_posix_spawn_with_an_unknown_file_action() {
    let mut a = Arena::new("exec-spawn-unknown");
    a.process.push(cprog().display().to_string());
    let echo = a.sb.path("bin/echo-ok");
    let t = a.attempt("spawn-unknown", Lang::Program(cprog().clone()), "", &["spawn-unknown", &echo, "HIT"]);
    process_blocked(&t);
    assert!(!t.guarded.with_target(EventType::Block, &echo).is_empty(), "{:#?}", t.guarded);
}

fn indent(code: &str) -> String {
    code.lines().map(|l| format!("    {l}\n")).collect()
}

// ---------------------------------------------------------------------------
// The execvp false denial.

/// Not an attack: a directory named like the program earlier in `PATH` is
/// skipped by glibc's execvp, and so by the check.
#[test]
fn execvp_skips_a_directory_of_the_programs_name() {
    let mut a = Arena::new("exec-execvp-dir");
    a.process.push(cprog().display().to_string());
    let first = a.sb.path("allowed/first");
    std::fs::create_dir_all(format!("{first}/echo-ok")).expect("mkdir");
    let code = format!("PATH={first}:{} exec {} execvp echo-ok HIT", a.sb.path("bin"), cprog().display());
    let t = a.attempt("execvp-dir", Lang::Shell, &code, &[]);
    t.assert_works_bare();
    assert_eq!(t.guarded.stdout, "HIT\n", "{:#?}", t.guarded);
    assert!(t.guarded.of(EventType::Block).is_empty(), "{:#?}", t.guarded);
}

/// Not an attack: glibc's execvp runs a file the kernel refuses
/// (`ENOEXEC`: no `#!`, not ELF) with `/bin/sh`, and so does the check.
#[test]
fn execvp_runs_a_script_without_a_shebang_line_with_the_shell() {
    let mut a = Arena::new("exec-execvp-sh");
    a.process.push(cprog().display().to_string());
    a.file.push(format!("r {}/**", a.sb.path("bin")));
    write_script(&a.sb.path("bin/plain"), "echo \"HIT $0 $1\"\n");
    let code = format!("PATH={} exec {} execvp plain arg", a.sb.path("bin"), cprog().display());
    let t = a.attempt("execvp-sh", Lang::Shell, &code, &[]);
    t.assert_works_bare();
    assert_eq!(t.guarded.stdout, t.bare.stdout, "{:#?}", t.guarded);
    assert_eq!(t.bare.stdout, format!("HIT {} arg\n", a.sb.path("bin/plain")));
}

// ---------------------------------------------------------------------------
// The classics.

fn python_run(code: &str) -> String {
    format!(
        "import os, subprocess, sys\nd = os.environ['EV_DENIED_PROG']\ntry:\n{}except OSError as e:\n    print('no', e)",
        indent(code)
    )
}

#[test]
fn fork_then_exec() {
    let a = Arena::new("exec-fork");
    let code = python_run(
        "pid = os.fork()\nif pid == 0:\n    try:\n        os.execv(d, [d, 'HIT'])\n    finally:\n        os._exit(1)\nos.waitpid(pid, 0)",
    );
    process_blocked(&a.attempt("fork-exec", Lang::Python, &code, &[]));
}

#[test]
fn exec_from_a_thread() {
    let a = Arena::new("exec-thread");
    let code = python_run(
        "import threading\ndef go():\n    try:\n        os.execv(d, [d, 'HIT'])\n    except OSError as e:\n        print('no', e)\nt = threading.Thread(target=go)\nt.start()\nt.join()",
    );
    process_blocked(&a.attempt("thread-exec", Lang::Python, &code, &[]));
}

#[test]
fn memfd_copy_run_by_descriptor() {
    let a = Arena::new("exec-memfd");
    let code = python_run(
        "fd = os.memfd_create('x', 0)\nos.write(fd, open(d, 'rb').read())\npid = os.fork()\nif pid == 0:\n    try:\n        os.execve(fd, ['x', 'HIT'], dict(os.environ))\n    finally:\n        os._exit(1)\nos.waitpid(pid, 0)",
    );
    // Reading the denied program is allowed here: only running it is not.
    let mut a = a;
    a.file.push(format!("r {}", a.denied_program()));
    process_blocked(&a.attempt("memfd-fexecve", Lang::Python, &code, &[]));
}

#[test]
fn memfd_copy_run_through_proc_self_fd() {
    let mut a = Arena::new("exec-memfd-path");
    a.file.push(format!("r {}", a.denied_program()));
    let code = python_run(
        "fd = os.memfd_create('x', 0)\nos.write(fd, open(d, 'rb').read())\nsubprocess.run([f'/proc/self/fd/{fd}', 'HIT'], pass_fds=[fd])",
    );
    process_blocked(&a.attempt("memfd-path", Lang::Python, &code, &[]));
}

#[test]
fn copied_into_the_writable_directory() {
    let mut a = Arena::new("exec-copy");
    a.file.push(format!("r {}", a.denied_program()));
    let code = python_run(
        "import shutil\nimport tempfile\nc = os.path.join(tempfile.mkdtemp(dir=os.environ['EV_ALLOWED']), 'copy')\nshutil.copy(d, c)\nos.chmod(c, 0o755)\nsubprocess.run([c, 'HIT'])",
    );
    process_blocked(&a.attempt("copy", Lang::Python, &code, &[]));
}

fn loader() -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", "readelf -l /bin/true | sed -n 's/.*interpreter: \\(.*\\)]/\\1/p'"])
        .output()
        .expect("readelf");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn the_dynamic_loader_run_directly() {
    let a = Arena::new("exec-ldso");
    let code = python_run(&format!("subprocess.run(['{}', d, 'HIT'])", loader()));
    process_blocked(&a.attempt("ld.so", Lang::Python, &code, &[]));
}

#[test]
fn cleared_environment_for_the_child() {
    let a = Arena::new("exec-env-i");
    let code = python_run("subprocess.run([d, 'HIT'], env={})\nsubprocess.run(['/bin/sh', '-c', d + ' HIT'], env={})");
    let t = a.attempt("env-cleared", Lang::Python, &code, &[]);
    process_blocked(&t);
    assert_eq!(t.bare_hits(), 2);
}

#[test]
fn execve_with_ld_preload_removed() {
    let a = Arena::new("exec-no-preload");
    let code = python_run(
        "env = {k: v for k, v in os.environ.items() if k != 'LD_PRELOAD'}\nos.execve('/bin/sh', ['sh', '-c', d + ' HIT'], env)",
    );
    process_blocked(&a.attempt("no-ld-preload", Lang::Python, &code, &[]));
}

#[test]
fn system_runs_the_denied_program() {
    let a = Arena::new("exec-system");
    let code = python_run("os.system(d + ' HIT')");
    process_blocked(&a.attempt("system", Lang::Python, &code, &[]));
}

#[test]
fn node_spawn_of_a_symlink_to_the_denied_program() {
    let a = Arena::new("exec-node-link");
    let code = "const cp = require('child_process'), fs = require('fs'), path = require('path');\n\
                const l = path.join(fs.mkdtempSync(process.env.EV_ALLOWED + '/'), 'l');\n\
                fs.symlinkSync(process.env.EV_DENIED_PROG, l);\n\
                try { process.stdout.write(cp.execFileSync(l, ['HIT']).toString()); }\n\
                catch (e) { console.log('no', e.code); }";
    process_blocked(&a.attempt("node-link", Lang::Node, code, &[]));
}

/// Not an attack: a program run through a descriptor keeps the name an
/// exec by path gives it (`/proc/PID/comm`, what `ps` shows), not the
/// descriptor's number.
#[test]
fn process_names_survive_the_exec_by_descriptor() {
    let a = Arena::new("exec-comm");
    let code = "import os, subprocess, sys\n\
                show = \"print('HIT', open('/proc/self/comm').read().strip())\"\n\
                subprocess.run([sys.executable, '-c', show])\n\
                pid = os.posix_spawn(sys.executable, [sys.executable, '-c', show], os.environ)\n\
                os.waitpid(pid, 0)";
    let t = a.attempt("comm", Lang::Python, code, &[]);
    t.assert_works_bare();
    assert_eq!(t.bare_hits(), 2, "{:#?}", t.bare);
    assert_eq!(t.guarded.stdout, t.bare.stdout, "{:#?}", t.guarded);
}

// ---------------------------------------------------------------------------
// Issue 13 follow-ups: libc functions that run /bin/sh from inside libc.

/// `wordexp` with a command substitution runs `/bin/sh -c` through a
/// `posix_spawn` inside libc, with the environment the code left: here
/// without `LD_PRELOAD`. The substitution's output becomes the words.
const WORDEXP: &str = r#"
import ctypes, os
os.unsetenv('LD_PRELOAD')
class Words(ctypes.Structure):
    _fields_ = [('count', ctypes.c_size_t), ('words', ctypes.POINTER(ctypes.c_char_p)), ('offs', ctypes.c_size_t)]
libc = ctypes.CDLL('libc.so.6', use_errno=True)
w = Words()
r = libc.wordexp(('$(' + os.environ['EV_DENIED_PROG'] + ' HIT)').encode(), ctypes.byref(w), 0)
if r != 0:
    print('wordexp refused:', r, os.strerror(ctypes.get_errno()))
else:
    print(' '.join(w.words[i].decode() for i in range(w.count)))
"#;

#[test]
fn wordexp_command_substitution_with_the_shell_denied() {
    let mut a = Arena::new("exec-wordexp-nosh");
    let sh = rampart_tests::runtimes_common::realpath("/bin/sh");
    a.process.retain(|p| *p != sh);
    let t = a.attempt("wordexp-shell-denied", Lang::Python, WORDEXP, &[]);
    process_blocked(&t);
    // glibc's answer for a substitution it may not make: WRDE_CMDSUB (4).
    assert!(t.guarded.stdout.contains("wordexp refused: 4 Permission denied"), "{:#?}", t.guarded);
    let blocks = t.guarded.of(EventType::Block);
    assert!(
        blocks.iter().any(|e| e.op.as_deref() == Some("wordexp") && e.target.as_deref() == Some(sh.as_str())),
        "the shell's block line\n{:#?}",
        t.guarded
    );
}

#[test]
fn wordexp_command_substitution_runs_under_the_layer() {
    // The shell is allowed: it runs with the library put back into the
    // environment, so the denied program inside it is still refused.
    let a = Arena::new("exec-wordexp");
    process_blocked(&a.attempt("wordexp-shell-allowed", Lang::Python, WORDEXP, &[]));
}

/// libio's `_IO_proc_open` (exported, `GLIBC_2.2.5`) is `popen` on a
/// stream the caller provides: a zeroed buffer with `_fileno` = -1.
const IO_PROC_OPEN: &str = r#"
import ctypes, os, struct
os.unsetenv('LD_PRELOAD')
libc = ctypes.CDLL('libc.so.6', use_errno=True)
f = libc._IO_proc_open
f.restype = ctypes.c_void_p
f.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
stream = ctypes.create_string_buffer(1024)
FILENO = 112 if ctypes.sizeof(ctypes.c_void_p) == 8 else 56
struct.pack_into('i', stream, FILENO, -1)
if not f(ctypes.addressof(stream), (os.environ['EV_DENIED_PROG'] + ' HIT').encode(), b'r'):
    print('refused:', os.strerror(ctypes.get_errno()))
else:
    print(os.read(struct.unpack_from('i', stream, FILENO)[0], 100).decode().strip())
"#;

#[test]
fn io_proc_open_runs_a_shell() {
    let mut a = Arena::new("exec-io-proc-open");
    let sh = rampart_tests::runtimes_common::realpath("/bin/sh");
    a.process.retain(|p| *p != sh);
    process_blocked(&a.attempt("io-proc-open-shell-denied", Lang::Python, IO_PROC_OPEN, &[]));
    let a = Arena::new("exec-io-proc-open-sh");
    process_blocked(&a.attempt("io-proc-open-shell-allowed", Lang::Python, IO_PROC_OPEN, &[]));
}
