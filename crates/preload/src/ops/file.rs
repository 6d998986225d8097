//! Checked opens and calls on names: decide on the object really reached,
//! then make the call so that nothing done after the check — another
//! thread rewriting the caller's buffer, swapping a symlink, or changing
//! the cwd — changes what it reaches.
//!
//! The path decided on is the hook's own copy of the caller's (see
//! `crate::capture`); a path relative to the cwd is joined to the cwd once
//! and used as that absolute path. Common case (no symlink on the way):
//! the lexically normalised absolute path is checked and the open is done
//! as `openat2(RESOLVE_NO_SYMLINKS)`, one system call as before. `ELOOP`
//! (a link on the way), a denied lexical path (a link could lead somewhere
//! allowed) or no `openat2` → the path is resolved in user space, the real
//! path checked and opened, spelled so that it means what the caller's
//! path means (a trailing `/` stays). Calls on names are made on the
//! name's directory, opened along the resolved path ([`pin_name`]).

use std::ffi::{c_char, c_int, c_uint};

use rampart_decide::flags::{O_CREAT, O_EXCL, O_NOFOLLOW, open_access};
use rampart_decide::paths::{PathBuf, ResolveError, Resolved, directory_spelling, is_normal, resolve, resolve_from};
use rampart_decide::procmem::is_process_memory;
use rampart_policy::{Access, Category, PATH_MAX, Verdict};

use crate::capture::CapturedPath;
use crate::ops::{Outcome, settle};
use crate::report::{self, Activity};
use crate::state::State;
use crate::sys::{self, RealLinks};

/// How many times a link swapped in between check and open is retried.
const SWAP_RETRIES: usize = 3;

/// Why an empty path is passed on unchecked: the kernel fails it with
/// `ENOENT` (joined to the cwd it would wrongly name the cwd itself).
const EMPTY_PATH: &str = "empty path: the kernel fails it (ENOENT)";

/// Joins `path` to the cwd or `dirfd`'s path (when relative) and
/// normalises it into `out`. `false` when that cannot be known (a bad
/// dirfd: the real call fails on its own) — `Err` when it is too long.
pub fn absolute(dirfd: c_int, path: &[u8], out: &mut PathBuf) -> Result<bool, ()> {
    if path.first() == Some(&b'/') {
        return out.set(path).map(|()| true).map_err(|_| ());
    }
    if dirfd == libc::AT_FDCWD {
        sys::cwd(out).map_err(|_| ())?;
    } else {
        let mut dir = [0u8; PATH_MAX];
        let Some(n) = sys::fd_path(dirfd, &mut dir) else { return Ok(false) };
        out.set(dir.get(..n).unwrap_or(b"/")).map_err(|_| ())?;
    }
    out.push(path).map(|()| true).map_err(|_| ())
}

/// An open that decides first, then opens through `real(dirfd, path,
/// flags, mode)` or `openat2`. Returns the fd, or -1 with errno.
///
/// Decided on, and opened, is the caller's path as captured once: the
/// caller's buffer is never read again, so a thread that rewrites it after
/// the check changes nothing.
pub fn open(
    st: &State,
    op: &'static str,
    dirfd: c_int,
    captured: &CapturedPath,
    flags: c_int,
    mode: c_uint,
    real: impl Fn(c_int, *const c_char, c_int, c_uint) -> c_int,
) -> c_int {
    let saved = sys::errno();
    let (mut dirfd, mut bytes, mut path) = (dirfd, captured.as_bytes(), captured.as_ptr());
    if bytes.is_empty() {
        // EMPTY_PATH: the kernel's ENOENT, not an open of the cwd.
        return real(dirfd, path, flags, mode);
    }
    // The SDK channel: a question to the library, never a file.
    if let Some(query) = rampart_decide::api::sdk_query(bytes) {
        return crate::ops::api::sdk_open(st, op, query);
    }
    // A path relative to the cwd becomes the cwd read once, joined to it as
    // written: decided on and opened as that absolute path, so another
    // thread's chdir after the check cannot change what it names.
    let mut joined_slot: Option<[u8; PATH_MAX + 1]> = None;
    if dirfd == libc::AT_FDCWD && bytes.first() != Some(&b'/') {
        let buf = joined_slot.insert([0; PATH_MAX + 1]);
        if let Some(n) = join_cwd(bytes, buf) {
            (dirfd, bytes, path) = (libc::AT_FDCWD, buf.get(..n).unwrap_or(&[]), buf.as_ptr().cast());
        }
    }
    let access = open_access(flags);
    // The path buffer is only filled when needed: an absolute path is
    // checked as the caller wrote it (the matcher normalises it on its
    // stack if it must), so the common case copies nothing.
    let mut abs_slot: Option<PathBuf> = None;
    let lexical_allowed = if bytes.first() == Some(&b'/') {
        st.matcher().allows_file(bytes, access)
    } else {
        let abs = abs_slot.insert(PathBuf::new());
        match absolute(dirfd, bytes, abs) {
            Ok(true) => {}
            // The kernel reports the bad dirfd or empty path itself.
            Ok(false) => return real(dirfd, path, flags, mode),
            Err(()) => return unknown(st, op, bytes, access, || real(dirfd, path, flags, mode)),
        }
        st.matcher().allows_file(abs.as_bytes(), access)
    };

    // The layer's own shims are never written, whatever a rule allows
    // (rampart_decide::layer); only writes pay for this test.
    if access != Access::R
        && let Some(root) = &st.layer_root
        && rampart_decide::layer::is_shim_path(root, filled(&mut abs_slot, bytes).as_bytes())
    {
        sys::set_errno(libc::EACCES);
        return -1;
    }
    // Nor is a process's memory, spelled without a link (`/proc/PID/mem`
    // would pass the symlink-free open below unchecked); spellings through
    // a link are caught in `decide` on the resolved path.
    if access != Access::R
        && let lexical = filled(&mut abs_slot, bytes).as_bytes()
        && is_process_memory(lexical)
        && let Outcome::Deny(e) = memory_write(st, op, lexical, access)
    {
        sys::set_errno(e);
        return -1;
    }

    if sys::has_openat2() && lexical_allowed {
        match sys::open_no_symlinks(dirfd, path, flags, mode) {
            Ok(fd) => {
                let v = st.verdict(Category::File, true);
                if v != Verdict::Allow {
                    // Profile mode reports every open: use the caller's
                    // spelling when it is already the normal one.
                    if abs_slot.is_none() && is_normal(bytes) {
                        let a = Activity {
                            cat: Category::File,
                            op,
                            target: bytes,
                            access: Some(access),
                            argv: None,
                            api: None,
                        };
                        report::verdict(st, v, &a);
                    } else {
                        report::verdict(st, v, &file_activity(op, filled(&mut abs_slot, bytes), access));
                    }
                }
                sys::set_errno(saved);
                return fd;
            }
            // A link on the way, flags openat2 rejects, or no openat2:
            // decide on the resolved path.
            Err(libc::ELOOP | libc::EINVAL | libc::ENOSYS | libc::EXDEV) => {}
            // Failed on its own (ENOENT, ...): nothing was opened, so
            // nothing to profile.
            Err(e) => {
                sys::set_errno(e);
                return -1;
            }
        }
    }
    // No openat2 (an old kernel, seccomp, valgrind), an allowed spelling
    // and nothing the open itself changes: open, then ask the kernel what
    // was really opened and decide on that — one readlink instead of
    // resolving in user space. (A denied spelling is resolved first: even a
    // read-only open can block, on a FIFO, or act, on a device.)
    if !sys::has_openat2() && lexical_allowed && flags & (O_CREAT | rampart_decide::flags::O_TRUNC) == 0 {
        let fd = real(dirfd, path, flags, mode);
        if fd < 0 {
            return fd;
        }
        // Most paths are short: a small buffer is cheaper to set up.
        let mut link = [0u8; 512];
        if let Some(n) = sys::fd_path(fd, &mut link) {
            if let Outcome::Deny(e) = decide(st, op, link.get(..n).unwrap_or(&[]), access) {
                // SAFETY: fd was just opened here and is not the caller's yet.
                unsafe { libc::close(fd) };
                sys::set_errno(e);
                return -1;
            }
            sys::set_errno(saved);
            return fd;
        }
        // SAFETY: as above; decided below on the resolved path instead.
        unsafe { libc::close(fd) };
    }
    for _ in 0..SWAP_RETRIES {
        let follow_last = flags & O_NOFOLLOW == 0 && flags & (O_CREAT | O_EXCL) != (O_CREAT | O_EXCL);
        let mut real_path = PathBuf::new();
        let kind = match resolve_at(dirfd, bytes, follow_last, &mut real_path) {
            None => return real(dirfd, path, flags, mode),
            Some(Ok(k)) => k,
            Some(Err(ResolveError::TooManyLinks)) => {
                sys::set_errno(libc::ELOOP);
                return -1;
            }
            Some(Err(ResolveError::TooLong)) => {
                return unknown(st, op, bytes, access, || real(dirfd, path, flags, mode));
            }
        };
        if let Outcome::Deny(e) = decide(st, op, real_path.as_bytes(), access) {
            sys::set_errno(e);
            return -1;
        }
        // Through /proc/self to an ordinary path (`/proc/self/root/...`,
        // `/proc/self/fd/N` of a file): opened by the resolved path like any
        // other, so a link swapped in later fails instead of being followed.
        let kind = match kind {
            Resolved::ProcSelf if !real_path.as_bytes().starts_with(b"/proc/") => Resolved::Real,
            k => k,
        };
        // The open without links, where the kernel can make one. No link
        // on the way (the spelling was only denied, or this is profile
        // mode): the caller's own path, links refused, is the object
        // decided on — and the kernel reads its trailing `/`, `.` and `..`
        // (over missing or non-directory components) as the caller meant
        // them. Otherwise the resolved path, spelled with the caller's
        // trailing `/`.
        let pinned = match kind {
            Resolved::Real if sys::has_openat2() && is_lexical(dirfd, bytes, &real_path) => {
                Some(sys::open_no_symlinks(dirfd, path, flags, mode))
            }
            Resolved::Real if sys::has_openat2() && follow_last => {
                let mut spelled = [0u8; PATH_MAX + 2];
                let target = kernel_spelling(&real_path, bytes, &mut spelled);
                Some(sys::open_no_symlinks(libc::AT_FDCWD, target.as_ptr().cast(), flags, mode))
            }
            _ => None,
        };
        let fd = match (kind, pinned) {
            (_, Some(Ok(fd))) => fd,
            // A link appeared since it was resolved: again.
            (_, Some(Err(libc::ELOOP))) => continue,
            (_, Some(Err(libc::EINVAL | libc::ENOSYS | libc::EXDEV))) | (Resolved::Real, None) => {
                open_resolved(&real_path, bytes, flags, mode, &real)
            }
            (_, Some(Err(e))) => {
                sys::set_errno(e);
                return -1;
            }
            // Objects only the kernel's links reach (/proc/self/..., a pipe
            // behind /proc/*/fd/N): not swappable by anyone, opened through
            // the caller's own path (our copy of it).
            (Resolved::ProcSelf | Resolved::Magic, None) => real(dirfd, path, flags, mode),
        };
        if fd >= 0 {
            sys::set_errno(saved);
        }
        return fd;
    }
    sys::set_errno(libc::ELOOP);
    -1
}

/// The cwd, `/`, then `rel` as written (not normalised: its trailing `/`,
/// `.` and `..` keep their meaning), NUL-terminated in `buf`; the length
/// without the NUL. `None` when the cwd cannot be read or the whole does
/// not fit (the caller keeps the relative path).
fn join_cwd(rel: &[u8], buf: &mut [u8; PATH_MAX + 1]) -> Option<usize> {
    let saved = sys::errno();
    // SAFETY: buf is writable for its length; getcwd writes a
    // NUL-terminated path there or fails.
    let got = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
    sys::set_errno(saved);
    if got.is_null() {
        return None;
    }
    let cwd_len = buf.iter().position(|&b| b == 0)?;
    // The root is `/`: no second slash after it.
    let start = if cwd_len == 1 { 1 } else { cwd_len + 1 };
    let end = start + rel.len();
    buf.get_mut(start..end)?.copy_from_slice(rel);
    *buf.get_mut(end)? = 0;
    if start > cwd_len {
        *buf.get_mut(cwd_len)? = b'/';
    }
    Some(end)
}

/// Whether resolving `path` from `dirfd` met no link: the resolved path
/// is the lexical one.
fn is_lexical(dirfd: c_int, path: &[u8], resolved: &PathBuf) -> bool {
    let mut lexical = PathBuf::new();
    absolute(dirfd, path, &mut lexical) == Ok(true) && lexical.as_bytes() == resolved.as_bytes()
}

/// Opens the resolved path through the plain real call, spelled so that
/// it names a directory whenever the caller's path did.
fn open_resolved(
    resolved: &PathBuf,
    caller: &[u8],
    flags: c_int,
    mode: c_uint,
    real: &impl Fn(c_int, *const c_char, c_int, c_uint) -> c_int,
) -> c_int {
    let mut spelled = [0u8; PATH_MAX + 2];
    let target = kernel_spelling(resolved, caller, &mut spelled);
    real(libc::AT_FDCWD, target.as_ptr().cast(), flags, mode)
}

/// The resolved path as the kernel must be given it (NUL-terminated):
/// with a trailing `/` when the caller's path names a directory, so that
/// `O_CREAT` of `dir/missing/` fails as it would have instead of creating
/// a file.
fn kernel_spelling<'a>(resolved: &'a PathBuf, caller: &[u8], buf: &'a mut [u8; PATH_MAX + 2]) -> &'a [u8] {
    match directory_spelling(resolved.as_bytes(), caller, buf) {
        Some(n) => buf.get(..n).unwrap_or(resolved.with_nul()),
        None => resolved.with_nul(),
    }
}

/// Checks `path` (resolved) for `access`: the line the verdict calls for,
/// and the outcome. A path too long to be absolute within PATH_MAX is
/// never allowed by a rule, so it lands here as it is and is treated as
/// not allowed.
pub fn decide(st: &State, op: &'static str, path: &[u8], access: Access) -> Outcome {
    if let Some(root) = &st.layer_root
        && rampart_decide::layer::is_shim_path(root, path)
    {
        return if access == Access::R { Outcome::Allow } else { Outcome::Deny(libc::EACCES) };
    }
    if access != Access::R && is_process_memory(path) {
        return memory_write(st, op, path, access);
    }
    let allowed = st.matcher().allows_file(path, access);
    settle(
        st,
        allowed,
        &Activity { cat: Category::File, op, target: path, access: Some(access), argv: None, api: None },
    )
}

/// Decides on a path without opening it (freopen, and calls that act on a
/// name: the last component is not followed when `follow_last` is false).
pub fn check_path(
    st: &State,
    op: &'static str,
    dirfd: c_int,
    path: &[u8],
    access: Access,
    follow_last: bool,
) -> Outcome {
    if path.is_empty() {
        return Outcome::Pass(EMPTY_PATH);
    }
    let mut abs = PathBuf::new();
    match absolute(dirfd, path, &mut abs) {
        Ok(true) => {}
        Ok(false) => return Outcome::Pass("a bad dirfd: the kernel fails the call (EBADF/ENOTDIR)"),
        Err(()) => return decide(st, op, path, access),
    }
    let mut real_path = PathBuf::new();
    match resolve_at(dirfd, path, follow_last, &mut real_path) {
        Some(Ok(_)) => decide(st, op, real_path.as_bytes(), access),
        _ => decide(st, op, abs.as_bytes(), access),
    }
}

/// The longest last component (`NAME_MAX`), with a trailing `/` and a NUL.
const LAST_MAX: usize = 255 + 2;

/// A name decided on and pinned: the directory it is in, opened (`O_PATH`)
/// along the resolved path with symlinks refused, and its last component.
/// A call made on the two (`unlinkat(dir, last)`, ...) reaches the name
/// decided on even if a link on the way is swapped after the check: the
/// swap makes the directory's open fail, and it is resolved again.
pub struct PinnedName {
    dir: c_int,
    last: [u8; LAST_MAX],
}

impl PinnedName {
    /// The directory, for the `*at` call.
    pub fn dir(&self) -> c_int {
        self.dir
    }

    /// The last component, NUL-terminated (with the caller's trailing `/`).
    pub fn last(&self) -> *const c_char {
        self.last.as_ptr().cast()
    }
}

impl Drop for PinnedName {
    fn drop(&mut self) {
        // After the real call: its errno is the caller's answer.
        let saved = sys::errno();
        // SAFETY: the descriptor was opened by `pin_name` and is ours alone.
        unsafe { libc::close(self.dir) };
        sys::set_errno(saved);
    }
}

/// What a call on a name is made on, once decided.
#[allow(clippy::large_enum_variant, reason = "on the hook's stack: boxing would allocate, which hooks may not")]
pub enum NameTarget {
    /// The pinned directory and last component.
    Pinned(PinnedName),
    /// The caller's path (our copy of it), relative to the caller's dirfd:
    /// an empty path or one ending in `.` or `..` (the kernel refuses those
    /// for calls on names), a bad dirfd, a name under /proc's kernel links,
    /// or no `openat2` here (then a link swapped between the check and the
    /// call is not caught: see the README's limits).
    AsGiven(#[allow(dead_code, reason = "names the case for readers and debuggers")] &'static str),
}

/// Decides on a name (`follow_last`: the object behind a final link, for
/// `truncate` and `linkat(AT_SYMLINK_FOLLOW)`) and pins what was decided
/// on; `Err(errno)` when the call must fail.
pub fn pin_name(
    st: &State,
    op: &'static str,
    dirfd: c_int,
    path: &[u8],
    access: Access,
    follow_last: bool,
) -> Result<NameTarget, c_int> {
    let as_checked = |reason| match check_path(st, op, dirfd, path, access, follow_last) {
        Outcome::Deny(e) => Err(e),
        Outcome::Allow | Outcome::Pass(_) => Ok(NameTarget::AsGiven(reason)),
    };
    let last_given = path.rsplit(|&b| b == b'/').find(|seg| !seg.is_empty()).unwrap_or(&[]);
    if path.is_empty() || last_given == b"." || last_given == b".." {
        return as_checked("no last name: the kernel refuses the call");
    }
    if !sys::has_openat2() {
        return as_checked("no openat2 to pin the directory with");
    }
    for _ in 0..SWAP_RETRIES {
        let mut real_path = PathBuf::new();
        let kind = match resolve_at(dirfd, path, follow_last, &mut real_path) {
            None => return Ok(NameTarget::AsGiven("a bad dirfd: the kernel fails the call")),
            Some(Ok(k)) => k,
            Some(Err(ResolveError::TooManyLinks)) => return Err(libc::ELOOP),
            Some(Err(ResolveError::TooLong)) => return as_checked("too long to resolve: decided as written"),
        };
        if let Outcome::Deny(e) = decide(st, op, real_path.as_bytes(), access) {
            return Err(e);
        }
        let real = match kind {
            Resolved::Real => true,
            Resolved::ProcSelf => !real_path.as_bytes().starts_with(b"/proc/"),
            Resolved::Magic => false,
        };
        let bytes = real_path.as_bytes();
        let cut = bytes.iter().rposition(|&b| b == b'/').unwrap_or(0);
        let last = bytes.get(cut + 1..).unwrap_or(&[]);
        if !real || last.is_empty() {
            return Ok(NameTarget::AsGiven("a kernel link under /proc, or the root"));
        }
        let mut last_nul = [0u8; LAST_MAX];
        let slash: &[u8] = if path.ends_with(b"/") { b"/" } else { b"" };
        match last_nul.get_mut(..last.len() + slash.len()) {
            Some(dst) => {
                let (name, tail) = dst.split_at_mut(last.len());
                name.copy_from_slice(last);
                tail.copy_from_slice(slash);
            }
            None => return Err(libc::ENAMETOOLONG),
        }
        let mut parent = PathBuf::new();
        if parent.set(bytes.get(..cut).unwrap_or(b"/")).is_err() {
            return Err(libc::ENAMETOOLONG);
        }
        let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
        // A `..` in the caller's directory part needs what it leaves to
        // exist, as the kernel walks it (`mkdir -p a/../b/c` must fail while
        // `a` is missing); the resolved parent has lost that. The caller's
        // own directory part, opened without links, is the kernel's answer,
        // and kept only if it is the directory decided on.
        match given_parent_with_dotdot(dirfd, path, last, flags) {
            GivenParent::NoDotDot | GivenParent::HasLinks => {}
            GivenParent::Failed(e) => return Err(e),
            GivenParent::Opened(dir) => {
                let mut at = [0u8; PATH_MAX];
                let same = sys::fd_path(dir, &mut at).is_some_and(|n| at.get(..n) == Some(parent.as_bytes()));
                if same {
                    return Ok(NameTarget::Pinned(PinnedName { dir, last: last_nul }));
                }
                // SAFETY: opened by given_parent_with_dotdot, not handed out.
                unsafe { libc::close(dir) };
                continue;
            }
        }
        match sys::open_no_symlinks(libc::AT_FDCWD, parent.with_nul().as_ptr().cast(), flags, 0) {
            Ok(dir) => return Ok(NameTarget::Pinned(PinnedName { dir, last: last_nul })),
            // A link swapped in since it was resolved: again.
            Err(libc::ELOOP) => continue,
            Err(libc::ENOSYS | libc::EINVAL | libc::EXDEV) => {
                return Ok(NameTarget::AsGiven("no openat2 to pin the directory with"));
            }
            // The directory is not there (ENOENT, ENOTDIR, ...): the call
            // would fail the same way.
            Err(e) => return Err(e),
        }
    }
    Err(libc::ELOOP)
}

/// The caller's directory part of a name, when it has a `..`.
enum GivenParent {
    NoDotDot,
    /// A link on the way: decided on through the resolved path instead.
    HasLinks,
    /// The kernel's own failure for that directory (ENOENT, ENOTDIR, ...).
    Failed(c_int),
    Opened(c_int),
}

/// Opens the directory part of `path` (everything before its last
/// component) relative to `dirfd`, without following links, if it contains
/// a `..` segment and its last component is the one decided on (`last`: a
/// followed link at the end names another).
fn given_parent_with_dotdot(dirfd: c_int, path: &[u8], last: &[u8], flags: c_int) -> GivenParent {
    let trimmed = path.get(..path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1)).unwrap_or(&[]);
    let Some(cut) = trimmed.iter().rposition(|&b| b == b'/') else { return GivenParent::NoDotDot };
    if trimmed.get(cut + 1..) != Some(last) {
        return GivenParent::NoDotDot;
    }
    let dir = trimmed.get(..cut.max(1)).unwrap_or(b"/");
    if !dir.split(|&b| b == b'/').any(|seg| seg == b"..") {
        return GivenParent::NoDotDot;
    }
    let mut nul = [0u8; PATH_MAX + 1];
    match nul.get_mut(..dir.len()) {
        Some(dst) => dst.copy_from_slice(dir),
        None => return GivenParent::HasLinks,
    }
    match sys::open_no_symlinks(dirfd, nul.as_ptr().cast(), flags, 0) {
        Ok(fd) => GivenParent::Opened(fd),
        Err(libc::ELOOP | libc::ENOSYS | libc::EINVAL | libc::EXDEV) => GivenParent::HasLinks,
        Err(e) => GivenParent::Failed(e),
    }
}

/// Resolves `path` as the kernel walks it from `dirfd`: the real path of
/// the directory (or the cwd) as the base, then `path` as written, so a
/// `..` after a link goes up from where the link led. `None` when the base
/// cannot be read (a bad dirfd: the real call fails on its own).
pub fn resolve_at(
    dirfd: c_int,
    path: &[u8],
    follow_last: bool,
    out: &mut PathBuf,
) -> Option<Result<Resolved, ResolveError>> {
    if path.first() == Some(&b'/') {
        return Some(resolve(path, follow_last, &mut RealLinks, out));
    }
    let mut base = PathBuf::new();
    if dirfd == libc::AT_FDCWD {
        sys::cwd(&mut base).ok()?;
    } else {
        let mut dir = [0u8; PATH_MAX];
        let n = sys::fd_path(dirfd, &mut dir)?;
        base.set(dir.get(..n)?).ok()?;
    }
    Some(resolve_from(base.as_bytes(), path, follow_last, &mut RealLinks, out))
}

/// The lexical absolute path, filled from `bytes` (absolute) if it was not
/// needed before.
fn filled<'a>(slot: &'a mut Option<PathBuf>, bytes: &[u8]) -> &'a PathBuf {
    slot.get_or_insert_with(|| {
        let mut p = PathBuf::new();
        // Too long was ruled out by the caller; a failure leaves `/`.
        let _ = p.set(bytes);
        p
    })
}

/// A path that cannot be checked (too long once absolute): not allowed;
/// -1/EACCES when blocked, else the real call.
fn unknown(st: &State, op: &'static str, bytes: &[u8], access: Access, real: impl FnOnce() -> c_int) -> c_int {
    match decide(st, op, bytes, access) {
        Outcome::Deny(e) => {
            sys::set_errno(e);
            -1
        }
        Outcome::Allow | Outcome::Pass(_) => real(),
    }
}

/// A write open of a process's memory file (`/proc/PID/mem`, see
/// `rampart_decide::procmem`), or a write to that memory by another door:
/// refused in every mode, whatever a rule allows, since through it any
/// language that opens files rewrites the library's state. A `block` line
/// where file activities are blocked, an `alert` line otherwise: it is
/// never a profile activity to learn.
pub fn memory_write(st: &State, op: &'static str, path: &[u8], access: Access) -> Outcome {
    let v = match st.verdict(Category::File, false) {
        Verdict::Block => Verdict::Block,
        _ => Verdict::Alert,
    };
    let a = Activity { cat: Category::File, op, target: path, access: Some(access), argv: None, api: None };
    report::verdict(st, v, &a);
    Outcome::Deny(libc::EACCES)
}

fn file_activity<'a>(op: &'static str, path: &'a PathBuf, access: Access) -> Activity<'a> {
    Activity { cat: Category::File, op, target: path.as_bytes(), access: Some(access), argv: None, api: None }
}
