//! AWS API calls: the SDK channel (action level, from the language shims)
//! and connections to AWS API endpoints (service level, every runtime).
//! The decisions are `rampart_decide::api`'s; this reports and denies.

use std::ffi::c_int;

use rampart_decide::api::{ApiCall, SdkQuery};
use rampart_decide::seqtext::TEXT_MAX;
use rampart_decide::text::StackText;
use rampart_policy::Category;

use crate::ops::{Outcome, settle};
use crate::report::{self, Activity};
use crate::state::State;
use crate::sys;

/// Answers an open of a path under `/dev/rampart/api/` without the kernel:
/// -1 with `EACCES` when the call is blocked, else -1 with `ENOENT` — what
/// the kernel answers when the library is absent, so the shim goes ahead
/// either way unless told `EACCES`. A malformed query is `ENOENT` with no
/// decision (and a status line once per distinct query). Returns the
/// open's result, as `ops::file::open` does (its caller).
pub fn sdk_open(st: &State, op: &'static str, query: SdkQuery<'_>) -> c_int {
    let errno = match query {
        SdkQuery::Call { call, target } => match decide(st, op, &call, target) {
            Outcome::Deny(e) => e,
            Outcome::Allow | Outcome::Pass(_) => libc::ENOENT,
        },
        SdkQuery::Malformed => {
            report::note_once(st, Category::Api, b"", "malformed SDK channel query (expected SERVICE:Action[@BUCKET])");
            libc::ENOENT
        }
    };
    sys::set_errno(errno);
    -1
}

/// Asks the policy about `call` (target `target`, in the rule grammar):
/// the line the verdict calls for, and the outcome.
fn decide(st: &State, op: &'static str, call: &ApiCall<'_>, target: &[u8]) -> Outcome {
    let allowed = st.matcher().allows_api(call.service, call.action, call.bucket);
    settle(st, allowed, &Activity { cat: Category::Api, op, target, access: None, argv: None, api: Some(*call) })
}

/// A connection to an AWS API endpoint, at service level: target
/// `SERVICE:*` or `s3:*@BUCKET`.
pub fn connect(st: &State, call: &ApiCall<'_>) -> Outcome {
    let mut target = StackText::<{ TEXT_MAX + 16 }>::new();
    target.push(call.service.as_bytes());
    target.push(b":*");
    if let Some(b) = call.bucket {
        target.push(b"@");
        target.push(b.as_bytes());
    }
    decide(st, "connect", call, target.as_bytes())
}
