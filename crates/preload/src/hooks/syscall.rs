//! libc's `syscall()`: an exported function like any other, so
//! `ctypes.CDLL(None).syscall(SYS_openat, ...)` makes a raw system call
//! from pure Python. The numbers the library checks go through the same
//! hooks as the libc functions of the same name (their return convention
//! is `syscall()`'s: -1 and errno); every other number goes to the kernel
//! after one range check — programs and Rust's std call `syscall()` for
//! `futex` and `getrandom` all the time.
//!
//! `syscall` is variadic in C. Like `open`'s mode (see hooks/file.rs), the
//! six arguments are taken as plain parameters: on x86_64 and Linux
//! aarch64 a variadic call passes them where a plain one does, and the
//! slots past what the caller passed are read, never used (glibc's own
//! `syscall` reads all six the same way).
//!
//! `io_uring_setup` has no libc function of its own: `syscall()` is the
//! way in from C and from `ctypes`, and a ring's operations
//! (`IORING_OP_OPENAT`, `IORING_OP_CONNECT`, ...) are performed by the
//! kernel past every hook. Where file or network activities are blocked
//! it is refused (see [`ring_setup`]).
//!
//! `process_vm_writev` writes another process's memory (a child's: the
//! library's state there) as `/proc/PID/mem` does, and is refused as that
//! file's write opens are ([`process_vm_writev`], through `syscall()` or
//! libc's function of that name).
//!
//! A hook here runs wherever `syscall()` may be called, a vfork child
//! included: the same rules as the open and exec hooks (no allocation, no
//! locks, decide on a copy).

use std::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};

use rampart_decide::flags::takes_mode;

use crate::capture::CapturedPath;
use crate::hooks::{exec, file, net};
use crate::ops::file as file_ops;
use rampart_decide::procmem::memory_file;
use rampart_decide::text::StackText;
use rampart_policy::{Access, Category, Verdict};

use crate::ops::{Outcome, settle};
use crate::report::Activity;
use crate::state::{self, State};
use crate::sys::{self, OpenHow, RESOLVE_IN_ROOT, raw_syscall};

/// The system calls routed through a hook.
const CHECKED: &[c_long] = &[
    #[cfg(target_arch = "x86_64")]
    libc::SYS_open,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_creat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_link,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_unlink,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_rename,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_mkdir,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_rmdir,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_symlink,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_connect,
    libc::SYS_sendto,
    libc::SYS_sendmsg,
    libc::SYS_sendmmsg,
    libc::SYS_linkat,
    libc::SYS_unlinkat,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_mkdirat,
    libc::SYS_symlinkat,
    libc::SYS_truncate,
    libc::SYS_io_uring_setup,
    libc::SYS_process_vm_writev,
];

/// The checked numbers as a bitmap (all are below 64 * CHECKED_WORDS).
const CHECKED_WORDS: usize = 8;

// Evaluated by the compiler: a number out of the bitmap fails the build.
#[allow(clippy::indexing_slicing)]
const fn checked_bits() -> [u64; CHECKED_WORDS] {
    let mut bits = [0u64; CHECKED_WORDS];
    let mut rest = CHECKED;
    while let [n, tail @ ..] = rest {
        bits[(*n / 64) as usize] |= 1 << (*n % 64);
        rest = tail;
    }
    bits
}

const CHECKED_BITS: [u64; CHECKED_WORDS] = checked_bits();

/// Whether the library checks system call `number`: a range check and a
/// bit test, so the calls it does not check (futex, getrandom, ...) never
/// reach [`route`]'s stack frame.
fn is_checked(number: c_long) -> bool {
    let n = number as u64;
    CHECKED_BITS.get((n / 64) as usize).is_some_and(|word| word >> (n % 64) & 1 != 0)
}

/// # Safety
/// As syscall(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn syscall(
    number: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    if !is_checked(number) {
        // SAFETY: the caller's system call, as it made it.
        return unsafe { sys::raw_syscall6(number, a1, a2, a3, a4, a5, a6) };
    }
    // SAFETY: as above, to the hook of the same name.
    unsafe { route(number, a1, a2, a3, a4, a5, a6) }
}

/// A checked system call, to the hook of the same name. Not inlined: the
/// hooks' frames hold whole paths (kilobytes), which a `futex` from a
/// signal handler on a small alternate stack must not pay for.
///
/// # Safety
/// As syscall(2).
#[inline(never)]
unsafe fn route(number: c_long, a1: c_long, a2: c_long, a3: c_long, a4: c_long, a5: c_long, a6: c_long) -> c_long {
    let s = |v: c_long| v as usize as *const c_char;
    let int = |v: c_long| v as c_int;
    let vec = |v: c_long| v as usize as *const *const c_char;
    let addr = |v: c_long| v as usize as *const libc::sockaddr;
    // SAFETY: in every arm, the hook takes the arguments as the system
    // call does (the kernel truncates int arguments the same way); what
    // each pointer points to is the caller's contract, as with the call.
    unsafe {
        match number {
            #[cfg(target_arch = "x86_64")]
            libc::SYS_open => c_long::from(file::open(s(a1), int(a2), a3 as c_uint)),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_creat => c_long::from(file::creat(s(a1), a2 as libc::mode_t)),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_link => c_long::from(file::link(s(a1), s(a2))),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_unlink => c_long::from(file::unlink(s(a1))),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_rename => c_long::from(file::rename(s(a1), s(a2))),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_mkdir => c_long::from(file::mkdir(s(a1), a2 as libc::mode_t)),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_rmdir => c_long::from(file::rmdir(s(a1))),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_symlink => c_long::from(file::symlink(s(a1), s(a2))),
            libc::SYS_openat => c_long::from(file::openat(int(a1), s(a2), int(a3), a4 as c_uint)),
            libc::SYS_openat2 => openat2(int(a1), s(a2), a3 as usize as *const OpenHow, a4 as usize),
            libc::SYS_execve => c_long::from(exec::execve(s(a1), vec(a2), vec(a3))),
            libc::SYS_execveat => c_long::from(exec::execveat(int(a1), s(a2), vec(a3), vec(a4), int(a5))),
            libc::SYS_connect => c_long::from(net::connect(int(a1), addr(a2), a3 as libc::socklen_t)),
            libc::SYS_sendto => net::sendto(
                int(a1),
                a2 as usize as *const c_void,
                a3 as usize,
                int(a4),
                addr(a5),
                a6 as libc::socklen_t,
            ) as c_long,
            libc::SYS_sendmsg => net::sendmsg(int(a1), a2 as usize as *const libc::msghdr, int(a3)) as c_long,
            libc::SYS_sendmmsg => {
                c_long::from(net::sendmmsg(int(a1), a2 as usize as *mut libc::mmsghdr, a3 as c_uint, int(a4)))
            }
            libc::SYS_linkat => c_long::from(file::linkat(int(a1), s(a2), int(a3), s(a4), int(a5))),
            libc::SYS_unlinkat => c_long::from(file::unlinkat(int(a1), s(a2), int(a3))),
            libc::SYS_renameat => c_long::from(file::renameat(int(a1), s(a2), int(a3), s(a4))),
            libc::SYS_renameat2 => c_long::from(file::renameat2(int(a1), s(a2), int(a3), s(a4), a5 as c_uint)),
            libc::SYS_mkdirat => c_long::from(file::mkdirat(int(a1), s(a2), a3 as libc::mode_t)),
            libc::SYS_symlinkat => c_long::from(file::symlinkat(s(a1), int(a2), s(a3))),
            libc::SYS_truncate => c_long::from(file::truncate(s(a1), a2 as libc::off_t)),
            libc::SYS_process_vm_writev => process_vm_writev(
                int(a1),
                a2 as usize as *const libc::iovec,
                a3 as c_ulong,
                a4 as usize as *const libc::iovec,
                a5 as c_ulong,
                a6 as c_ulong,
            ) as c_long,
            libc::SYS_io_uring_setup => match state::checked().map(ring_setup) {
                Some(Outcome::Deny(e)) => {
                    sys::set_errno(e);
                    -1
                }
                _ => sys::raw_syscall6(number, a1, a2, a3, a4, a5, a6),
            },
            _ => sys::raw_syscall6(number, a1, a2, a3, a4, a5, a6),
        }
    }
}

/// process_vm_writev(2): another process's memory written without a file,
/// the same power as its `/proc/PID/mem` opened for writing — and refused
/// the same way (`ops::file::memory_write`), with the kernel's error for a
/// process one may not write, `EPERM`. (Its `_readv` twin reads, as a read
/// of the file does, and is left to the kernel's ptrace rules.)
///
/// # Safety
/// As process_vm_writev(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn process_vm_writev(
    pid: libc::pid_t,
    local: *const libc::iovec,
    local_count: c_ulong,
    remote: *const libc::iovec,
    remote_count: c_ulong,
    flags: c_ulong,
) -> isize {
    if let Some(st) = state::checked() {
        let mut target = StackText::<32>::new();
        // SAFETY: getpid has no preconditions.
        memory_file(&mut target, pid, unsafe { libc::getpid() });
        if let Outcome::Deny(_) = file_ops::memory_write(st, "process_vm_writev", target.as_bytes(), Access::W) {
            sys::set_errno(libc::EPERM);
            return -1;
        }
    }
    // SAFETY: the caller's arguments, as the system call takes them.
    unsafe { raw_syscall!(libc::SYS_process_vm_writev, pid, local, local_count, remote, remote_count, flags) as isize }
}

/// What the ring's operations would bypass: the file category, or the
/// network one where only that is blocked.
const RING_TARGET: &[u8] = b"io_uring";

/// `io_uring_setup`: the ring would open files and connect with no hook
/// seeing it, so no rule can allow it. Refused where file or network
/// activities are blocked, with the `block` line of that category
/// (`"target":"io_uring"`, no path: `rampart learn` skips it), and
/// reported like any activity not allowed otherwise. The error is
/// `EPERM`, the kernel's own answer where io_uring is turned off
/// (`kernel.io_uring_disabled`): libuv and liburing users take it as "no
/// io_uring" and fall back to plain system calls, as Node.js does under
/// `UV_USE_IO_URING=0`.
fn ring_setup(st: &State) -> Outcome {
    let blocked = |cat| st.matcher().verdict(cat, false) == Verdict::Block;
    let cat = if !blocked(Category::File) && blocked(Category::Network) { Category::Network } else { Category::File };
    let a = Activity { cat, op: "io_uring_setup", target: RING_TARGET, access: None, argv: None, api: None };
    match settle(st, false, &a) {
        Outcome::Deny(_) => Outcome::Deny(libc::EPERM),
        other => other,
    }
}

/// The size of `struct open_how` every kernel with `openat2` takes.
const OPEN_HOW_SIZE: usize = size_of::<OpenHow>();

/// `openat2` has no libc hook to reuse: the open_how is copied, its path
/// checked and opened as the open hooks do it, with the caller's resolve
/// flags on the real call.
///
/// `RESOLVE_IN_ROOT` (absolute paths and `..` stay under the dirfd) is
/// turned into a plain lookup relative to the dirfd, which the check
/// sees exactly: the object opened is the one checked, at the cost of
/// `..` and absolute symlinks meaning what they mean without the flag.
/// The check's own symlink-safe open uses `RESOLVE_NO_SYMLINKS` alone,
/// so the caller's other resolve flags only apply where a link on the
/// way sends the open through the real call.
fn openat2(dirfd: c_int, path: *const c_char, how: *const OpenHow, size: usize) -> c_long {
    let unchecked = |how: *const OpenHow, size: usize| {
        // SAFETY: the caller's arguments (or our copy of the open_how).
        unsafe { raw_syscall!(libc::SYS_openat2, dirfd, path, how, size) }
    };
    let Some(st) = state::checked() else { return unchecked(how, size) };
    // The kernel's own answers (EFAULT, EINVAL) for these.
    if path.is_null() || how.is_null() || size < OPEN_HOW_SIZE {
        return unchecked(how, size);
    }
    // SAFETY: how is readable for size >= OPEN_HOW_SIZE bytes (the call's
    // contract); read once, volatile, so the check and the call agree.
    let copy = unsafe { how.read_volatile() };
    if copy.flags > u64::from(u32::MAX) || copy.mode & !0o7777 != 0 {
        // Invalid: the kernel rejects the copy as it would the original.
        return unchecked(&copy, OPEN_HOW_SIZE);
    }
    // SAFETY: path is non-null and NUL-terminated (the call's contract).
    let Ok(captured) = (unsafe { CapturedPath::capture(path) }) else {
        sys::set_errno(libc::ENAMETOOLONG);
        return -1;
    };
    let mut target = captured.as_ptr();
    let mut resolve = copy.resolve;
    if resolve & RESOLVE_IN_ROOT != 0 {
        resolve &= !RESOLVE_IN_ROOT;
        let bytes = captured.as_bytes();
        let slashes = bytes.iter().take_while(|&&b| b == b'/').count();
        target = if slashes == bytes.len() && slashes > 0 {
            c".".as_ptr()
        } else {
            // SAFETY: slashes <= len, inside the captured, NUL-terminated copy.
            unsafe { target.add(slashes) }
        };
    }
    let flags = copy.flags as u32 as c_int;
    let real = |d: c_int, p: *const c_char, f: c_int, m: c_uint| {
        let how = OpenHow { flags: u64::from(f as u32), mode: if takes_mode(f) { u64::from(m) } else { 0 }, resolve };
        // SAFETY: a path we hold (the captured one, or the resolved one
        // the check made) and an open_how of ours.
        unsafe { raw_syscall!(libc::SYS_openat2, d, p, &how as *const OpenHow, OPEN_HOW_SIZE) as c_int }
    };
    if target == captured.as_ptr() {
        return c_long::from(file_ops::open(st, "openat2", dirfd, &captured, flags, copy.mode as c_uint, real));
    }
    // SAFETY: target is inside our own NUL-terminated copy, or a static C string.
    let Ok(inside_root) = (unsafe { CapturedPath::capture(target) }) else {
        sys::set_errno(libc::ENAMETOOLONG);
        return -1;
    };
    c_long::from(file_ops::open(st, "openat2", dirfd, &inside_root, flags, copy.mode as c_uint, real))
}
