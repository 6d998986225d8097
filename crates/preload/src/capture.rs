//! The caller's arguments, copied once into the library's own memory.
//!
//! A hook decides on what it copied here and hands the copy — not the
//! caller's pointer — to the real call, so another thread that rewrites
//! the caller's buffer after the check changes nothing that reaches the
//! kernel. Copies live on the hook's stack: no allocation, and safe in
//! vfork children and signal handlers.

use std::ffi::c_char;

use rampart_policy::PATH_MAX;

/// A path as the caller passed it, NUL-terminated in our memory.
pub struct CapturedPath {
    buf: [u8; PATH_MAX + 1],
    len: usize,
}

/// Why a path could not be captured: longer than the kernel takes
/// (`ENAMETOOLONG` is the kernel's answer for it too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathTooLong;

impl CapturedPath {
    /// Copies the C string at `p`, reading at most `PATH_MAX + 1` bytes of
    /// it (never past its NUL).
    ///
    /// # Safety
    /// `p` is non-null and points to a NUL-terminated string, or to at
    /// least `PATH_MAX + 1` readable bytes.
    pub unsafe fn capture(p: *const c_char) -> Result<CapturedPath, PathTooLong> {
        let mut out = CapturedPath { buf: [0; PATH_MAX + 1], len: 0 };
        // Byte by byte from the caller's memory, each byte read once: a
        // strlen followed by a memcpy would read twice, and a writer in
        // between could leave a string without its NUL.
        for i in 0..PATH_MAX {
            // SAFETY: the caller's contract; we stop at the first NUL.
            let b = unsafe { p.add(i).read_volatile() } as u8;
            if b == 0 {
                out.len = i;
                return Ok(out);
            }
            if let Some(slot) = out.buf.get_mut(i) {
                *slot = b;
            }
        }
        Err(PathTooLong)
    }

    /// The path's bytes (no NUL).
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// The copy as a C string for the real call.
    pub fn as_ptr(&self) -> *const c_char {
        self.buf.as_ptr().cast()
    }
}

/// The longest socket address the kernel takes
/// (`sizeof(struct sockaddr_storage)`); it fails longer ones with
/// `EINVAL`, and so does the hook (see [`AddrTooLong`]).
pub const SOCKADDR_MAX: usize = 128;

/// A socket address length over [`SOCKADDR_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrTooLong;

/// A socket address as the caller passed it, in our memory, aligned for
/// any `sockaddr_*`.
#[repr(C, align(8))]
pub struct CapturedAddr {
    buf: [u8; SOCKADDR_MAX],
    len: usize,
}

impl CapturedAddr {
    /// Copies the `len` bytes of `addr`.
    ///
    /// # Safety
    /// `addr` is non-null and readable for `len` bytes.
    pub unsafe fn capture(addr: *const libc::sockaddr, len: libc::socklen_t) -> Result<CapturedAddr, AddrTooLong> {
        let len = len as usize;
        if len > SOCKADDR_MAX {
            return Err(AddrTooLong);
        }
        let mut out = CapturedAddr { buf: [0; SOCKADDR_MAX], len };
        // SAFETY: the caller's contract; `len` ≤ the buffer's size.
        unsafe { std::ptr::copy_nonoverlapping(addr.cast::<u8>(), out.buf.as_mut_ptr(), len) };
        Ok(out)
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    pub fn as_ptr(&self) -> *const libc::sockaddr {
        self.buf.as_ptr().cast()
    }

    pub fn len(&self) -> libc::socklen_t {
        self.len as libc::socklen_t
    }
}
