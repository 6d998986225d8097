//! The compiled policy as a sealed memfd, for children: they load it
//! instead of parsing and compiling policy.json again (the difference
//! between ~1 ms and ~0.6 s per exec at 100k rules) and without any
//! network. The root writes `Matcher::to_snapshot` into a memfd, seals it
//! and keeps it open; children open it as `/proc/ROOT/fd/N` (which one is
//! current is on the control page, see `control`). The seals make the
//! bytes immutable for everyone, so code in the function cannot loosen its
//! children's policy by rewriting them; the identity the page records for
//! each snapshot keeps it from handing them another sealed file instead.
//!
//! Loading uses raw system calls and a mapping, no `std::fs` and no
//! buffer: it also runs inside hooks, on the arena (see `alloc`).

use std::ffi::{CStr, c_int};

use rampart_decide::childenv::FileId;
use rampart_policy::Matcher;

use crate::sys;

const SEALS: c_int = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// Writes a snapshot (`Matcher::to_snapshot`) into a sealed memfd kept
/// open (close-on-exec) in this process; returns its descriptor. `None`
/// when memfds are unavailable: children then compile the policy
/// themselves.
pub fn publish(bytes: &[u8]) -> Option<c_int> {
    let fd = sys::memfd(c"rampart-policy", true)?;
    let mut written = 0;
    while written < bytes.len() {
        let rest = bytes.get(written..).unwrap_or(&[]);
        // SAFETY: rest is initialised memory of the length given.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            // SAFETY: fd is ours.
            unsafe { libc::close(fd) };
            return None;
        }
        written += n as usize;
    }
    // SAFETY: fcntl and close on our own descriptor.
    if unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, SEALS) } != 0 {
        // SAFETY: as above.
        unsafe { libc::close(fd) };
        return None;
    }
    sys::move_high(fd)
}

/// Which file a descriptor is (raw `fstat`: safe in hooks and children).
pub fn identity(fd: c_int) -> Option<FileId> {
    // SAFETY: an all-zero stat is valid; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is writable.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some(FileId { dev: st.st_dev, ino: st.st_ino })
}

/// Loads the snapshot at `path` (`/proc/ROOT/fd/N`), which must be the
/// file `expected` names; an error says why.
pub fn load(path: &CStr, expected: FileId) -> Result<Matcher, String> {
    let shown = path.to_string_lossy();
    // SAFETY: a NUL-terminated path; the raw call bypasses the hooks.
    let fd = unsafe {
        crate::sys::raw_syscall!(libc::SYS_openat, libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC)
    } as c_int;
    if fd < 0 {
        return Err(format!("cannot open {shown}: {}", std::io::Error::last_os_error()));
    }
    let result = if identity(fd) == Some(expected) {
        load_fd(fd, &shown)
    } else {
        Err(format!("{shown} is not the snapshot the root published (another file at that descriptor)"))
    };
    // SAFETY: fd was opened above and is not used after this.
    unsafe { libc::close(fd) };
    result
}

fn load_fd(fd: c_int, shown: &str) -> Result<Matcher, String> {
    // Only a sealed file is the root's: nothing can have changed it.
    // SAFETY: fcntl on our own descriptor.
    let seals = unsafe { libc::fcntl(fd, libc::F_GET_SEALS) };
    if seals < 0 || seals & SEALS != SEALS {
        return Err(format!("{shown} is not a sealed snapshot"));
    }
    // SAFETY: an all-zero stat is valid; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is writable.
    if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_size <= 0 {
        return Err(format!("cannot size {shown}"));
    }
    let len = st.st_size as usize;
    // SAFETY: a read-only private mapping of a sealed (immutable) file.
    let base = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, fd, 0) };
    if base == libc::MAP_FAILED {
        return Err(format!("cannot map {shown}: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the mapping is len readable bytes and lives until munmap below;
    // the matcher copies what it keeps.
    let bytes = unsafe { std::slice::from_raw_parts(base.cast::<u8>(), len) };
    let result = Matcher::from_snapshot(bytes).map_err(|e| format!("snapshot {shown}: {e}"));
    // SAFETY: the mapping made above; `bytes` is not used after this.
    unsafe { libc::munmap(base, len) };
    result
}
