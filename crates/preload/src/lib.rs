//! librampart.so: loaded with `LD_PRELOAD` into a function's runtime (or
//! any dynamically linked process by `rampart run`), it checks every file
//! open, connection and program launch against the policy, and reports or
//! denies what is not allowed (see DESIGN.md for the contract).
//!
//! - `hooks/`: the exported libc entry points (the FFI edge).
//! - `ops/`: what each domain does: resolve, decide, report, call.
//! - `real`: the libc functions behind the hooks.
//! - `state`: configuration and the compiled policy, lock-free.
//! - `report`: event lines on stderr.
//! - `snapshot`: the compiled policy shared with children.
//! - `guard`: marks the library's own calls.
//! - `sys`: the raw system calls the hooks make.
//! - `shim.c`: the variadic `execl*`.
//!
//! Everything a hook runs is allocation-free, lock-free and panic-free
//! (the release build aborts on panic; the decide crate denies indexing
//! and unwrapping), and restores `errno` unless it is the call's result.

#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod guard;
mod hooks;
mod ops;
mod real;
mod report;
mod snapshot;
mod state;
mod sys;

/// The constructor: resolve the real functions, read the configuration and
/// the policy, publish them. Until it has run, hooks pass calls through.
extern "C" fn init() {
    let _internal = guard::Internal::enter();
    real::resolve_all();
    state::load();
}

/// At exit: the counts of alert lines still held back by the rate limit.
extern "C" fn fini() {
    let _internal = guard::Internal::enter();
    report::flush();
}

#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = init;

#[used]
#[unsafe(link_section = ".fini_array")]
static FINI: extern "C" fn() = fini;
