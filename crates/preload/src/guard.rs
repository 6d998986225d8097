//! Marks the library's own work so its hooks pass it through: the
//! constructor reading the policy file (and, later, the refresh thread).
//!
//! Not a thread-local: in a shared library every thread-local access goes
//! through `__tls_get_addr`, which may allocate to grow the thread's TLS
//! vector after another library with TLS was `dlopen`ed — not allowed in
//! a vfork child or a signal handler. The marks are the `pthread_self()`
//! values (a read of the thread pointer, safe anywhere) of the threads
//! doing the library's work, in a small atomic table that is empty, and
//! costs one load to check, whenever no such work is running.
//!
//! Hooks themselves never mark: a mark held across a real call would be
//! left set in the parent by an `execve` in a vfork child (they share
//! memory) and silently turn hooks off.

use std::sync::atomic::{AtomicUsize, Ordering};

const SLOTS: usize = 8;

static MARKED: AtomicUsize = AtomicUsize::new(0);
static THREADS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];

fn me() -> usize {
    // SAFETY: pthread_self has no preconditions and never fails.
    unsafe { libc::pthread_self() as usize }
}

/// True on a thread doing the library's own work.
pub fn is_internal() -> bool {
    if MARKED.load(Ordering::Acquire) == 0 {
        return false;
    }
    let me = me();
    THREADS.iter().any(|t| t.load(Ordering::Acquire) == me)
}

/// While alive, this thread's calls are the library's own.
pub struct Internal(Option<&'static AtomicUsize>);

impl Internal {
    pub fn enter() -> Internal {
        let me = me();
        if THREADS.iter().any(|t| t.load(Ordering::Acquire) == me) {
            // Already marked (nested): the outer mark is released by its owner.
            return Internal(None);
        }
        for slot in &THREADS {
            if slot.compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                MARKED.fetch_add(1, Ordering::AcqRel);
                return Internal(Some(slot));
            }
        }
        Internal(None)
    }
}

impl Drop for Internal {
    fn drop(&mut self) {
        if let Some(slot) = self.0 {
            slot.store(0, Ordering::Release);
            MARKED.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// In a fork child: only the forking thread exists. Marks of other threads
/// would otherwise linger, and a new thread reusing a stale `pthread_self`
/// value would be taken for the library's own.
pub fn after_fork_in_child() {
    let me = me();
    for slot in &THREADS {
        let t = slot.load(Ordering::Acquire);
        if t != 0 && t != me && slot.compare_exchange(t, 0, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            MARKED.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
