//! What the hooks do, per domain: find the object a call really reaches,
//! ask the policy, report, and perform the call so it reaches what was
//! checked. Pure decisions live in `rampart_decide`.

pub mod api;
pub mod exec;
pub mod file;
pub mod net;

use std::ffi::c_int;

use rampart_policy::Verdict;

use crate::report::{self, Activity};
use crate::state::State;

/// What a hook does with a call, as the logic behind it decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Perform the call (on the captured arguments).
    Allow,
    /// Fail it the way the OS fails a permission problem: this errno.
    Deny(c_int),
    /// Perform it unchecked, for a reason the code names (the kernel will
    /// fail it on its own, the library's own channel, ...).
    Pass(&'static str),
}

/// The one place a decision becomes a line and, in block mode, a denial:
/// the policy's verdict on `a` (counted for the heartbeat), its event line
/// if the verdict calls for one, and the outcome.
pub fn settle(st: &State, allowed: bool, a: &Activity<'_>) -> Outcome {
    let v = st.verdict(a.cat, allowed);
    report::verdict(st, v, a);
    if v == Verdict::Block { Outcome::Deny(libc::EACCES) } else { Outcome::Allow }
}
