//! Raw system calls the hooks make, none of which goes through a hooked
//! symbol: errno, `openat2`, `readlink`, `getcwd`, descriptor paths, and
//! the memfds and high descriptors the library keeps.

use std::ffi::{CStr, c_char, c_int, c_long, c_uint};

use rampart_decide::paths::{LinkRead, Links, PathBuf, TooLong};

pub fn errno() -> c_int {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

pub fn set_errno(e: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = e }
}

/// A system call made with the instruction itself, `syscall(2)`'s
/// convention (-1 and errno on failure). libc's `syscall` is exported by
/// librampart as a hook (hooks/syscall.rs), and the library's own calls
/// (its snapshots, log, control page, and the checked calls a hook
/// performs) must not be checked again, or loop.
///
/// # Safety
/// As system call `number` with these arguments.
#[inline]
pub unsafe fn raw_syscall6(
    number: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    let ret: c_long;
    // SAFETY: the kernel's calling convention for this architecture; the
    // caller vouches for the call itself. The instruction clobbers rcx
    // and r11 (x86_64) and nothing else the compiler could rely on.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") number => ret,
            in("rdi") a1, in("rsi") a2, in("rdx") a3, in("r10") a4, in("r8") a5, in("r9") a6,
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    // SAFETY: as above (aarch64: number in x8, result in x0).
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!(
            "svc 0",
            in("x8") number,
            inlateout("x0") a1 => ret,
            in("x1") a2, in("x2") a3, in("x3") a4, in("x4") a5, in("x5") a6,
            options(nostack),
        );
    }
    // The kernel returns -errno in [-4095, -1].
    if (-4095..0).contains(&ret) {
        set_errno(-ret as c_int);
        -1
    } else {
        ret
    }
}

/// `libc::syscall(NUMBER, ARGS...)` without passing through the exported
/// `syscall` hook (see [`raw_syscall6`]); missing arguments are 0.
macro_rules! raw_syscall {
    ($number:expr $(, $arg:expr)* $(,)?) => {{
        let a = [$(($arg) as ::std::ffi::c_long,)*];
        let arg = |i: usize| a.get(i).copied().unwrap_or(0);
        $crate::sys::raw_syscall6($number, arg(0), arg(1), arg(2), arg(3), arg(4), arg(5))
    }};
}
pub(crate) use raw_syscall;

/// `openat2` unsupported here (kernel < 5.6, or refused by seccomp): the
/// hooks fall back to the plain call after resolving links themselves.
static NO_OPENAT2: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn has_openat2() -> bool {
    !NO_OPENAT2.load(std::sync::atomic::Ordering::Relaxed)
}

/// `struct open_how`, the version-0 layout (what every kernel with
/// `openat2` takes).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct OpenHow {
    pub flags: u64,
    pub mode: u64,
    pub resolve: u64,
}

pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
/// Absolute paths and `..` are taken relative to the dirfd.
pub const RESOLVE_IN_ROOT: u64 = 0x10;

/// `openat2(dirfd, path, {flags, mode, RESOLVE_NO_SYMLINKS})`: the open the
/// caller asked for, failing with `ELOOP` if any component is a symlink.
/// `Err(ENOSYS)` also records that the call is unavailable.
pub fn open_no_symlinks(dirfd: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> Result<c_int, c_int> {
    let how = OpenHow {
        // The kernel wants the flags as an unsigned 64-bit value, without
        // the sign extension of a negative int.
        flags: u64::from(flags as u32),
        mode: if rampart_decide::flags::takes_mode(flags) { u64::from(mode & 0o7777) } else { 0 },
        resolve: RESOLVE_NO_SYMLINKS,
    };
    // SAFETY: `path` is a NUL-terminated string, `how` a valid open_how of
    // the size passed.
    let r = unsafe { raw_syscall!(libc::SYS_openat2, dirfd, path, &how as *const OpenHow, size_of::<OpenHow>()) };
    if r >= 0 {
        return Ok(r as c_int);
    }
    let e = errno();
    if e == libc::ENOSYS || e == libc::EPERM {
        NO_OPENAT2.store(true, std::sync::atomic::Ordering::Relaxed);
        return Err(libc::ENOSYS);
    }
    Err(e)
}

/// `readlink(2)` for the resolver.
pub struct RealLinks;

impl Links for RealLinks {
    fn own_pid(&mut self) -> u32 {
        // SAFETY: getpid has no preconditions (uncached: right in children).
        unsafe { libc::getpid() as u32 }
    }

    fn read_link(&mut self, path_nul: &[u8], target: &mut [u8]) -> LinkRead {
        // SAFETY: path_nul ends in NUL (PathBuf::with_nul); target is a
        // writable buffer of the length passed.
        let n = unsafe { libc::readlink(path_nul.as_ptr().cast(), target.as_mut_ptr().cast(), target.len()) };
        if n >= 0 {
            return LinkRead::Link(n as usize);
        }
        match errno() {
            libc::ENOENT | libc::ENOTDIR => LinkRead::Missing,
            _ => LinkRead::NotLink,
        }
    }
}

/// The current directory into `out`.
pub fn cwd(out: &mut PathBuf) -> Result<(), TooLong> {
    let mut buf = [0u8; rampart_policy::PATH_MAX + 1];
    // SAFETY: buf is writable for its length; getcwd writes a NUL-terminated path.
    let p = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
    if p.is_null() {
        return Err(TooLong);
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(0);
    out.set(buf.get(..len).unwrap_or(b"/"))
}

/// What `/proc/self/fd/FD` links to, into `out`; `None` when `fd` is not
/// open, links to something that is not a path, or does not fit.
pub fn fd_path(fd: c_int, out: &mut [u8]) -> Option<usize> {
    let mut name = rampart_decide::text::StackText::<32>::new();
    let _ = std::fmt::Write::write_fmt(&mut name, format_args!("/proc/self/fd/{fd}\0"));
    // SAFETY: name is NUL-terminated; out is writable for its length.
    let n = unsafe { libc::readlink(name.as_bytes().as_ptr().cast(), out.as_mut_ptr().cast(), out.len()) };
    // A result that fills the buffer may have been cut.
    usize::try_from(n).ok().filter(|&n| n > 0 && n < out.len() && out.first() == Some(&b'/'))
}

/// The bytes of a C string (empty for null).
///
/// # Safety
/// `p` is null or points to a NUL-terminated string that outlives the result.
pub unsafe fn c_bytes<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        return &[];
    }
    // SAFETY: the caller's contract.
    unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes()
}

/// Milliseconds since the epoch, from the vDSO.
pub fn now_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1000).saturating_add(ts.tv_nsec as u64 / 1_000_000)
}

/// The lowest number the library's own long-lived descriptors (the log,
/// snapshots, the control page, the counters) are moved to: out of the way
/// of the program's own numbers and of its `dup2` onto low ones.
pub const HIGH_FD: c_int = 900;

/// A new memfd, close-on-exec, sealable when asked. The raw system call:
/// glibc before 2.27 has no wrapper.
pub fn memfd(name: &CStr, sealing: bool) -> Option<c_int> {
    let flags = libc::MFD_CLOEXEC | if sealing { libc::MFD_ALLOW_SEALING } else { 0 };
    // SAFETY: a NUL-terminated name and valid flags.
    let fd = unsafe { raw_syscall!(libc::SYS_memfd_create, name.as_ptr(), flags) } as c_int;
    (fd >= 0).then_some(fd)
}

/// `fd` moved to the first free number from [`HIGH_FD`] up, close-on-exec;
/// the original is closed whether or not that worked.
pub fn move_high(fd: c_int) -> Option<c_int> {
    // SAFETY: fcntl and close on a descriptor the caller hands over.
    let high = unsafe {
        let high = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, HIGH_FD);
        libc::close(fd);
        high
    };
    (high >= 0).then_some(high)
}
