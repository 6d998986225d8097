//! The library's own threads (the policy refresh, the Runtime API relay):
//! plain `pthread_create`, detached, with every signal blocked. std's thread
//! machinery would bring its panic and backtrace printing into a library
//! every child maps, for nothing these threads use; and a signal handler the
//! function installed must never run on one of ours.

use std::ffi::{CStr, c_void};

/// Starts `body` on a new thread named `name` (at most 15 bytes); the
/// error number when the thread cannot be created.
pub fn spawn(name: &CStr, stack: usize, body: Box<dyn FnOnce() + Send>) -> Result<(), i32> {
    extern "C" fn start(arg: *mut c_void) -> *mut c_void {
        // SAFETY: the box leaked below, handed to this thread alone.
        let body = unsafe { Box::from_raw(arg.cast::<Box<dyn FnOnce() + Send>>()) };
        body();
        std::ptr::null_mut()
    }
    let arg = Box::into_raw(Box::new(body)).cast::<c_void>();
    // SAFETY: sigset_t and pthread_attr_t are plain data the calls
    // initialise; the new thread inherits the full mask set here, and this
    // thread's mask is restored right after; only `arg` is shared.
    let rc = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        libc::pthread_attr_setstacksize(&mut attr, stack);
        let mut thread: libc::pthread_t = 0;
        let rc = libc::pthread_create(&mut thread, &attr, start, arg);
        libc::pthread_attr_destroy(&mut attr);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if rc == 0 {
            libc::pthread_setname_np(thread, name.as_ptr());
        }
        rc
    };
    if rc != 0 {
        // SAFETY: no thread was created, so `arg` is still ours.
        drop(unsafe { Box::from_raw(arg.cast::<Box<dyn FnOnce() + Send>>()) });
        return Err(rc);
    }
    Ok(())
}
