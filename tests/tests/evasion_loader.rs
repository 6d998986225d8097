//! Row 8 of issue 13: past the hooks through the dynamic loader, from pure
//! Python. `ctypes.CDLL('libc.so.6')` looks functions up through a handle
//! of libc, which answers with libc's own `open`; `.syscall` is libc's
//! generic system call. Both now land in the hooks (hooks/dl.rs,
//! hooks/syscall.rs). Each attack reaches its target bare and is blocked,
//! with a line, under the layer.
//!
//! Node.js has no built-in FFI (`process.dlopen` loads an addon, which is
//! native code already), so every attack here is Python's.

use std::path::PathBuf;
use std::sync::OnceLock;

use rampart_event::EventType;
use rampart_tests::cases::output_with_timeout;
use rampart_tests::evasion::{Arena, Lang, TIMEOUT, python};
use rampart_tests::{cprog, outcome, rampart_run};

/// What every attack starts with: libc through a handle, the numbers and
/// versions of this architecture, and a way to show what an fd reads.
const PRELUDE: &str = r#"
import ctypes, ctypes.util, os, platform, socket, struct, sys
E = os.environ
ARM = platform.machine() in ('aarch64', 'arm64')
SYS_openat = 56 if ARM else 257
SYS_openat2 = 437
BASE_VERSION = b'GLIBC_2.17' if ARM else b'GLIBC_2.2.5'
SECRET = E['EV_SECRET'].encode()
libc = ctypes.CDLL('libc.so.6', use_errno=True)
def show(fd):
    if fd >= 0:
        print('HIT', os.read(fd, 100).decode())
    else:
        print('no', os.strerror(ctypes.get_errno()))
"#;

fn py(body: &str) -> String {
    format!("{PRELUDE}{body}")
}

#[test]
fn libc_handle_open_openat_fopen() {
    let a = Arena::new("ld-open");
    a.attempt("ctypes-libc-open", Lang::Python, &py("show(libc.open(SECRET, os.O_RDONLY))"), &[]).assert_blocked();
    a.attempt("ctypes-libc-openat", Lang::Python, &py("show(libc.openat(-100, SECRET, os.O_RDONLY))"), &[])
        .assert_blocked();
    let fopen = "libc.fopen.restype = ctypes.c_void_p\n\
                 libc.fgets.restype = ctypes.c_char_p\n\
                 f = libc.fopen(SECRET, b'r')\n\
                 if f:\n    buf = ctypes.create_string_buffer(100)\n    libc.fgets(buf, 100, ctypes.c_void_p(f))\n    print('HIT', buf.value.decode())\n\
                 else:\n    print('no', os.strerror(ctypes.get_errno()))";
    a.attempt("ctypes-libc-fopen", Lang::Python, &py(fopen), &[]).assert_blocked();
}

#[test]
fn libc_found_by_find_library() {
    let mut a = Arena::new("ld-find");
    // find_library runs ldconfig: let it, so the lookup is the real one.
    a.process.push(rampart_tests::runtimes_common::realpath("/sbin/ldconfig"));
    let code = "name = ctypes.util.find_library('c')\n\
                print('found', name)\n\
                show(ctypes.CDLL(name, use_errno=True).open(SECRET, os.O_RDONLY))";
    let t = a.attempt("ctypes-find-library", Lang::Python, &py(code), &[]);
    t.assert_blocked();
    assert!(t.guarded.stdout.contains("found libc.so"), "find_library found libc\n{:#?}", t.guarded);
}

#[test]
fn libc_handle_execv_in_a_forked_child() {
    let a = Arena::new("ld-exec");
    let code = "prog = E['EV_DENIED_PROG'].encode()\n\
                argv = (ctypes.c_char_p * 3)(prog, b'HIT', None)\n\
                sys.stdout.flush()\n\
                pid = os.fork()\n\
                if pid == 0:\n    libc.execv(prog, argv)\n    os.write(1, b'no exec: %d\\n' % ctypes.get_errno())\n    os._exit(1)\n\
                os.waitpid(pid, 0)";
    a.attempt("ctypes-libc-execv", Lang::Python, &py(code), &[]).assert_blocked();
}

#[test]
fn libc_handle_connect() {
    let a = Arena::new("ld-connect");
    let code = "s = socket.socket()\n\
                sa = struct.pack('=H', socket.AF_INET) + struct.pack('!H', int(E['EV_TCP_DENIED'])) + socket.inet_aton('127.0.0.1') + bytes(8)\n\
                r = libc.connect(s.fileno(), sa, len(sa))\n\
                print('HIT' if r == 0 else 'no', os.strerror(ctypes.get_errno()))";
    let t = a.attempt("ctypes-libc-connect", Lang::Python, &py(code), &[]);
    t.assert_blocked();
    assert_eq!(t.guarded_peers.tcp_denied_accepted, 0);
}

/// libc exports some hooked functions under a second name (`__open64`,
/// `__connect`, `_IO_fopen`, `__libc_system`, ...): reached by name from
/// the global scope or through libc's handle, they are the hooks too.
#[test]
fn libc_aliases_of_hooked_functions() {
    let a = Arena::new("ld-alias");
    for (name, lib, alias) in [
        ("ctypes-global-__open64", "ctypes.CDLL(None, use_errno=True)", "__open64"),
        ("ctypes-libc-__open", "libc", "__open"),
    ] {
        let code = format!("show(getattr({lib}, '{alias}')(SECRET, os.O_RDONLY))");
        a.attempt(name, Lang::Python, &py(&code), &[]).assert_blocked();
    }
    let fopen = "f = ctypes.CDLL(None, use_errno=True)._IO_fopen\n\
                 f.restype = ctypes.c_void_p\n\
                 libc.fgets.restype = ctypes.c_char_p\n\
                 p = f(SECRET, b'r')\n\
                 if p:\n    buf = ctypes.create_string_buffer(100)\n    libc.fgets(buf, 100, ctypes.c_void_p(p))\n    print('HIT', buf.value.decode())\n\
                 else:\n    print('no', os.strerror(ctypes.get_errno()))";
    a.attempt("ctypes-_IO_fopen", Lang::Python, &py(fopen), &[]).assert_blocked();
    let connect = "s = socket.socket()\n\
                   sa = struct.pack('=H', socket.AF_INET) + struct.pack('!H', int(E['EV_TCP_DENIED'])) + socket.inet_aton('127.0.0.1') + bytes(8)\n\
                   r = libc.__connect(s.fileno(), sa, len(sa))\n\
                   print('HIT' if r == 0 else 'no', os.strerror(ctypes.get_errno()))";
    a.attempt("ctypes-__connect", Lang::Python, &py(connect), &[]).assert_blocked();
    // libc's system() runs /bin/sh from inside libc: with LD_PRELOAD
    // removed from the environment first, the shell would run bare.
    let system = "os.unsetenv('LD_PRELOAD')\n\
                  sys.stdout.flush()\n\
                  libc.__libc_system(E['EV_DENIED_PROG'].encode() + b' HIT')";
    a.attempt("ctypes-__libc_system", Lang::Python, &py(system), &[]).assert_blocked();
}

/// `syscall(SYS_openat, ...)` through the global scope and through libc's
/// handle, and `openat2`, which has no libc wrapper to hook at all.
#[test]
fn libc_syscall() {
    let mut a = Arena::new("ld-syscall");
    let setup = |lib: &str| {
        format!(
            "lib = {lib}\n\
             lib.syscall.restype = ctypes.c_long\n"
        )
    };
    for (name, lib) in [("ctypes-syscall-global", "ctypes.CDLL(None, use_errno=True)"), ("ctypes-syscall-libc", "libc")]
    {
        let code = format!(
            "{}lib.syscall.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_char_p, ctypes.c_long]\n\
             show(lib.syscall(SYS_openat, -100, SECRET, os.O_RDONLY))",
            setup(lib)
        );
        a.attempt(name, Lang::Python, &py(&code), &[]).assert_blocked();
    }
    let code = format!(
        "{}lib.syscall.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_long]\n\
         how = struct.pack('QQQ', os.O_RDONLY, 0, 0)\n\
         show(lib.syscall(SYS_openat2, -100, SECRET, how, len(how)))",
        setup("libc")
    );
    a.attempt("ctypes-syscall-openat2", Lang::Python, &py(&code), &[]).assert_blocked();
    // RESOLVE_IN_ROOT: the path is taken under the dirfd ("/" here, which
    // may be opened), so it names the secret from a root that is not the
    // process's.
    a.file.push("r /".into());
    let code = format!(
        "{}lib.syscall.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_long]\n\
         root = os.open('/', os.O_PATH | os.O_DIRECTORY)\n\
         how = struct.pack('QQQ', os.O_RDONLY, 0, 0x10)\n\
         show(lib.syscall(SYS_openat2, root, SECRET, how, len(how)))",
        setup("libc")
    );
    let t = a.attempt("ctypes-syscall-openat2-in-root", Lang::Python, &py(&code), &[]);
    t.assert_blocked();
    assert!(!t.guarded.with_target(EventType::Block, &a.secret()).is_empty(), "the secret itself\n{:#?}", t.guarded);
}

/// `syscall` still does everything else: an allowed open through it works
/// under the layer, and so does a number outside the checked ones.
#[test]
fn libc_syscall_still_works() {
    let a = Arena::new("ld-syscall-ok");
    let code = "open(os.path.join(E['EV_ALLOWED'], 'f'), 'w').write('ok-data')\n\
                libc.syscall.restype = ctypes.c_long\n\
                libc.syscall.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_char_p, ctypes.c_long]\n\
                fd = libc.syscall(SYS_openat, -100, os.path.join(E['EV_ALLOWED'], 'f').encode(), os.O_RDONLY)\n\
                print('allowed', os.read(fd, 100).decode() if fd >= 0 else os.strerror(ctypes.get_errno()))\n\
                libc.syscall.argtypes = [ctypes.c_long]\n\
                print('pid', libc.syscall(172 if ARM else 39) == os.getpid())";
    let t = a.attempt("ctypes-syscall-allowed", Lang::Python, &py(code), &[]);
    for o in [&t.bare, &t.guarded] {
        assert!(o.stdout.contains("allowed ok-data"), "an allowed open through syscall()\n{o:#?}");
        assert!(o.stdout.contains("pid True"), "an unchecked number through syscall()\n{o:#?}");
    }
}

/// `dlsym` and `dlvsym` are libc functions too: a handle of libc asked
/// through them (the version named, as ctypes can), and RTLD_DEFAULT.
#[test]
fn dlsym_and_dlvsym_through_ctypes() {
    let a = Arena::new("ld-dlvsym");
    let call = "f = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_int, use_errno=True)(p)\n\
                show(f(SECRET, os.O_RDONLY))";
    let dlvsym = format!(
        "libc.dlvsym.restype = ctypes.c_void_p\n\
         libc.dlvsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]\n\
         p = libc.dlvsym(libc._handle, b'open', BASE_VERSION)\n{call}"
    );
    a.attempt("ctypes-dlvsym", Lang::Python, &py(&dlvsym), &[]).assert_blocked();
    for (name, handle) in [
        ("ctypes-dlsym-libc", "libc._handle"),
        ("ctypes-dlsym-default", "None"),
        ("ctypes-dlsym-next", "ctypes.c_void_p(-1)"),
    ] {
        let dlsym = format!(
            "libc.dlsym.restype = ctypes.c_void_p\n\
             libc.dlsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p]\n\
             p = libc.dlsym({handle}, b'open')\n{call}"
        );
        a.attempt(name, Lang::Python, &py(&dlsym), &[]).assert_blocked();
    }
}

/// What the native program (tests/runtimes/c/evasion_loader.c) must
/// print with and without the library: the lookups and calls that must
/// not change.
const NATIVE_CHECKS: [&str; 10] = [
    "allowed-through-handle",
    "allowed-through-syscall",
    "unchecked-syscall",
    "handle-and-default-agree",
    "unhooked-name-unchanged",
    "missing-name",
    "missing-version",
    "next-found",
    "private-alias-default",
    "private-alias-versioned",
];

/// The four ways the native program reaches the secret.
const NATIVE_WAYS: [&str; 4] = ["dlsym-handle", "dlvsym-handle", "dlsym-default", "syscall-openat"];

fn assert_native_checks(o: &rampart_tests::Outcome) {
    for check in NATIVE_CHECKS {
        assert!(o.stdout.lines().any(|l| l == format!("ok {check}")), "{check}\n{o:#?}");
    }
}

fn native_program() -> &'static PathBuf {
    static PROG: OnceLock<PathBuf> = OnceLock::new();
    PROG.get_or_init(|| {
        let prog = cprog::suite_dir("evasion_loader").join("evasion_loader");
        cprog::compile("evasion_loader.c", &prog, &["-O2", "-Wall", "-Wextra", "-Werror", "-ldl"]);
        prog
    })
}

/// The same from native code: libc's `open` through `dlsym` and `dlvsym`
/// on a handle of libc, `syscall(SYS_openat)`; and what must not change
/// (a failed lookup still sets `dlerror`, pseudo-handles and other names
/// answer as before, an unchecked system call still works).
#[test]
fn native_code_through_a_handle_and_syscall() {
    let mut a = Arena::new("ld-native");
    let prog = native_program();
    a.process.push(prog.display().to_string());
    let allowed = a.sb.path("allowed/f");
    std::fs::write(&allowed, "allowed").expect("write the allowed file");
    let t = a.attempt("c-handle-and-syscall", Lang::Program(prog.clone()), "", &[&a.secret(), &allowed]);
    t.assert_blocked();
    for way in NATIVE_WAYS {
        assert!(t.bare.stdout.contains(&format!("HIT {way}")), "bare, {way} reads the secret\n{:#?}", t.bare);
        assert!(t.guarded.stdout.contains(&format!("no {way} Permission denied")), "{way}\n{:#?}", t.guarded);
    }
    assert_native_checks(&t.bare);
    assert_native_checks(&t.guarded);
}

/// The aarch64 layer library (hooks/dl.rs has a trampoline per
/// architecture) under qemu-aarch64, as tests/layer_arm64.rs runs it:
/// the same program, built for aarch64, bare and with the library.
#[test]
#[ignore = "needs `cargo xtask layer` and qemu-user (see tests/layer_arm64.rs)"]
fn native_code_through_a_handle_and_syscall_on_aarch64() {
    const SYSROOT: &str = "/usr/aarch64-linux-gnu";
    let lib = std::env::var_os("RAMPART_ARM64_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| rampart_tests::target_dir().join("aarch64-unknown-linux-gnu/release/librampart.so"));
    assert!(lib.is_file(), "{} is missing: build it with `cargo xtask layer`", lib.display());
    let prog = cprog::suite_dir("evasion_loader").join("evasion_loader-aarch64");
    let out = std::process::Command::new("python3")
        .args(["-m", "ziglang", "cc", "-target", "aarch64-linux-gnu.2.17", "-O2", "-Wall", "-Wextra", "-Werror"])
        .arg("-o")
        .arg(&prog)
        .arg(cprog::source_dir().join("evasion_loader.c"))
        .output()
        .expect("python3 -m ziglang (cargo xtask layer installs it)");
    assert!(out.status.success(), "zig cc: {}", String::from_utf8_lossy(&out.stderr));
    let qemu = rampart_tests::runtimes_common::realpath("/usr/bin/qemu-aarch64");

    let a = Arena::new("ld-arm64");
    let allowed = a.sb.path("allowed/f");
    std::fs::write(&allowed, "allowed").expect("write the allowed file");
    let policy = cprog::suite_dir("evasion_loader").join("arm64-policy.json");
    std::fs::write(&policy, a.policy_text()).expect("write policy");
    let run = |guarded: bool| {
        let mut cmd = std::process::Command::new(&qemu);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("RAMPART_") || k == "LD_PRELOAD" || k.starts_with("QEMU_") {
                cmd.env_remove(&*k);
            }
        }
        cmd.args(["-L", SYSROOT]);
        if guarded {
            cmd.arg("-E").arg(format!("LD_PRELOAD={}", lib.display()));
            cmd.arg("-E").arg(format!("RAMPART_POLICY={}", policy.display()));
        }
        cmd.arg(&prog).arg(a.secret()).arg(&allowed);
        outcome(output_with_timeout(&mut cmd, TIMEOUT).1)
    };
    let bare = run(false);
    let guarded = run(true);
    for way in NATIVE_WAYS {
        assert!(bare.stdout.contains(&format!("HIT {way}")), "bare, {way} reads the secret\n{bare:#?}");
        assert!(guarded.stdout.contains(&format!("no {way} Permission denied")), "{way}\n{guarded:#?}");
    }
    assert!(!guarded.stdout.contains("HIT"), "{guarded:#?}");
    assert_eq!(guarded.with_target(EventType::Block, &a.secret()).len(), 4, "{guarded:#?}");
    assert_native_checks(&bare);
    assert_native_checks(&guarded);
}

/// The wrapper library, built twice ("a", "b"), as `LD_PRELOAD` value
/// (a colon-separated pair).
fn wrapper_libraries() -> &'static String {
    static LIBS: OnceLock<String> = OnceLock::new();
    LIBS.get_or_init(|| {
        let libs: Vec<String> = ["a", "b"]
            .iter()
            .map(|tag| {
                let lib = cprog::suite_dir("evasion_loader").join(format!("libwrap-{tag}.so"));
                let define = format!("-DWRAP_TAG=\"{tag}\"");
                cprog::compile(
                    "evasion_loader_wrap.c",
                    &lib,
                    &["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", &define, "-ldl"],
                );
                lib.display().to_string()
            })
            .collect();
        libs.join(":")
    })
}

/// Two libraries preloaded after librampart that wrap `mkdir` (finding
/// the next one with `RTLD_NEXT`) and `unlink` (with a handle of libc):
/// they stay in the chain, are never handed the hook they sit behind (the
/// hook calls the first, the first the second: handing either the hook
/// would loop), and what goes through them is still checked — the Python
/// code's own lookups through libc's handle included.
#[test]
fn wrappers_loaded_after_the_layer_keep_working() {
    let a = Arena::new("ld-wrap");
    let libs = wrapper_libraries();
    let code = py("g = ctypes.CDLL(None, use_errno=True)\n\
         ok = E['EV_ALLOWED'].encode()\n\
         bad = os.path.dirname(SECRET)\n\
         for lib, tag in ((g, 'global'), (libc, 'handle')):\n\
         \x20   r = lib.mkdir(ok + b'/d-' + tag.encode(), 0o700)\n\
         \x20   print('allowed', tag, 'mkdir', r == 0)\n\
         \x20   r = lib.mkdir(bad + b'/d-' + tag.encode(), 0o700)\n\
         \x20   print('HIT' if r == 0 else 'denied', tag, 'mkdir')\n\
         \x20   open(ok + b'/f-' + tag.encode(), 'w').close()\n\
         \x20   r = lib.unlink(ok + b'/f-' + tag.encode())\n\
         \x20   print('allowed', tag, 'unlink', r == 0)\n\
         \x20   sys.stdout.flush()");
    let policy = cprog::suite_dir("evasion_loader").join("wrap-policy.json");
    std::fs::write(&policy, a.policy_text()).expect("write policy");
    let run = |guarded: bool| {
        let mut cmd = if guarded { rampart_run(Some(&policy), None) } else { std::process::Command::new("env") };
        cmd.arg(&python().0).args(["-I", "-c", &code]).current_dir(a.sb.path("allowed"));
        for (k, v) in a.env() {
            cmd.env(k, v);
        }
        cmd.env("LD_PRELOAD", libs);
        outcome(output_with_timeout(&mut cmd, TIMEOUT).1)
    };
    let bare = run(false);
    assert_eq!(bare.stdout.matches("HIT").count(), 2, "bare, both mkdirs in the denied directory work\n{bare:#?}");
    for name in ["d-global", "d-handle"] {
        std::fs::remove_dir(a.sb.path(&format!("secret/{name}"))).expect("remove the bare run's directory");
        std::fs::remove_dir(a.sb.path(&format!("allowed/{name}"))).expect("remove the bare run's directory");
    }
    let guarded = run(true);
    assert_eq!(guarded.code, Some(0), "the wrapper and the layer together\n{guarded:#?}");
    for tag in ["global", "handle"] {
        for f in ["mkdir", "unlink"] {
            assert!(guarded.stdout.contains(&format!("allowed {tag} {f} True")), "{tag} {f}\n{guarded:#?}");
        }
        assert!(guarded.stdout.contains(&format!("denied {tag} mkdir")), "{tag}\n{guarded:#?}");
    }
    assert!(!guarded.stdout.contains("HIT"), "{guarded:#?}");
    // No loop between the layer and the wrappers (the run finished, the
    // allowed calls worked). The allowed calls do not go on through the
    // wrappers behind the layer: a call on a name is made by the layer on
    // the directory it decided on (mkdirat, unlinkat on that descriptor),
    // so what runs is what was checked — an interposer loaded after
    // librampart no longer sees those calls (README, "Deciding on what is
    // really opened").
    assert!(bare.stderr.contains("WRAP a mkdir") && bare.stderr.contains("WRAP b mkdir"), "{bare:#?}");
    assert_eq!(guarded.of(EventType::Block).len(), 2, "{guarded:#?}");
}
