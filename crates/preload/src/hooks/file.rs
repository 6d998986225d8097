//! The open family as libc exports it: every entry point CPython, Node,
//! the JDK and .NET were seen to use (see DESIGN.md), each converting its
//! arguments and handing them to `ops::file`.
//!
//! `open`'s mode is variadic in C; stable Rust cannot define a variadic
//! function, so it is taken as a plain third argument, which is how the
//! x86_64 and aarch64 Linux ABIs pass it. It is only read with `O_CREAT` or
//! `O_TMPFILE`. The fortify variants (`__open_2`, ...) have no mode.

use std::ffi::{c_char, c_int, c_uint};

use libc::{DIR, FILE};
use rampart_decide::flags::{O_CLOEXEC, O_DIRECTORY, O_RDONLY, fopen_flags};

use crate::ops::file::{self, Decision};
use crate::real::{self, Real, call_real};
use crate::state;
use crate::sys;

type OpenFn = unsafe extern "C" fn(*const c_char, c_int, ...) -> c_int;
type OpenatFn = unsafe extern "C" fn(c_int, *const c_char, c_int, ...) -> c_int;
type Open2Fn = unsafe extern "C" fn(*const c_char, c_int) -> c_int;
type Openat2Fn = unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int;
type CreatFn = unsafe extern "C" fn(*const c_char, libc::mode_t) -> c_int;
type FopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut FILE;
type FreopenFn = unsafe extern "C" fn(*const c_char, *const c_char, *mut FILE) -> *mut FILE;
type FdopenFn = unsafe extern "C" fn(c_int, *const c_char) -> *mut FILE;
type OpendirFn = unsafe extern "C" fn(*const c_char) -> *mut DIR;
type FdopendirFn = unsafe extern "C" fn(c_int) -> *mut DIR;

/// `open`-shaped entry points.
fn open_like(op: &'static str, real: &'static Real, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    let plain = |_dirfd: c_int, p: *const c_char, f: c_int, m: c_uint| call_real!(real, OpenFn, -1, (p, f, m));
    match state::checked() {
        Some(st) if !path.is_null() => file::open(st, op, libc::AT_FDCWD, path, flags, mode, plain),
        _ => plain(libc::AT_FDCWD, path, flags, mode),
    }
}

fn openat_like(
    op: &'static str,
    real: &'static Real,
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: c_uint,
) -> c_int {
    let plain = |d: c_int, p: *const c_char, f: c_int, m: c_uint| call_real!(real, OpenatFn, -1, (d, p, f, m));
    match state::checked() {
        Some(st) if !path.is_null() => file::open(st, op, dirfd, path, flags, mode, plain),
        _ => plain(dirfd, path, flags, mode),
    }
}

/// # Safety
/// As open(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    open_like("open", &real::OPEN, path, flags, mode)
}

/// # Safety
/// As open(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    open_like("open64", &real::OPEN64, path, flags, mode)
}

/// # Safety
/// As openat(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn openat(dirfd: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    openat_like("openat", &real::OPENAT, dirfd, path, flags, mode)
}

/// # Safety
/// As openat(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn openat64(dirfd: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    openat_like("openat64", &real::OPENAT64, dirfd, path, flags, mode)
}

/// # Safety
/// As glibc's fortified open.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __open_2(path: *const c_char, flags: c_int) -> c_int {
    fortified("__open_2", &real::OPEN_2, libc::AT_FDCWD, path, flags)
}

/// # Safety
/// As glibc's fortified open64.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __open64_2(path: *const c_char, flags: c_int) -> c_int {
    fortified("__open64_2", &real::OPEN64_2, libc::AT_FDCWD, path, flags)
}

/// # Safety
/// As glibc's fortified openat.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __openat_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    fortified("__openat_2", &real::OPENAT_2, dirfd, path, flags)
}

/// # Safety
/// As glibc's fortified openat64.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __openat64_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    fortified("__openat64_2", &real::OPENAT64_2, dirfd, path, flags)
}

fn fortified(op: &'static str, real: &'static Real, dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    // The fortified entry points take no mode (glibc aborts on O_CREAT
    // without one before calling them), so the real call drops it.
    let at = op.starts_with("__openat");
    let plain = |d: c_int, p: *const c_char, f: c_int, _m: c_uint| {
        if at { call_real!(real, Openat2Fn, -1, (d, p, f)) } else { call_real!(real, Open2Fn, -1, (p, f)) }
    };
    match state::checked() {
        Some(st) if !path.is_null() => file::open(st, op, dirfd, path, flags, 0, plain),
        _ => plain(dirfd, path, flags, 0),
    }
}

/// # Safety
/// As creat(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn creat(path: *const c_char, mode: libc::mode_t) -> c_int {
    creat_like("creat", &real::CREAT, path, mode)
}

/// # Safety
/// As creat(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn creat64(path: *const c_char, mode: libc::mode_t) -> c_int {
    creat_like("creat64", &real::CREAT64, path, mode)
}

fn creat_like(op: &'static str, real: &'static Real, path: *const c_char, mode: libc::mode_t) -> c_int {
    let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;
    match state::checked() {
        Some(st) if !path.is_null() => file::open(st, op, libc::AT_FDCWD, path, flags, mode, |_d, p, f, m| {
            // The resolved path may differ from the caller's: open it with
            // the same flags creat implies.
            call_real!(real::OPEN, OpenFn, -1, (p, f, m))
        }),
        _ => call_real!(real, CreatFn, -1, (path, mode)),
    }
}

/// fopen: the checked open, then `fdopen` on the descriptor, so the stream
/// is on the object that was checked.
fn fopen_like(op: &'static str, real: &'static Real, path: *const c_char, mode: *const c_char) -> *mut FILE {
    let st = match state::checked() {
        Some(st) if !path.is_null() && !mode.is_null() => st,
        _ => return call_real!(real, FopenFn, std::ptr::null_mut(), (path, mode)),
    };
    // SAFETY: mode is a non-null C string (fopen's contract).
    let Some(flags) = fopen_flags(unsafe { sys::c_bytes(mode) }) else {
        return call_real!(real, FopenFn, std::ptr::null_mut(), (path, mode));
    };
    let fd = file::open(st, op, libc::AT_FDCWD, path, flags, 0o666, |_d, p, f, m| {
        call_real!(real::OPEN64, OpenFn, -1, (p, f, m))
    });
    stream_on(fd, |fd| call_real!(real::FDOPEN, FdopenFn, std::ptr::null_mut(), (fd, mode)))
}

/// Wraps a checked descriptor in a stream; closes it if that fails.
fn stream_on<T>(fd: c_int, wrap: impl FnOnce(c_int) -> *mut T) -> *mut T {
    if fd < 0 {
        return std::ptr::null_mut();
    }
    let saved = sys::errno();
    let s = wrap(fd);
    if s.is_null() {
        let e = sys::errno();
        // SAFETY: fd is the descriptor just opened, owned by nobody else.
        unsafe { libc::close(fd) };
        sys::set_errno(e);
    } else {
        sys::set_errno(saved);
    }
    s
}

/// # Safety
/// As fopen(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fopen(path: *const c_char, mode: *const c_char) -> *mut FILE {
    fopen_like("fopen", &real::FOPEN, path, mode)
}

/// # Safety
/// As fopen(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fopen64(path: *const c_char, mode: *const c_char) -> *mut FILE {
    fopen_like("fopen64", &real::FOPEN64, path, mode)
}

/// freopen cannot take a descriptor: the resolved path is checked, then
/// the real freopen opens it (a link swapped in between is not caught here;
/// see the README's limits).
fn freopen_like(
    op: &'static str,
    real: &'static Real,
    path: *const c_char,
    mode: *const c_char,
    stream: *mut FILE,
) -> *mut FILE {
    if let Some(st) = state::checked().filter(|_| !mode.is_null()) {
        // SAFETY: mode is a non-null C string (freopen's contract).
        let m = unsafe { sys::c_bytes(mode) };
        if let Some(flags) = fopen_flags(m) {
            let access = rampart_decide::flags::open_access(flags);
            let mut fd_link = rampart_decide::text::StackText::<32>::new();
            let p = if path.is_null() {
                // A new mode on the same file (glibc reopens
                // /proc/self/fd/N internally): the file must allow it, or
                // a read-only stream could be made writable.
                if stream.is_null() {
                    return call_real!(real, FreopenFn, std::ptr::null_mut(), (path, mode, stream));
                }
                // SAFETY: stream is the caller's open stream.
                let fd = unsafe { libc::fileno(stream) };
                let _ = std::fmt::Write::write_fmt(&mut fd_link, format_args!("/proc/self/fd/{fd}"));
                fd_link.as_bytes()
            } else {
                // SAFETY: path is a non-null C string.
                unsafe { sys::c_bytes(path) }
            };
            if let Some(query) = rampart_decide::api::sdk_query(p) {
                // As a failed freopen (the original stream is closed), with
                // the channel's answer in errno.
                if !stream.is_null() {
                    // SAFETY: stream is the caller's open stream.
                    unsafe { libc::fclose(stream) };
                }
                crate::ops::api::sdk_open(st, op, query);
                return std::ptr::null_mut();
            }
            if let Decision::Deny = file::check_path(st, op, libc::AT_FDCWD, p, access, true) {
                // As a failed freopen: the original stream is closed.
                if !stream.is_null() {
                    // SAFETY: stream is the caller's open stream.
                    unsafe { libc::fclose(stream) };
                }
                sys::set_errno(libc::EACCES);
                return std::ptr::null_mut();
            }
        }
    }
    call_real!(real, FreopenFn, std::ptr::null_mut(), (path, mode, stream))
}

/// # Safety
/// As freopen(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn freopen(path: *const c_char, mode: *const c_char, stream: *mut FILE) -> *mut FILE {
    freopen_like("freopen", &real::FREOPEN, path, mode, stream)
}

/// # Safety
/// As freopen(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn freopen64(path: *const c_char, mode: *const c_char, stream: *mut FILE) -> *mut FILE {
    freopen_like("freopen64", &real::FREOPEN64, path, mode, stream)
}

/// # Safety
/// As opendir(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn opendir(path: *const c_char) -> *mut DIR {
    let st = match state::checked() {
        Some(st) if !path.is_null() => st,
        _ => return call_real!(real::OPENDIR, OpendirFn, std::ptr::null_mut(), (path)),
    };
    let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | libc::O_NONBLOCK;
    let fd = file::open(st, "opendir", libc::AT_FDCWD, path, flags, 0, |_d, p, f, m| {
        call_real!(real::OPEN64, OpenFn, -1, (p, f, m))
    });
    stream_on(fd, |fd| call_real!(real::FDOPENDIR, FdopendirFn, std::ptr::null_mut(), (fd)))
}

// Calls that change a name in a directory count as writes (`w`) of that
// name: its last component is not followed (unlink removes a link, not
// its target), the directories on the way are.

type PathFn = unsafe extern "C" fn(*const c_char) -> c_int;
type PathModeFn = unsafe extern "C" fn(*const c_char, libc::mode_t) -> c_int;
type AtFlagsFn = unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int;
type AtModeFn = unsafe extern "C" fn(c_int, *const c_char, libc::mode_t) -> c_int;
type RenameFn = unsafe extern "C" fn(*const c_char, *const c_char) -> c_int;
type RenameatFn = unsafe extern "C" fn(c_int, *const c_char, c_int, *const c_char) -> c_int;
type Renameat2Fn = unsafe extern "C" fn(c_int, *const c_char, c_int, *const c_char, c_uint) -> c_int;

/// Whether writing `path` (relative to `dirfd`) may go ahead; false with
/// errno `EACCES` when blocked. Calls on a name do not follow its last
/// component (`follow_last` false); `truncate` writes the file it names.
fn may_write(op: &'static str, dirfd: c_int, path: *const c_char, follow_last: bool) -> bool {
    let Some(st) = state::checked().filter(|_| !path.is_null()) else { return true };
    let saved = sys::errno();
    // SAFETY: path is a non-null C string (the call's contract).
    let bytes = unsafe { sys::c_bytes(path) };
    match file::check_path(st, op, dirfd, bytes, rampart_policy::Access::W, follow_last) {
        Decision::Deny => false,
        Decision::Allow => {
            sys::set_errno(saved);
            true
        }
    }
}

/// A name in a directory: its last component is not followed.
fn may_write_name(op: &'static str, dirfd: c_int, path: *const c_char) -> bool {
    may_write(op, dirfd, path, false)
}

/// # Safety
/// As unlink(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn unlink(path: *const c_char) -> c_int {
    if !may_write_name("unlink", libc::AT_FDCWD, path) {
        return -1;
    }
    call_real!(real::UNLINK, PathFn, -1, (path))
}

/// # Safety
/// As unlinkat(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn unlinkat(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    if !may_write_name("unlinkat", dirfd, path) {
        return -1;
    }
    call_real!(real::UNLINKAT, AtFlagsFn, -1, (dirfd, path, flags))
}

/// # Safety
/// As rmdir(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmdir(path: *const c_char) -> c_int {
    if !may_write_name("rmdir", libc::AT_FDCWD, path) {
        return -1;
    }
    call_real!(real::RMDIR, PathFn, -1, (path))
}

/// # Safety
/// As mkdir(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mkdir(path: *const c_char, mode: libc::mode_t) -> c_int {
    if !may_write_name("mkdir", libc::AT_FDCWD, path) {
        return -1;
    }
    call_real!(real::MKDIR, PathModeFn, -1, (path, mode))
}

/// # Safety
/// As mkdirat(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mkdirat(dirfd: c_int, path: *const c_char, mode: libc::mode_t) -> c_int {
    if !may_write_name("mkdirat", dirfd, path) {
        return -1;
    }
    call_real!(real::MKDIRAT, AtModeFn, -1, (dirfd, path, mode))
}

/// # Safety
/// As rename(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rename(old: *const c_char, new: *const c_char) -> c_int {
    if !may_write_name("rename", libc::AT_FDCWD, old) || !may_write_name("rename", libc::AT_FDCWD, new) {
        return -1;
    }
    call_real!(real::RENAME, RenameFn, -1, (old, new))
}

/// # Safety
/// As renameat(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn renameat(olddir: c_int, old: *const c_char, newdir: c_int, new: *const c_char) -> c_int {
    if !may_write_name("renameat", olddir, old) || !may_write_name("renameat", newdir, new) {
        return -1;
    }
    call_real!(real::RENAMEAT, RenameatFn, -1, (olddir, old, newdir, new))
}

/// # Safety
/// As renameat2(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn renameat2(
    olddir: c_int,
    old: *const c_char,
    newdir: c_int,
    new: *const c_char,
    flags: c_uint,
) -> c_int {
    if !may_write_name("renameat2", olddir, old) || !may_write_name("renameat2", newdir, new) {
        return -1;
    }
    call_real!(real::RENAMEAT2, Renameat2Fn, -1, (olddir, old, newdir, new, flags))
}

type LinkFn = unsafe extern "C" fn(*const c_char, *const c_char) -> c_int;
type LinkatFn = unsafe extern "C" fn(c_int, *const c_char, c_int, *const c_char, c_int) -> c_int;
type SymlinkatFn = unsafe extern "C" fn(*const c_char, c_int, *const c_char) -> c_int;
type TruncateFn = unsafe extern "C" fn(*const c_char, libc::off_t) -> c_int;

/// A hard link gives the file a second name, which would otherwise let an
/// allowed directory reach a denied file: both names need `w`.
///
/// # Safety
/// As link(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn link(old: *const c_char, new: *const c_char) -> c_int {
    if !may_write_name("link", libc::AT_FDCWD, old) || !may_write_name("link", libc::AT_FDCWD, new) {
        return -1;
    }
    call_real!(real::LINK, LinkFn, -1, (old, new))
}

/// # Safety
/// As linkat(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn linkat(
    olddir: c_int,
    old: *const c_char,
    newdir: c_int,
    new: *const c_char,
    flags: c_int,
) -> c_int {
    if !may_write_name("linkat", olddir, old) || !may_write_name("linkat", newdir, new) {
        return -1;
    }
    call_real!(real::LINKAT, LinkatFn, -1, (olddir, old, newdir, new, flags))
}

/// A symlink's target is checked whenever it is followed; creating one
/// writes its own name.
///
/// # Safety
/// As symlink(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn symlink(target: *const c_char, name: *const c_char) -> c_int {
    if !may_write_name("symlink", libc::AT_FDCWD, name) {
        return -1;
    }
    call_real!(real::SYMLINK, LinkFn, -1, (target, name))
}

/// # Safety
/// As symlinkat(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn symlinkat(target: *const c_char, dirfd: c_int, name: *const c_char) -> c_int {
    if !may_write_name("symlinkat", dirfd, name) {
        return -1;
    }
    call_real!(real::SYMLINKAT, SymlinkatFn, -1, (target, dirfd, name))
}

/// # Safety
/// As truncate(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn truncate(path: *const c_char, len: libc::off_t) -> c_int {
    if !may_write("truncate", libc::AT_FDCWD, path, true) {
        return -1;
    }
    call_real!(real::TRUNCATE, TruncateFn, -1, (path, len))
}

/// # Safety
/// As truncate64(2) (the same as truncate on 64-bit Linux).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn truncate64(path: *const c_char, len: libc::off_t) -> c_int {
    if !may_write("truncate64", libc::AT_FDCWD, path, true) {
        return -1;
    }
    call_real!(real::TRUNCATE64, TruncateFn, -1, (path, len))
}
