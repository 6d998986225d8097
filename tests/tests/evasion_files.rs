//! Attacks on the file hooks (issue 13, rows 3 and 5, and the classics):
//! each reaches the secret, or writes where no rule allows it, bare, and is
//! blocked guarded. Also the two false results CPython's own suites found:
//! guarded, a path means what it means bare.

use std::path::PathBuf;
use std::sync::OnceLock;

use rampart_event::EventType;
use rampart_tests::cprog;
use rampart_tests::evasion::{Arena, Lang};
use rampart_tests::runtimes_common::SECRET_DATA;

/// How long each race runs (the bound is the brief's: at most 3 s).
const RACE_SECS: &str = "2";

/// The race program (tests/runtimes/c/evasion_fsnet.c), built once.
pub fn race_program() -> &'static PathBuf {
    static PROG: OnceLock<PathBuf> = OnceLock::new();
    PROG.get_or_init(|| {
        let out = cprog::suite_dir("evasion_fsnet_files").join("evasion_fsnet");
        cprog::compile("evasion_fsnet.c", &out, &["-O2", "-Wall", "-Wextra", "-Werror", "-pthread"]);
        out
    })
}

fn race_arena(tag: &str) -> (Arena, Lang) {
    let mut a = Arena::new(tag);
    let prog = race_program();
    a.process.push(prog.display().to_string());
    a.file.push(format!("r {}/**", prog.parent().expect("dir").display()));
    (a, Lang::Program(prog.clone()))
}

/// Every attempt's Python starts with this: `hit(x)` says the attack got
/// there, `E` is the environment.
const PRELUDE: &str = "import os, sys\nE = os.environ\ndef hit(x):\n    print('HIT', repr(x))\n";

fn python(a: &Arena, name: &str, body: &str) -> rampart_tests::evasion::Tries {
    let code = format!("{PRELUDE}try:\n{}\nexcept OSError as e:\n    print('no', e)\n", indent(body));
    a.attempt(name, Lang::Python, &code, &[])
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}

// ---------------------------------------------------------------------------
// Row 3: the path buffer rewritten by another thread after the check.

#[test]
fn open_path_flipped_by_another_thread() {
    let (a, prog) = race_arena("race-open");
    let (allowed, secret) = (a.sb.path("allowed/data.txt"), a.secret());
    for mode in ["open", "fopen"] {
        let t = a.attempt(
            &format!("race-{mode}"),
            prog.clone(),
            "",
            &[mode, &allowed, &secret, SECRET_DATA.trim(), RACE_SECS],
        );
        t.assert_blocked();
        assert!(t.guarded.stdout.contains("tries "), "{mode}: the race did not run\n{:#?}", t.guarded);
    }
}

/// The cwd moved by another thread between the check of a relative path
/// and the open.
#[test]
fn cwd_changed_by_another_thread() {
    let (a, prog) = race_arena("race-chdir");
    let (allowed, secret_dir) = (a.sb.path("allowed"), a.sb.path("secret"));
    let t = a.attempt("race-chdir", prog, "", &["chdir-race", &allowed, &secret_dir, SECRET_DATA.trim(), RACE_SECS]);
    t.assert_blocked();
    assert!(t.guarded.stdout.contains("tries "), "the race did not run\n{:#?}", t.guarded);
}

/// The same race on the directories of a path: a symlink on the way
/// swapped between an allowed directory and the secret's while `link`,
/// `rename` or `freopen` runs (names are acted on in the directory pinned
/// when they were decided; freopen reopens the file the checked open
/// opened).
#[test]
fn directory_link_swapped_under_link_rename_and_freopen() {
    for mode in ["link-swap", "rename-swap", "freopen-swap"] {
        let (a, prog) = race_arena(mode);
        let t = a.attempt(&format!("race-{mode}"), prog, "", &[mode, SECRET_DATA.trim(), RACE_SECS]);
        t.assert_blocked();
        assert!(t.guarded.stdout.contains("tries "), "{mode}: the race did not run\n{:#?}", t.guarded);
        assert_eq!(
            std::fs::read_to_string(a.secret()).ok().as_deref(),
            Some(SECRET_DATA),
            "{mode}: the secret stayed where it was"
        );
    }
}

// ---------------------------------------------------------------------------
// Row 5: a hard link, made through a symlink, to the denied file.

#[test]
fn hard_link_through_a_symlink_in_a_writable_directory() {
    let a = Arena::new("row5");
    let body = "d = os.open('.', os.O_RDONLY)\n\
                sl, hl = f'sl{os.getpid()}', f'hl{os.getpid()}'\n\
                os.symlink(E['EV_SECRET'], sl, dir_fd=d)\n\
                os.link(sl, hl, src_dir_fd=d, dst_dir_fd=d)\n\
                hit(open(hl).read())";
    let t = python(&a, "row5-link-through-symlink", body);
    t.assert_blocked();
    let blocks = t.guarded.of(EventType::Block);
    assert!(
        blocks.iter().any(|e| e.target.as_deref() == Some(a.secret().as_str()) && e.op.as_deref() == Some("linkat")),
        "the block names the real source\n{:#?}",
        t.guarded
    );
}

#[test]
fn hard_link_of_the_secret_itself() {
    let a = Arena::new("link-plain");
    python(&a, "link-secret", "os.link(E['EV_SECRET'], f'h{os.getpid()}')\nhit(open(f'h{os.getpid()}').read())")
        .assert_blocked();
}

#[test]
fn hard_link_of_a_read_only_file_made_writable() {
    // ro/ may be read, not written: a second name in allowed/ (rw) would
    // make it writable.
    let a = Arena::new("link-ro");
    let body = "n = f'h{os.getpid()}'\nos.link(E['EV_ROOT'] + '/ro/data.txt', n)\n\
                open(n, 'a').write('x')\nhit(open(E['EV_ROOT'] + '/ro/data.txt').read())";
    python(&a, "link-ro", body).assert_blocked();
}

// ---------------------------------------------------------------------------
// The classics.

#[test]
fn classic_paths_to_the_secret() {
    let a = Arena::new("classics");
    let attempts: &[(&str, &str)] = &[
        ("symlink", "hit(open('link').read())"),
        (
            "dirfd",
            "d = os.open(E['EV_ROOT'], os.O_RDONLY)\nhit(os.read(os.open('secret/x', os.O_RDONLY, dir_fd=d), 100))",
        ),
        ("dotdot", "hit(open('../secret/x').read())"),
        ("dotdot-after-link", "hit(open('secretdir/../secret/x').read())"),
        ("dir-symlink", "hit(open('secretdir/x').read())"),
        ("proc-self-root", "hit(open('/proc/self/root' + E['EV_SECRET']).read())"),
        ("proc-self-cwd", "hit(open('/proc/self/cwd/../secret/x').read())"),
        ("o-path-then-proc-fd", "fd = os.open(E['EV_SECRET'], os.O_PATH)\nhit(open(f'/proc/self/fd/{fd}').read())"),
        (
            "dir-fd-then-openat",
            "d = os.open('.', os.O_RDONLY | os.O_DIRECTORY)\nhit(os.read(os.open('secretdir/x', os.O_RDONLY, dir_fd=d), 100))",
        ),
        ("opendir-secret", "hit(os.listdir(E['EV_ROOT'] + '/secret'))"),
    ];
    for (name, body) in attempts {
        python(&a, name, body).assert_blocked();
    }
}

#[test]
fn classic_writes_where_no_rule_allows() {
    let a = Arena::new("classic-writes");
    let attempts: &[(&str, &str)] = &[
        // The bare run puts everything back, so the guarded run meets the
        // same arena.
        (
            "rename-secret-into-allowed",
            "n = f'moved{os.getpid()}'\nos.rename(E['EV_SECRET'], n)\nhit(open(n).read())\nos.rename(n, E['EV_SECRET'])",
        ),
        (
            "truncate-secret",
            "os.truncate(E['EV_SECRET'], 0)\nhit('truncated')\nopen(E['EV_SECRET'], 'w').write(E['EV_SECRET_DATA'])",
        ),
        ("write-read-only", "open(E['EV_ROOT'] + '/ro/data.txt', 'a').write('')\nhit('ro opened for append')"),
        (
            "reopen-read-only-for-write",
            "fd = os.open(E['EV_ROOT'] + '/ro/data.txt', os.O_RDONLY)\nopen(f'/proc/self/fd/{fd}', 'a').write('')\nhit('reopened for append')",
        ),
        (
            "unlink-secret",
            "os.unlink(E['EV_SECRET'])\nhit('unlinked')\nopen(E['EV_SECRET'], 'w').write(E['EV_SECRET_DATA'])",
        ),
        ("mkdir-in-secret", "p = E['EV_ROOT'] + f'/secret/d{os.getpid()}'\nos.mkdir(p)\nhit('mkdir')\nos.rmdir(p)"),
        (
            "symlink-in-secret",
            "p = E['EV_ROOT'] + f'/secret/l{os.getpid()}'\nos.symlink('/', p)\nhit('symlink')\nos.unlink(p)",
        ),
    ];
    for (name, body) in attempts {
        python(&a, name, body).assert_blocked();
    }
}

// ---------------------------------------------------------------------------
// False results: guarded, a path means what it means bare.

/// Runs `body` bare and guarded; both must print the same thing.
fn same_both_ways(a: &Arena, name: &str, body: &str) -> rampart_tests::evasion::Tries {
    let t = a.attempt(name, Lang::Python, &format!("{PRELUDE}{body}"), &[]);
    assert_eq!(t.bare.stdout, t.guarded.stdout, "{name}: guarded differs from bare\n{t:#?}");
    assert!(!t.bare.stdout.is_empty(), "{name}: printed nothing\n{t:#?}");
    t
}

#[test]
fn scandir_of_the_empty_path_is_not_the_cwd() {
    let a = Arena::new("empty-path");
    let t = same_both_ways(
        &a,
        "scandir-empty",
        "try:\n    print(list(os.scandir('')))\nexcept OSError as e:\n    print(type(e).__name__, e.errno)",
    );
    assert!(t.guarded.stdout.starts_with("FileNotFoundError"), "{t:#?}");
    // From a directory no rule allows: the empty path is not that
    // directory either (it was checked, and opened outside block mode).
    same_both_ways(
        &a,
        "scandir-empty-in-denied-cwd",
        "os.chdir(E['EV_ROOT'] + '/secret')
try:
    print(list(os.scandir('')))
except OSError as e:
    print(type(e).__name__, e.errno)",
    );
    same_both_ways(
        &a,
        "open-empty",
        "try:\n    os.open('', os.O_RDONLY)\nexcept OSError as e:\n    print(type(e).__name__, e.errno)",
    );
}

#[test]
fn a_trailing_slash_still_names_a_directory() {
    let a = Arena::new("trailing-slash");
    std::fs::create_dir(a.sb.root().join("allowed/real")).expect("mkdir");
    std::os::unix::fs::symlink("real", a.sb.root().join("allowed/dirlink")).expect("symlink");
    // Through a directory link (the path the library resolves itself) and
    // without one; as shutil.copyfile does it and as a plain open.
    for (name, dst) in
        [("copyfile-via-link", "dirlink/missing/"), ("copyfile", "real/missing2/"), ("dot", "dirlink/missing3/.")]
    {
        let body = format!(
            "import shutil\ntry:\n    shutil.copyfile('data.txt', '{dst}')\n    print('made')\nexcept OSError as e:\n    print(type(e).__name__, e.errno)\n\
             print(sorted(os.listdir('real')))"
        );
        let t = same_both_ways(&a, name, &body);
        assert!(!t.guarded.stdout.contains("made"), "{name}: {t:#?}");
    }
    assert_eq!(std::fs::read_dir(a.sb.root().join("allowed/real")).expect("ls").count(), 0, "no file was made");
}

/// Node's own test-fs-mkdir.js found it: `mkdir -p d1/../d2/d3` must make
/// `d1` first, because the kernel walks `d1/..` only where `d1` exists; a
/// call on a name made on its resolved directory had lost that.
#[test]
fn a_dotdot_over_a_missing_directory_fails_as_bare() {
    let a = Arena::new("dotdot-missing");
    // Each run in its own directory (the arena is the same for both runs).
    let body = "base = os.path.join(E['EV_ALLOWED'], str(os.getpid()))
os.mkdir(base)
for call in (lambda: os.mkdir(base + '/m1/../m2'), lambda: os.rename(E['EV_ALLOWED'] + '/data.txt', base + '/m3/../m4'),
             lambda: os.unlink(base + '/m5/../m6'), lambda: os.symlink('x', base + '/m7/../m8')):
    try:
        call()
        print('made')
    except OSError as e:
        print(type(e).__name__, e.errno)
print(sorted(os.listdir(base)))";
    let t = same_both_ways(&a, "dotdot-missing", body);
    assert!(t.guarded.stdout.starts_with("FileNotFoundError"), "{t:#?}");
}

// ---------------------------------------------------------------------------
// Issue 13 follow-ups: writes to process memory through /proc, io_uring.

/// Pure Python writes its own memory through `/proc/*/mem`, in every
/// spelling that reaches the file (a pid, a thread, dots, a symlink in an
/// allowed directory, a read-only descriptor reopened, a dirfd); each
/// prints `HIT` when the bytes land in a ctypes buffer.
const PROC_MEM_WRITES: &str = r#"
import ctypes, os, threading
def attempt(label, path):
    buf = ctypes.create_string_buffer(b'untouched', 16)
    try:
        with open(path, 'r+b', buffering=0) as f:
            f.seek(ctypes.addressof(buf))
            f.write(b'written')
    except OSError as e:
        print(label, 'refused:', e)
        return
    if buf.value.startswith(b'written'):
        print('HIT', label)
pid, tid = os.getpid(), threading.get_native_id()
link = os.path.join(os.environ['EV_ALLOWED'], 'mem-link')
if os.path.lexists(link):
    os.unlink(link)
os.symlink('/proc/self/mem', link)
attempt('self', '/proc/self/mem')
attempt('pid', f'/proc/{pid}/mem')
attempt('thread-self', '/proc/thread-self/mem')
attempt('task', f'/proc/self/task/{tid}/mem')
attempt('pid-task', f'/proc/{pid}/task/{tid}/mem')
attempt('dotted', f'/proc//{pid}/./task/../mem')
attempt('symlink', link)
ro = os.open('/proc/self/mem', os.O_RDONLY)
attempt('reopened', f'/proc/self/fd/{ro}')
dirfd = os.open(f'/proc/{pid}', os.O_RDONLY | os.O_DIRECTORY)
try:
    fd = os.open('mem', os.O_RDWR, dir_fd=dirfd)
    buf = ctypes.create_string_buffer(b'untouched', 16)
    os.pwrite(fd, b'written', ctypes.addressof(buf))
    if buf.value.startswith(b'written'):
        print('HIT dirfd')
except OSError as e:
    print('dirfd refused:', e)
"#;

/// How many spellings `PROC_MEM_WRITES` tries.
const PROC_MEM_SPELLINGS: usize = 9;

#[test]
fn process_memory_is_never_opened_for_writing_whatever_the_rules() {
    let mut a = Arena::new("files-proc-mem");
    // A rule that would allow it: refused anyway.
    a.file.push("rw /proc/**".into());
    let t = a.attempt("proc-mem", Lang::Python, PROC_MEM_WRITES, &[]);
    t.assert_blocked();
    assert_eq!(t.bare_hits(), PROC_MEM_SPELLINGS, "every spelling writes bare\n{:#?}", t.bare);
    let blocks = t.guarded.of(EventType::Block);
    assert!(
        blocks.len() >= PROC_MEM_SPELLINGS
            && blocks
                .iter()
                .all(|e| e.target.as_deref().is_some_and(|p| p.starts_with("/proc/") && p.ends_with("/mem"))),
        "one block line per refused open, each naming the memory file\n{:#?}",
        t.guarded
    );
    // Reading it stays a matter of rules.
    let read = a.attempt(
        "proc-mem-read",
        Lang::Python,
        "import ctypes\nb = ctypes.create_string_buffer(b'HIT read', 16)\nwith open('/proc/self/mem', 'rb', buffering=0) as f:\n    f.seek(ctypes.addressof(b))\n    print(f.read(8).decode())",
        &[],
    );
    assert_eq!(read.guarded_hits(), 1, "a read of /proc/self/mem the rules allow\n{:#?}", read.guarded);
}

/// Node.js has no FFI: opening `/proc/self/mem` is its one way to write
/// its own memory. Bare, a marker written at the end of the heap (the
/// allocator's untouched top) reads back, and the old bytes go back.
const NODE_PROC_MEM_WRITE: &str = r#"
const fs = require('fs');
const line = fs.readFileSync('/proc/self/maps', 'utf8').split('\n').find(l => l.endsWith('[heap]'));
const at = Number(BigInt('0x' + line.split(' ')[0].split('-')[1]) - 16n);
let fd;
try {
  fd = fs.openSync('/proc/self/mem', 'r+');
} catch (e) {
  console.log('refused:', e.code);
  process.exit(0);
}
const before = Buffer.alloc(16), marker = Buffer.from('rampart-mem-test'), after = Buffer.alloc(16);
fs.readSync(fd, before, 0, 16, at);
fs.writeSync(fd, marker, 0, 16, at);
fs.readSync(fd, after, 0, 16, at);
fs.writeSync(fd, before, 0, 16, at);
if (after.equals(marker)) console.log('HIT wrote its own memory at 0x' + at.toString(16));
"#;

#[test]
fn process_memory_from_node_without_ffi() {
    let mut a = Arena::new("files-proc-mem-node");
    a.file.push("rw /proc/**".into());
    let t = a.attempt("proc-mem-node", Lang::Node, NODE_PROC_MEM_WRITE, &[]);
    t.assert_blocked();
    assert!(t.guarded.stdout.contains("refused: EACCES"), "{:#?}", t.guarded);
}

#[test]
fn process_memory_is_refused_in_alert_and_profile_mode_too() {
    let code = "try:\n    open('/proc/self/mem', 'r+b')\n    print('opened')\nexcept OSError as e:\n    print('refused', e.errno)";
    for mode in ["alert", "profile"] {
        let mut cmd = rampart_tests::rampart_run(None, Some(mode));
        cmd.arg(&rampart_tests::evasion::python().0).args(["-I", "-c", code]);
        let out = rampart_tests::outcome(cmd.output().expect("run python3 under rampart"));
        assert_eq!(out.stdout.trim(), "refused 13", "{mode}: refused with EACCES\n{out:#?}");
        assert!(out.of(EventType::Block).is_empty(), "{mode}: nothing is blocked in {mode} mode\n{out:#?}");
        assert_eq!(
            out.with_target(EventType::Alert, "/proc/self/mem").len(),
            1,
            "{mode}: an alert line says what was refused\n{out:#?}"
        );
    }
}

/// A `posix_spawn` file action opens `/proc/self/mem` in the child,
/// which shares its parent's memory until it execs: the descriptor keeps
/// the parent's memory, and the (allowed) program written to it writes
/// there.
const SPAWNED_CHILD_WRITES_PARENT: &str = r#"
import ctypes, os, sys
buf = ctypes.create_string_buffer(b'untouched', 16)
child = f"import os; os.pwrite(3, b'written', {ctypes.addressof(buf)})"
try:
    pid = os.posix_spawn(sys.executable, [sys.executable, '-I', '-c', child], os.environ,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 3, '/proc/self/mem', os.O_RDWR, 0)])
    os.waitpid(pid, 0)
except OSError as e:
    print('refused:', e)
if buf.value.startswith(b'written'):
    print("HIT the spawned child wrote its parent's memory")
"#;

#[test]
fn process_memory_through_a_spawn_file_action() {
    let mut a = Arena::new("files-proc-mem-spawn");
    a.file.push("rw /proc/**".into());
    let t = a.attempt("proc-mem-spawn-action", Lang::Python, SPAWNED_CHILD_WRITES_PARENT, &[]);
    t.assert_blocked();
    assert!(
        t.guarded.of(EventType::Block).iter().any(|e| e.target.as_deref() == Some("/proc/self/mem")),
        "{:#?}",
        t.guarded
    );
}

/// A parent writes its forked child's memory (where the child's library
/// keeps its state) with `process_vm_writev`, by libc's function and by
/// `syscall()`; the child prints `HIT` for each buffer that changed.
const WRITE_A_CHILDS_MEMORY: &str = r#"
import ctypes, os, platform, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = {'x86_64': 311, 'aarch64': 271}[platform.machine()]
class iovec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    bufs = [ctypes.create_string_buffer(b'untouched', 16) for _ in range(2)]
    os.write(w, ' '.join(str(ctypes.addressof(b)) for b in bufs).encode())
    time.sleep(1)
    for how, b in zip(['function', 'syscall'], bufs):
        if b.value.startswith(b'written'):
            print('HIT', how)
    sys.stdout.flush()
    os._exit(0)
by_function, by_syscall = (int(a) for a in os.read(r, 100).split())
src = ctypes.create_string_buffer(b'written')
local = iovec(ctypes.addressof(src), 7)
n = libc.process_vm_writev(pid, ctypes.byref(local), 1, ctypes.byref(iovec(by_function, 7)), 1, 0)
print('function:', n, os.strerror(ctypes.get_errno()))
n = libc.syscall(ctypes.c_long(NR), ctypes.c_long(pid), ctypes.byref(local), ctypes.c_long(1),
                 ctypes.byref(iovec(by_syscall, 7)), ctypes.c_long(1), ctypes.c_long(0))
print('syscall:', n, os.strerror(ctypes.get_errno()))
os.waitpid(pid, 0)
"#;

#[test]
fn process_memory_of_a_child_through_process_vm_writev() {
    let mut a = Arena::new("files-process-vm-writev");
    a.file.push("rw /proc/**".into());
    let t = a.attempt("process-vm-writev", Lang::Python, WRITE_A_CHILDS_MEMORY, &[]);
    t.assert_blocked();
    assert_eq!(t.bare_hits(), 2, "both ways write bare\n{:#?}", t.bare);
    assert_eq!(t.guarded.stdout.matches("-1 Operation not permitted").count(), 2, "{:#?}", t.guarded);
    let blocks = t.guarded.of(EventType::Block);
    assert_eq!(
        blocks.iter().filter(|e| e.op.as_deref() == Some("process_vm_writev")).count(),
        2,
        "one line per refused write\n{:#?}",
        t.guarded
    );
}

/// An io_uring set up from pure Python (ctypes' `syscall()`), whose
/// `IORING_OP_OPENAT` opens the secret with no open hook seeing it.
const RING_OPENS_THE_SECRET: &str = r#"
import ctypes, mmap, os, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SETUP, ENTER = 425, 426
params = ctypes.create_string_buffer(120)
ring = libc.syscall(ctypes.c_long(SETUP), ctypes.c_long(4), params)
if ring < 0:
    print('io_uring_setup refused:', os.strerror(ctypes.get_errno()))
    raise SystemExit
sq_entries, cq_entries = struct.unpack_from('II', params, 0)
sq_head, sq_tail, sq_mask, _, _, _, sq_array = struct.unpack_from('7I', params, 40)
cq_head, cq_tail, cq_mask, _, _, cqes = struct.unpack_from('6I', params, 80)
size = max(sq_array + 4 * sq_entries, cqes + 16 * cq_entries)
rings = mmap.mmap(ring, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
sqes = mmap.mmap(ring, 64 * sq_entries, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0x10000000)
path = ctypes.create_string_buffer(os.environ['EV_SECRET'].encode())
IORING_OP_OPENAT, AT_FDCWD = 18, -100
tail = struct.unpack_from('I', rings, sq_tail)[0]
slot = tail & struct.unpack_from('I', rings, sq_mask)[0]
sqe = struct.pack('BBHiQQIIQ', IORING_OP_OPENAT, 0, 0, AT_FDCWD, 0, ctypes.addressof(path), 0, os.O_RDONLY, 7)
sqes[64 * slot:64 * slot + len(sqe)] = sqe
struct.pack_into('I', rings, sq_array + 4 * slot, slot)
struct.pack_into('I', rings, sq_tail, tail + 1)
libc.syscall(ctypes.c_long(ENTER), ctypes.c_long(ring), ctypes.c_long(1), ctypes.c_long(1), ctypes.c_long(1),
             ctypes.c_long(0), ctypes.c_long(0))
head = struct.unpack_from('I', rings, cq_head)[0]
_, res, _ = struct.unpack_from('QiI', rings, cqes + 16 * (head & struct.unpack_from('I', rings, cq_mask)[0]))
if res < 0:
    print('the ring could not open it:', os.strerror(-res))
else:
    print('HIT', os.read(res, 100).decode().strip())
"#;

#[test]
fn io_uring_from_pure_python() {
    let a = Arena::new("files-io-uring");
    let t = a.attempt("io-uring-openat", Lang::Python, RING_OPENS_THE_SECRET, &[]);
    t.assert_blocked();
    assert!(t.bare.stdout.contains(SECRET_DATA), "bare, the ring read the secret\n{:#?}", t.bare);
    assert!(t.guarded.stdout.contains("io_uring_setup refused: Operation not permitted"), "{:#?}", t.guarded);
    let blocks = t.guarded.of(EventType::Block);
    assert!(
        blocks.iter().any(|e| e.op.as_deref() == Some("io_uring_setup") && e.target.as_deref() == Some("io_uring")),
        "the refusal's line\n{:#?}",
        t.guarded
    );
}
