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
    for (name, handle) in [("ctypes-dlsym-libc", "libc._handle"), ("ctypes-dlsym-default", "None")] {
        let dlsym = format!(
            "libc.dlsym.restype = ctypes.c_void_p\n\
             libc.dlsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p]\n\
             p = libc.dlsym({handle}, b'open')\n{call}"
        );
        a.attempt(name, Lang::Python, &py(&dlsym), &[]).assert_blocked();
    }
}

fn wrapper_library() -> &'static PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let lib = cprog::suite_dir("evasion_loader").join("libwrap.so");
        cprog::compile(
            "evasion_loader_wrap.c",
            &lib,
            &["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-ldl"],
        );
        lib
    })
}

/// A library preloaded after librampart that wraps `mkdir` (finding
/// libc's with `RTLD_NEXT`) and `unlink` (with a handle of libc): it stays
/// in the chain, is never handed the hook it sits behind (the hook calls
/// it: that would loop), and what goes through it is still checked — the
/// Python code's own lookups through libc's handle included.
#[test]
fn a_wrapper_loaded_after_the_layer_keeps_working() {
    let a = Arena::new("ld-wrap");
    let lib = wrapper_library();
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
        cmd.env("LD_PRELOAD", lib);
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
    // The allowed calls went on through the wrapper, behind the layer
    // (the denied ones stopped at the layer, before it).
    assert_eq!(guarded.stderr.matches("WRAP mkdir\n").count(), 2, "{guarded:#?}");
    assert_eq!(guarded.stderr.matches("WRAP unlink\n").count(), 2, "{guarded:#?}");
    assert_eq!(guarded.of(EventType::Block).len(), 2, "{guarded:#?}");
}
