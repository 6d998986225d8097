//! Marks the library's own work so its hooks pass it through: the
//! constructor reading the policy file (and, later, the refresh thread).
//!
//! Hooks themselves never set it: a flag held across a real call would be
//! left set in the parent by an `execve` in a vfork child (they share
//! memory) and silently turn every later hook off. Only a `const`
//! initialised `Cell` thread-local is used: no destructor, no allocation,
//! safe in any thread at any time.

use std::cell::Cell;

thread_local! {
    static INTERNAL: Cell<bool> = const { Cell::new(false) };
}

/// True on a thread doing the library's own work.
pub fn is_internal() -> bool {
    INTERNAL.try_with(Cell::get).unwrap_or(true)
}

/// While alive, this thread's calls are the library's own.
pub struct Internal(bool);

impl Internal {
    pub fn enter() -> Internal {
        Internal(INTERNAL.try_with(|c| c.replace(true)).unwrap_or(true))
    }
}

impl Drop for Internal {
    fn drop(&mut self) {
        let _ = INTERNAL.try_with(|c| c.set(self.0));
    }
}
