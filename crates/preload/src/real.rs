//! The real libc functions behind the hooks: `dlsym(RTLD_NEXT)` (the real
//! one, hooks/dl.rs) into
//! atomics, eagerly in the constructor (so vfork children and signal
//! handlers never call `dlsym`), lazily as a fallback for hooks that run
//! before the constructor.

use std::ffi::{CStr, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};

/// One real function, looked up by name.
pub struct Real {
    name: &'static CStr,
    ptr: AtomicPtr<c_void>,
}

impl Real {
    pub const fn new(name: &'static CStr) -> Real {
        Real { name, ptr: AtomicPtr::new(std::ptr::null_mut()) }
    }

    /// The function's address, or null when no later object defines it.
    pub fn get(&self) -> *mut c_void {
        let p = self.ptr.load(Ordering::Acquire);
        if !p.is_null() {
            return p;
        }
        // Not libc::dlsym: that name is our own export now (hooks/dl.rs).
        let p = crate::loader::next_after_librampart(self.name);
        self.ptr.store(p, Ordering::Release);
        p
    }
}

/// Declares the real functions the hooks call, and `resolve_all` for the
/// constructor.
macro_rules! reals {
    ($($id:ident = $name:literal;)*) => {
        $(pub static $id: Real = Real::new($name);)*
        pub fn resolve_all() {
            $($id.get();)*
        }
    };
}

reals! {
    OPEN = c"open";
    OPEN64 = c"open64";
    OPENAT = c"openat";
    OPENAT64 = c"openat64";
    OPEN_2 = c"__open_2";
    OPEN64_2 = c"__open64_2";
    OPENAT_2 = c"__openat_2";
    OPENAT64_2 = c"__openat64_2";
    CREAT = c"creat";
    CREAT64 = c"creat64";
    FOPEN = c"fopen";
    FOPEN64 = c"fopen64";
    FREOPEN = c"freopen";
    FREOPEN64 = c"freopen64";
    FDOPEN = c"fdopen";
    OPENDIR = c"opendir";
    FDOPENDIR = c"fdopendir";
    EXECVE = c"execve";
    EXECVPE = c"execvpe";
    FEXECVE = c"fexecve";
    EXECVEAT = c"execveat";
    POSIX_SPAWN = c"posix_spawn";
    POSIX_SPAWNP = c"posix_spawnp";
    SYSTEM = c"system";
    POPEN = c"popen";
    IO_PROC_OPEN = c"_IO_proc_open";
    WORDEXP = c"wordexp";
    CONNECT = c"connect";
    SENDTO = c"sendto";
    SENDMSG = c"sendmsg";
    SENDMMSG = c"sendmmsg";
    GETADDRINFO = c"getaddrinfo";
    REXEC = c"rexec";
    REXEC_AF = c"rexec_af";
    RES_STATE = c"__res_state";
    RES_NINIT = c"__res_ninit";
    RES_SEND = c"res_send";
    RES_SEND_COMPAT = c"__res_send";
    RES_NSEND = c"res_nsend";
    RES_NSEND_COMPAT = c"__res_nsend";
    RES_QUERY = c"res_query";
    RES_QUERY_COMPAT = c"__res_query";
    RES_NQUERY = c"res_nquery";
    RES_NQUERY_COMPAT = c"__res_nquery";
    RES_SEARCH = c"res_search";
    RES_SEARCH_COMPAT = c"__res_search";
    RES_NSEARCH = c"res_nsearch";
    RES_NSEARCH_COMPAT = c"__res_nsearch";
    RES_QUERYDOMAIN = c"res_querydomain";
    RES_QUERYDOMAIN_COMPAT = c"__res_querydomain";
    RES_NQUERYDOMAIN = c"res_nquerydomain";
    RES_NQUERYDOMAIN_COMPAT = c"__res_nquerydomain";
    UNLINK = c"unlink";
    UNLINKAT = c"unlinkat";
    RMDIR = c"rmdir";
    MKDIR = c"mkdir";
    MKDIRAT = c"mkdirat";
    RENAME = c"rename";
    RENAMEAT = c"renameat";
    RENAMEAT2 = c"renameat2";
    LINK = c"link";
    LINKAT = c"linkat";
    SYMLINK = c"symlink";
    SYMLINKAT = c"symlinkat";
    TRUNCATE = c"truncate";
    TRUNCATE64 = c"truncate64";
}

/// `current` when it exists, else `compat`: the resolver's functions
/// are `res_*` in libc from glibc 2.34 on (their `__res_*` names kept only
/// as hidden compat versions, which a lookup by name does not find), and
/// `__res_*` in libresolv before.
pub fn either<'a>(current: &'a Real, compat: &'a Real) -> &'a Real {
    if current.get().is_null() { compat } else { current }
}

/// Calls a real function through a pointer of the given C type; when the
/// symbol does not exist, fails with `ENOSYS` and `$missing`.
macro_rules! call_real {
    ($real:expr, $ty:ty, $missing:expr, ($($arg:expr),* $(,)?)) => {{
        let p = $real.get();
        if p.is_null() {
            $crate::sys::set_errno(libc::ENOSYS);
            $missing
        } else {
            // SAFETY: `p` is the address dlsym returned for this symbol,
            // whose C prototype is `$ty`.
            let f: $ty = unsafe { std::mem::transmute::<*mut std::ffi::c_void, $ty>(p) };
            // SAFETY: the arguments are the caller's, passed on unchanged
            // (or replaced by valid NUL-terminated buffers of ours).
            unsafe { f($($arg),*) }
        }
    }};
}
pub(crate) use call_real;
