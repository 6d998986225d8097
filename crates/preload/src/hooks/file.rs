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

use crate::capture::CapturedPath;
use crate::ops::Outcome;
use crate::ops::file::{self, NameTarget};
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

/// Copies the caller's path into `copy` (in place: see
/// [`CapturedPath::empty`]), or gives the errno the kernel gives a path
/// that long.
///
/// # Safety
/// `path` is non-null and NUL-terminated (the call's contract).
unsafe fn capture(path: *const c_char, copy: &mut CapturedPath) -> Result<(), c_int> {
    // SAFETY: the caller's contract.
    unsafe { copy.fill(path) }.map_err(|_| libc::ENAMETOOLONG)
}

/// -1 with `e` in errno.
fn fail(e: c_int) -> c_int {
    sys::set_errno(e);
    -1
}

/// The checked open every entry point goes through: the path captured
/// once, decided on and opened as that copy.
fn checked_open(
    op: &'static str,
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: c_uint,
    real: impl Fn(c_int, *const c_char, c_int, c_uint) -> c_int,
) -> c_int {
    match state::checked() {
        Some(st) if !path.is_null() => {
            let mut copy = CapturedPath::empty();
            // SAFETY: non-null, and a C string by the call's contract.
            match unsafe { capture(path, &mut copy) } {
                Ok(()) => file::open(st, op, dirfd, &copy, flags, mode, real),
                Err(e) => fail(e),
            }
        }
        _ => real(dirfd, path, flags, mode),
    }
}

/// `open`-shaped entry points.
fn open_like(op: &'static str, real: &'static Real, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    checked_open(op, libc::AT_FDCWD, path, flags, mode, |_dirfd, p, f, m| call_real!(real, OpenFn, -1, (p, f, m)))
}

fn openat_like(
    op: &'static str,
    real: &'static Real,
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: c_uint,
) -> c_int {
    checked_open(op, dirfd, path, flags, mode, |d, p, f, m| call_real!(real, OpenatFn, -1, (d, p, f, m)))
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
    checked_open(op, dirfd, path, flags, 0, |d, p, f, _m| {
        if at { call_real!(real, Openat2Fn, -1, (d, p, f)) } else { call_real!(real, Open2Fn, -1, (p, f)) }
    })
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
        // The resolved path may differ from the caller's: open it with the
        // same flags creat implies.
        Some(_) if !path.is_null() => checked_open(op, libc::AT_FDCWD, path, flags, mode, |_d, p, f, m| {
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
    let mut copy = CapturedPath::empty();
    // SAFETY: non-null, and a C string by fopen's contract.
    let fd = match unsafe { capture(path, &mut copy) } {
        Ok(()) => file::open(st, op, libc::AT_FDCWD, &copy, flags, 0o666, |_d, p, f, m| {
            call_real!(real::OPEN64, OpenFn, -1, (p, f, m))
        }),
        Err(e) => fail(e),
    };
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

/// freopen takes a path, never a descriptor: the path is opened checked,
/// and libc reopens the file so opened through `/proc/self/fd/N`.
fn freopen_like(
    op: &'static str,
    real: &'static Real,
    path: *const c_char,
    mode: *const c_char,
    stream: *mut FILE,
) -> *mut FILE {
    let plain = |p: *const c_char| call_real!(real, FreopenFn, std::ptr::null_mut(), (p, mode, stream));
    let Some(st) = state::checked().filter(|_| !mode.is_null()) else { return plain(path) };
    // SAFETY: mode is a non-null C string (freopen's contract).
    let Some(flags) = fopen_flags(unsafe { sys::c_bytes(mode) }) else { return plain(path) };
    let access = rampart_decide::flags::open_access(flags);
    // As a failed freopen: the original stream is closed, errno set.
    let refuse = |e: c_int| {
        if !stream.is_null() {
            // SAFETY: stream is the caller's open stream.
            unsafe { libc::fclose(stream) };
        }
        sys::set_errno(e);
        std::ptr::null_mut()
    };
    if path.is_null() {
        // A new mode on the same file (glibc reopens /proc/self/fd/N
        // internally): the file must allow it, or a read-only stream could
        // be made writable.
        if stream.is_null() {
            return plain(path);
        }
        // SAFETY: stream is the caller's open stream.
        let fd = unsafe { libc::fileno(stream) };
        let mut fd_link = rampart_decide::text::StackText::<32>::new();
        let _ = std::fmt::Write::write_fmt(&mut fd_link, format_args!("/proc/self/fd/{fd}"));
        if let Outcome::Deny(e) = file::check_path(st, op, libc::AT_FDCWD, fd_link.as_bytes(), access, true) {
            return refuse(e);
        }
        return plain(path);
    }
    let mut copy = CapturedPath::empty();
    // SAFETY: non-null, and a C string by freopen's contract.
    if let Err(e) = unsafe { capture(path, &mut copy) } {
        return refuse(e);
    }
    if let Some(query) = rampart_decide::api::sdk_query(copy.as_bytes()) {
        // As a failed freopen, with the channel's answer in errno.
        if !stream.is_null() {
            // SAFETY: stream is the caller's open stream.
            unsafe { libc::fclose(stream) };
        }
        crate::ops::api::sdk_open(st, op, query);
        return std::ptr::null_mut();
    }
    // SAFETY: mode is a non-null C string (freopen's contract).
    let Some(reopen_mode) = mode_without_exclusive(unsafe { sys::c_bytes(mode) }) else {
        // An unusually long mode: decided on, then opened by libc (the
        // race the checked open below closes stays open here).
        if let Outcome::Deny(e) = file::check_path(st, op, libc::AT_FDCWD, copy.as_bytes(), access, true) {
            return refuse(e);
        }
        return plain(copy.as_ptr());
    };
    // The checked open (as fopen's), then libc reopens that very file
    // through its descriptor's /proc name: a link swapped or a chdir after
    // the check cannot change what the stream is on.
    let fd = file::open(st, op, libc::AT_FDCWD, &copy, flags, 0o666, |_d, p, f, m| {
        call_real!(real::OPEN64, OpenFn, -1, (p, f, m))
    });
    if fd < 0 {
        return refuse(sys::errno());
    }
    let mut by_fd = rampart_decide::text::StackText::<32>::new();
    let _ = std::fmt::Write::write_fmt(&mut by_fd, format_args!("/proc/self/fd/{fd}\0"));
    let s = call_real!(
        real,
        FreopenFn,
        std::ptr::null_mut(),
        (by_fd.as_bytes().as_ptr().cast(), reopen_mode.as_ptr().cast(), stream)
    );
    let e = sys::errno();
    // SAFETY: fd was opened above and is ours alone (the stream has its own).
    unsafe { libc::close(fd) };
    sys::set_errno(e);
    s
}

/// `mode` without `x` (the checked open already created the file
/// exclusively; reopening it must not fail for existing), NUL-terminated;
/// `None` when it does not fit.
fn mode_without_exclusive(mode: &[u8]) -> Option<[u8; 64]> {
    let mut out = [0u8; 64];
    let mut n = 0;
    let (flags, rest) = match mode.iter().position(|&b| b == b',') {
        Some(i) => mode.split_at(i),
        None => (mode, &[][..]),
    };
    for &b in flags.iter().filter(|&&b| b != b'x').chain(rest) {
        *out.get_mut(n)? = b;
        n += 1;
    }
    // Room for the NUL.
    out.get(n)?;
    Some(out)
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
    if state::checked().is_none() || path.is_null() {
        return call_real!(real::OPENDIR, OpendirFn, std::ptr::null_mut(), (path));
    }
    let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | libc::O_NONBLOCK;
    let fd = checked_open("opendir", libc::AT_FDCWD, path, flags, 0, |_d, p, f, m| {
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

/// What a call that acts on a name needs of one of its paths.
#[derive(Clone, Copy)]
struct Need {
    access: rampart_policy::Access,
    /// Whether the last component is followed (`truncate`, `linkat` with
    /// `AT_SYMLINK_FOLLOW`): then the object behind a link is what counts.
    follow_last: bool,
}

/// Writing a name in a directory: its last component is not followed
/// (unlink removes a link, not its target), the directories on the way are.
const NAME: Need = Need { access: rampart_policy::Access::W, follow_last: false };

/// Captures `path` into `copy`, decides on it and pins what was decided
/// on (see [`file::pin_name`]); `Err(errno)` when the call must fail.
///
/// # Safety
/// `path` is non-null and NUL-terminated.
unsafe fn pinned_name(
    st: &state::State,
    op: &'static str,
    (dirfd, path, need): (c_int, *const c_char, Need),
    copy: &mut CapturedPath,
) -> Result<NameTarget, c_int> {
    // SAFETY: the caller's contract.
    unsafe { capture(path, copy) }?;
    file::pin_name(st, op, dirfd, copy.as_bytes(), need.access, need.follow_last)
}

/// The `(dirfd, path)` a call on a name is made with: the pinned directory
/// and last component, or the caller's dirfd and our copy of the path.
fn at(target: &NameTarget, dirfd: c_int, copy: &CapturedPath) -> (c_int, *const c_char) {
    match target {
        NameTarget::Pinned(p) => (p.dir(), p.last()),
        NameTarget::AsGiven(_) => (dirfd, copy.as_ptr()),
    }
}

/// A call on one name, made as its `*at` form on what was decided:
/// `call(dirfd, path)`. Without checks (the library's own calls, a null
/// path) `plain` is called with the caller's arguments.
fn on_name(
    op: &'static str,
    (dirfd, path, need): (c_int, *const c_char, Need),
    plain: impl FnOnce() -> c_int,
    call: impl FnOnce(c_int, *const c_char) -> c_int,
) -> c_int {
    let Some(st) = state::checked().filter(|_| !path.is_null()) else { return plain() };
    let saved = sys::errno();
    let mut copy = CapturedPath::empty();
    // SAFETY: non-null, and a C string by the call's contract.
    match unsafe { pinned_name(st, op, (dirfd, path, need), &mut copy) } {
        Ok(target) => {
            sys::set_errno(saved);
            let (d, p) = at(&target, dirfd, &copy);
            call(d, p)
        }
        Err(e) => fail(e),
    }
}

/// A call on two names (rename, link), made as its `*at` form on what was
/// decided for each: `call(olddir, old, newdir, new, old_pinned)`.
fn on_two_names(
    op: &'static str,
    old: (c_int, *const c_char, Need),
    new: (c_int, *const c_char, Need),
    plain: impl FnOnce() -> c_int,
    call: impl FnOnce(c_int, *const c_char, c_int, *const c_char, bool) -> c_int,
) -> c_int {
    let Some(st) = state::checked().filter(|_| !old.1.is_null() && !new.1.is_null()) else { return plain() };
    let saved = sys::errno();
    let (mut old_copy, mut new_copy) = (CapturedPath::empty(), CapturedPath::empty());
    // SAFETY: both non-null, and C strings by the call's contract.
    let old_target = match unsafe { pinned_name(st, op, old, &mut old_copy) } {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    // SAFETY: as above.
    let new_target = match unsafe { pinned_name(st, op, new, &mut new_copy) } {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    sys::set_errno(saved);
    let (od, op_) = at(&old_target, old.0, &old_copy);
    let (nd, np) = at(&new_target, new.0, &new_copy);
    call(od, op_, nd, np, matches!(old_target, NameTarget::Pinned(_)))
}

type UnlinkatFn = AtFlagsFn;

fn unlinkat_real(d: c_int, p: *const c_char, flags: c_int) -> c_int {
    call_real!(real::UNLINKAT, UnlinkatFn, -1, (d, p, flags))
}

fn mkdirat_real(d: c_int, p: *const c_char, mode: libc::mode_t) -> c_int {
    call_real!(real::MKDIRAT, AtModeFn, -1, (d, p, mode))
}

fn renameat_real(od: c_int, o: *const c_char, nd: c_int, n: *const c_char, _old_pinned: bool) -> c_int {
    call_real!(real::RENAMEAT, RenameatFn, -1, (od, o, nd, n))
}

/// # Safety
/// As unlink(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn unlink(path: *const c_char) -> c_int {
    on_name(
        "unlink",
        (libc::AT_FDCWD, path, NAME),
        || call_real!(real::UNLINK, PathFn, -1, (path)),
        |d, p| unlinkat_real(d, p, 0),
    )
}

/// # Safety
/// As unlinkat(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn unlinkat(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    on_name("unlinkat", (dirfd, path, NAME), || unlinkat_real(dirfd, path, flags), |d, p| unlinkat_real(d, p, flags))
}

/// # Safety
/// As rmdir(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmdir(path: *const c_char) -> c_int {
    on_name(
        "rmdir",
        (libc::AT_FDCWD, path, NAME),
        || call_real!(real::RMDIR, PathFn, -1, (path)),
        |d, p| unlinkat_real(d, p, libc::AT_REMOVEDIR),
    )
}

/// # Safety
/// As mkdir(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mkdir(path: *const c_char, mode: libc::mode_t) -> c_int {
    on_name(
        "mkdir",
        (libc::AT_FDCWD, path, NAME),
        || call_real!(real::MKDIR, PathModeFn, -1, (path, mode)),
        |d, p| mkdirat_real(d, p, mode),
    )
}

/// # Safety
/// As mkdirat(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mkdirat(dirfd: c_int, path: *const c_char, mode: libc::mode_t) -> c_int {
    on_name("mkdirat", (dirfd, path, NAME), || mkdirat_real(dirfd, path, mode), |d, p| mkdirat_real(d, p, mode))
}

/// # Safety
/// As rename(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rename(old: *const c_char, new: *const c_char) -> c_int {
    on_two_names(
        "rename",
        (libc::AT_FDCWD, old, NAME),
        (libc::AT_FDCWD, new, NAME),
        || call_real!(real::RENAME, RenameFn, -1, (old, new)),
        renameat_real,
    )
}

/// # Safety
/// As renameat(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn renameat(olddir: c_int, old: *const c_char, newdir: c_int, new: *const c_char) -> c_int {
    on_two_names(
        "renameat",
        (olddir, old, NAME),
        (newdir, new, NAME),
        || renameat_real(olddir, old, newdir, new, false),
        renameat_real,
    )
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
    let real2 = |od, o, nd, n, _| call_real!(real::RENAMEAT2, Renameat2Fn, -1, (od, o, nd, n, flags));
    on_two_names(
        "renameat2",
        (olddir, old, NAME),
        (newdir, new, NAME),
        || real2(olddir, old, newdir, new, false),
        real2,
    )
}

type LinkFn = unsafe extern "C" fn(*const c_char, *const c_char) -> c_int;
type LinkatFn = unsafe extern "C" fn(c_int, *const c_char, c_int, *const c_char, c_int) -> c_int;
type SymlinkatFn = unsafe extern "C" fn(*const c_char, c_int, *const c_char) -> c_int;
type TruncateFn = unsafe extern "C" fn(*const c_char, libc::off_t) -> c_int;

fn linkat_real(od: c_int, o: *const c_char, nd: c_int, n: *const c_char, flags: c_int) -> c_int {
    call_real!(real::LINKAT, LinkatFn, -1, (od, o, nd, n, flags))
}

/// A hard link gives a file a second name, in a directory of the caller's
/// choosing, where the file's own rules no longer apply: its source must
/// be readable and writable where it really is (the object behind a link
/// when the call follows one), the new name writable.
const LINK_SOURCE: Need = Need { access: rampart_policy::Access::RW, follow_last: false };

/// # Safety
/// As link(2) (which does not follow a link in `old` on Linux).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn link(old: *const c_char, new: *const c_char) -> c_int {
    on_two_names(
        "link",
        (libc::AT_FDCWD, old, LINK_SOURCE),
        (libc::AT_FDCWD, new, NAME),
        || call_real!(real::LINK, LinkFn, -1, (old, new)),
        |od, o, nd, n, _| linkat_real(od, o, nd, n, 0),
    )
}

/// `AT_SYMLINK_FOLLOW` (Python's `os.link` passes it) links the file a
/// symlink names, so that file is the source decided on — and linked
/// without following (it is pinned: a link swapped in since is linked as a
/// link); `AT_EMPTY_PATH` with an empty `old` links the file open on
/// `olddir`.
///
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
    let plain = || linkat_real(olddir, old, newdir, new, flags);
    let follow = flags & libc::AT_SYMLINK_FOLLOW != 0;
    let source = Need { follow_last: follow, ..LINK_SOURCE };
    // SAFETY: old is null or a C string (linkat's contract); one byte read.
    let empty_old = !old.is_null() && unsafe { *old } == 0;
    if flags & libc::AT_EMPTY_PATH != 0 && empty_old {
        // The file behind the descriptor, as the kernel names it.
        if let Some(st) = state::checked() {
            let saved = sys::errno();
            let mut fd_link = rampart_decide::text::StackText::<32>::new();
            let _ = std::fmt::Write::write_fmt(&mut fd_link, format_args!("/proc/self/fd/{olddir}"));
            if let Outcome::Deny(e) =
                file::check_path(st, "linkat", libc::AT_FDCWD, fd_link.as_bytes(), source.access, true)
            {
                return fail(e);
            }
            sys::set_errno(saved);
        }
        return on_name("linkat", (newdir, new, NAME), plain, |nd, n| linkat_real(olddir, old, nd, n, flags));
    }
    on_two_names("linkat", (olddir, old, source), (newdir, new, NAME), plain, |od, o, nd, n, old_pinned| {
        // A pinned source is the object decided on: not to be followed
        // again (the caller's copy, unpinned, keeps the caller's flag).
        linkat_real(od, o, nd, n, if old_pinned { flags & !libc::AT_SYMLINK_FOLLOW } else { flags })
    })
}

/// A symlink's target is checked whenever it is followed; creating one
/// writes its own name.
///
/// # Safety
/// As symlink(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn symlink(target: *const c_char, name: *const c_char) -> c_int {
    on_name(
        "symlink",
        (libc::AT_FDCWD, name, NAME),
        || call_real!(real::SYMLINK, LinkFn, -1, (target, name)),
        |d, n| call_real!(real::SYMLINKAT, SymlinkatFn, -1, (target, d, n)),
    )
}

/// # Safety
/// As symlinkat(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn symlinkat(target: *const c_char, dirfd: c_int, name: *const c_char) -> c_int {
    let real_symlinkat = |d: c_int, n: *const c_char| call_real!(real::SYMLINKAT, SymlinkatFn, -1, (target, d, n));
    on_name("symlinkat", (dirfd, name, NAME), || real_symlinkat(dirfd, name), real_symlinkat)
}

/// `truncate` writes the file it names, following links.
const TRUNCATED: Need = Need { access: rampart_policy::Access::W, follow_last: true };

/// The decided file is opened `O_PATH` from its pinned directory (a link
/// swapped in since fails with `ELOOP`) and truncated through that
/// descriptor's /proc name, which reaches the inode itself.
fn truncate_like(op: &'static str, real: &'static Real, path: *const c_char, len: libc::off_t) -> c_int {
    on_name(
        op,
        (libc::AT_FDCWD, path, TRUNCATED),
        || call_real!(real, TruncateFn, -1, (path, len)),
        |d, p| {
            if d == libc::AT_FDCWD {
                return call_real!(real, TruncateFn, -1, (p, len));
            }
            let fd = match sys::open_no_symlinks(d, p, libc::O_PATH | libc::O_CLOEXEC, 0) {
                Ok(fd) => fd,
                Err(e) => return fail(e),
            };
            let mut by_fd = rampart_decide::text::StackText::<32>::new();
            let _ = std::fmt::Write::write_fmt(&mut by_fd, format_args!("/proc/self/fd/{fd}\0"));
            let r = call_real!(real, TruncateFn, -1, (by_fd.as_bytes().as_ptr().cast(), len));
            let saved = sys::errno();
            // SAFETY: fd was opened just above and is ours alone.
            unsafe { libc::close(fd) };
            sys::set_errno(saved);
            r
        },
    )
}

/// # Safety
/// As truncate(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn truncate(path: *const c_char, len: libc::off_t) -> c_int {
    truncate_like("truncate", &real::TRUNCATE, path, len)
}

/// # Safety
/// As truncate64(2) (the same as truncate on 64-bit Linux).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn truncate64(path: *const c_char, len: libc::off_t) -> c_int {
    truncate_like("truncate64", &real::TRUNCATE64, path, len)
}
