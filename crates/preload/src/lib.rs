//! librampart.so: loaded with `LD_PRELOAD` into a function's runtime (or
//! any dynamically linked process by `rampart run`), it checks every file
//! open, connection and program launch against the policy, and reports or
//! denies what is not allowed (see DESIGN.md for the contract).
//!
//! The modules in layers, top to bottom: each uses only modules listed
//! below it (tests/tests/preload_layers.rs keeps it so).
//!
//! - `startup`: the constructor's work: reads the configuration and the
//!   policy (or takes the root's), publishes them, starts the root's relay
//!   and refresh.
//! - `hooks/`: the exported libc entry points, the FFI edge: the only place
//!   the caller's raw pointers become safe types, and an `ops` outcome
//!   becomes a return value and errno.
//! - `lambda`: the Runtime API relay (inputs, request ids, heartbeats).
//! - `ops/`: what each domain does on safe types: resolve, decide, call,
//!   returning an `Outcome`; `ops::settle` is the one place a decision
//!   becomes an event line and, in block mode, a denial.
//! - `state`: the way into a check (`checked`: not the library's own call,
//!   the root's changes followed, the refresh woken) and verdicts counted.
//! - `refresh`: the root's policy refresh from S3 (through
//!   librampart_fetch.so, which only the root loads).
//! - `control`: the control page's life: created by the root, followed by
//!   children, the decision counters and the request id written.
//! - `report`: event lines on stderr.
//! - `page`: the control page's layout and this process's mapping of it
//!   (the request id every line carries).
//! - `snapshot`: the compiled policy shared with children.
//! - `published`: the configuration and the policy in force, lock-free.
//! - `real`: the libc functions behind the hooks.
//! - `loader`: symbol lookups in the loaded objects' tables (the real
//!   `dlsym`, the library's own exports).
//! - `capture`: the caller's arguments, copied once before deciding.
//! - `alloc`: malloc, or a lock-free arena for policy loads inside hooks.
//! - `thread`: the library's own threads.
//! - `guard`: marks the library's own calls.
//! - `sys`: the raw system calls the hooks make.
//! - `shim.c`: the variadic `execl*`.
//!
//! Everything a hook runs is allocation-free, lock-free and panic-free
//! (the release build aborts on panic; the decide crate denies indexing
//! and unwrapping), and restores `errno` unless it is the call's result.

#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod alloc;
mod capture;
mod control;
mod guard;
mod hooks;
mod lambda;
mod loader;
mod ops;
mod page;
mod published;
mod real;
mod refresh;
mod report;
mod snapshot;
mod startup;
mod state;
mod sys;
mod thread;

#[global_allocator]
static ALLOC: alloc::HookAlloc = alloc::HookAlloc;

/// The constructor: resolve the real functions, read the configuration and
/// the policy, publish them. Until it has run, hooks pass calls through.
/// glibc passes `.init_array` functions the program's argc, argv and envp.
extern "C" fn init(
    _argc: std::ffi::c_int,
    argv: *const *const std::ffi::c_char,
    _envp: *const *const std::ffi::c_char,
) {
    let _internal = guard::Internal::enter();
    // The real dlsym first: resolve_all's lookups go through it.
    loader::resolve();
    ops::exec::restore_name(argv);
    real::resolve_all();
    // SAFETY: registers a plain function; called once per process.
    unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    startup::load();
}

/// In the child of a `fork` (not `vfork`, which shares our memory): only
/// the forking thread was copied, so marks and flags other threads held
/// are stale, and the refresh thread is not there.
extern "C" fn after_fork_in_child() {
    guard::after_fork_in_child();
    control::after_fork_in_child();
    refresh::after_fork_in_child();
}

/// At exit: the counts of alert lines still held back by the rate limit.
extern "C" fn fini() {
    let _internal = guard::Internal::enter();
    report::flush();
}

#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn(std::ffi::c_int, *const *const std::ffi::c_char, *const *const std::ffi::c_char) = init;

#[used]
#[unsafe(link_section = ".fini_array")]
static FINI: extern "C" fn() = fini;
