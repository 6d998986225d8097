//! The caller's arguments, copied once into the library's own memory.
//!
//! A hook decides on what it copied here and hands the copy — not the
//! caller's pointer — to the real call, so another thread that rewrites
//! the caller's buffer after the check changes nothing that reaches the
//! kernel. Copies live on the hook's stack: no allocation, and safe in
//! vfork children and signal handlers.

use std::ffi::c_char;
use std::mem::MaybeUninit;

use rampart_policy::PATH_MAX;

/// A path as the caller passed it, NUL-terminated in our memory.
///
/// The buffer is left uninitialised past the copy (see
/// [`empty`](Self::empty)).
pub struct CapturedPath {
    buf: [MaybeUninit<u8>; PATH_MAX + 1],
    /// Bytes `..=len` of `buf` are initialised (the path and its NUL).
    len: usize,
}

/// Why a path could not be captured: longer than the kernel takes
/// (`ENAMETOOLONG` is the kernel's answer for it too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathTooLong;

impl CapturedPath {
    /// An empty path, to [`fill`](Self::fill) in place: a hook that
    /// keeps the copy on its own stack this way pays neither for zeroing
    /// 4 KiB nor for moving them (both measured as the bulk of the cost of
    /// [`capture`](Self::capture) under callgrind).
    #[inline(always)]
    pub fn empty() -> CapturedPath {
        // SAFETY: an array of `MaybeUninit` needs no initialisation.
        let buf = unsafe { MaybeUninit::<[MaybeUninit<u8>; PATH_MAX + 1]>::uninit().assume_init() };
        let mut out = CapturedPath { buf, len: 0 };
        if let Some(nul) = out.buf.first_mut() {
            nul.write(0);
        }
        out
    }

    /// Copies the C string at `p` into `self`, reading at most
    /// `PATH_MAX + 1` bytes of it (never past its NUL). On `Err` the copy
    /// is the empty path.
    ///
    /// # Safety
    /// `p` is non-null and points to a NUL-terminated string, or to at
    /// least `PATH_MAX + 1` readable bytes.
    #[inline(always)]
    pub unsafe fn fill(&mut self, p: *const c_char) -> Result<(), PathTooLong> {
        // Byte by byte from the caller's memory, each byte read once: a
        // strlen followed by a memcpy would read twice, and a writer in
        // between could leave a string without its NUL.
        for i in 0..PATH_MAX {
            // SAFETY: the caller's contract; we stop at the first NUL.
            let b = unsafe { p.add(i).read_volatile() } as u8;
            if let Some(slot) = self.buf.get_mut(i) {
                slot.write(b);
            }
            if b == 0 {
                self.len = i;
                return Ok(());
            }
        }
        self.len = 0;
        if let Some(nul) = self.buf.first_mut() {
            nul.write(0);
        }
        Err(PathTooLong)
    }

    /// Copies the C string at `p` (see [`fill`](Self::fill)), returning
    /// the copy by value (a 4 KiB move, unless the compiler elides it).
    ///
    /// # Safety
    /// As [`fill`](Self::fill).
    #[allow(dead_code, reason = "the by-value form of the shared API; the file hooks fill in place")]
    pub unsafe fn capture(p: *const c_char) -> Result<CapturedPath, PathTooLong> {
        let mut out = CapturedPath::empty();
        // SAFETY: the caller's contract.
        unsafe { out.fill(p) }?;
        Ok(out)
    }

    /// The path's bytes (no NUL).
    pub fn as_bytes(&self) -> &[u8] {
        let len = self.len.min(PATH_MAX);
        // SAFETY: bytes ..=len were written by `empty` or `fill` (len <
        // PATH_MAX + 1, the buffer's size).
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), len) }
    }

    /// The copy as a C string for the real call.
    pub fn as_ptr(&self) -> *const c_char {
        self.buf.as_ptr().cast()
    }
}

/// Copies the C string at `p` into `out`, each byte read once (see
/// [`CapturedPath::fill`]), and returns its length; `out.len()` when it
/// did not fit (what was copied is then its first `out.len()` bytes).
///
/// # Safety
/// `p` is non-null and points to a NUL-terminated string, or to at least
/// `out.len()` readable bytes.
pub unsafe fn copy_c_str(p: *const c_char, out: &mut [u8]) -> usize {
    for (i, slot) in out.iter_mut().enumerate() {
        // SAFETY: the caller's contract; we stop at the first NUL.
        let b = unsafe { p.add(i).read_volatile() } as u8;
        if b == 0 {
            return i;
        }
        *slot = b;
    }
    out.len()
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
