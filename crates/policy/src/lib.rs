//! rampart's policy engine.
//!
//! A policy (policy.json, version 1) is an allowlist in five categories —
//! file, network, process, api, input — plus a mode (profile, alert, block)
//! and the list of categories that block mode denies. This crate:
//!
//! - reads the document ([`PolicyDoc`]) and validates every rule
//!   ([`Policy`]), with errors that name the bad rule
//!   (`allow.file[3]: "rw/tmp/**": expected "r|w|rw GLOB"`);
//! - compiles a policy into a [`Matcher`]: an immutable structure that
//!   answers "is this activity allowed?" without allocating, locking,
//!   panicking or touching libc, so the preload library can ask it from a
//!   `vfork` child or before its own constructor has run;
//! - writes a compiled matcher as a binary snapshot and loads it back
//!   ([`Matcher::to_snapshot`], [`Matcher::from_snapshot`]), so an exec'd
//!   child starts from its parent's matcher without parsing or compiling.
//!
//! The crate is safe Rust and does no I/O; the preload library, the policy
//! fetcher and the CLI are thin users of it.

#![forbid(unsafe_code)]

mod doc;
mod error;
mod glob;
mod index;
mod matcher;
mod path;
mod plain;
pub mod reference;
mod rule;
mod snapshot;
mod table;
mod types;

pub use doc::{Policy, PolicyDoc, VERSION};
pub use error::PolicyError;
pub use glob::{Glob, GlobSeg, match_wild as wildcard_match};
pub use matcher::{Connect, Matcher, Verdict};
pub use path::{PATH_MAX, normalize_path};
pub use rule::{
    ApiRule, FileRule, HostPattern, MAX_BUCKET, NetRule, PortRange, Rule, UnixPattern, canonical_ip, is_action_byte,
    is_bucket_byte, is_service_byte, mask_ip,
};
pub use snapshot::{SNAPSHOT_VERSION, SnapshotError, reseal_snapshot};
pub use types::{Access, Category, CategorySet, InputSource, Mode, Proto};
