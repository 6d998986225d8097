//! The decisions behind librampart's hooks, in safe code that never calls
//! libc, allocates, locks or panics, so each can be unit-tested and fuzzed
//! apart from the process it will run in.
//!
//! The preload library (`crates/preload`) converts raw pointers into byte
//! slices, asks these modules what the call really does, asks the policy
//! whether that is allowed, and turns the answer into a libc return value.
//!
//! - [`api`]: AWS API calls: the SDK channel's paths (action level) and
//!   the host names SDKs connect to (service level).
//! - [`layer`]: the layer's own shim files, which never need rules.
//! - [`procmem`]: `/proc/PID/mem`, never opened for writing.
//! - [`shellwords`]: does a `wordexp` call run a shell?
//! - [`flags`]: open flags and `fopen` modes → the access they need.
//! - [`paths`]: absolute paths in stack buffers: joining to a cwd or dirfd
//!   path, and resolving symlinks through a caller-supplied `readlink`.
//! - [`search`]: the `PATH` search of `execvp`/`posix_spawnp`.
//! - [`sockaddr`]: socket addresses → the peer a connection goes to.
//! - [`names`]: the fixed-size IP → DNS name table `getaddrinfo` fills.
//! - [`resolver`]: the name servers `res_send`, `res_query`, ... contact.
//! - [`seen`], [`ratelimit`]: once-per-process profile lines and
//!   rate-limited alert lines, lock-free.
//! - [`childenv`]: which environment entries a child gets from its parent.
//! - [`elf`]: is a program a static ELF (which LD_PRELOAD cannot cover)?
//! - [`dynsym`]: symbol lookups in loaded objects (ELF hashes, versions).
//! - [`text`]: event targets written into stack buffers.

#![forbid(unsafe_code)]
#![no_std]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(test)]
extern crate std;

pub mod api;
pub mod childenv;
pub mod dynsym;
pub mod elf;
pub mod flags;
pub mod hash;
pub mod layer;
pub mod names;
pub mod paths;
pub mod procmem;
pub mod ratelimit;
pub mod resolver;
pub mod search;
pub mod seconds;
pub mod seen;
pub mod seqtext;
pub mod shebang;
pub mod shellwords;
pub mod sockaddr;
pub mod spawn;
pub mod text;
