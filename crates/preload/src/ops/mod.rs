//! What the hooks do, per domain: find the object a call really reaches,
//! ask the policy, report, and perform the call so it reaches what was
//! checked. Pure decisions live in `rampart_decide`.

pub mod api;
pub mod exec;
pub mod file;
pub mod net;
