//! AWS API calls: the SDK channel (action level, from the language shims)
//! and connections to AWS API endpoints (service level, every runtime).
//! The decisions are `rampart_decide::api`'s; this reports and denies.

use std::ffi::c_int;

use rampart_decide::api::{ApiCall, SdkQuery};
use rampart_decide::seqtext::TEXT_MAX;
use rampart_decide::text::StackText;
use rampart_policy::{Category, Verdict};

use crate::report::{self, Activity};
use crate::state::State;
use crate::sys;

/// Answers an open of a path under `/dev/rampart/api/` without the kernel:
/// -1 with `EACCES` when the call is blocked, else -1 with `ENOENT` — what
/// the kernel answers when the library is absent, so the shim goes ahead
/// either way unless told `EACCES`. A malformed query is `ENOENT` with no
/// decision (and a status line once per distinct query).
pub fn sdk_open(st: &State, op: &'static str, query: SdkQuery<'_>) -> c_int {
    let errno = match query {
        SdkQuery::Call { call, target } => match decide(st, op, &call, target) {
            Verdict::Block => libc::EACCES,
            _ => libc::ENOENT,
        },
        SdkQuery::Malformed => {
            report::note_once(st, Category::Api, b"", "malformed SDK channel query (expected SERVICE:Action[@BUCKET])");
            libc::ENOENT
        }
    };
    sys::set_errno(errno);
    -1
}

/// Asks the policy about `call` (target `target`, in the rule grammar)
/// and writes the line the verdict calls for.
pub fn decide(st: &State, op: &'static str, call: &ApiCall<'_>, target: &[u8]) -> Verdict {
    let allowed = st.matcher().allows_api(call.service, call.action, call.bucket);
    let v = st.verdict(Category::Api, allowed);
    if v != Verdict::Allow {
        let a = Activity { cat: Category::Api, op, target, access: None, argv: None, api: Some(*call) };
        report::verdict(st, v, &a);
    }
    v
}

/// A connection to an AWS API endpoint, at service level: target
/// `SERVICE:*` or `s3:*@BUCKET`. `Err(EACCES)` when blocked.
pub fn connect(st: &State, call: &ApiCall<'_>) -> Result<(), c_int> {
    let mut target = StackText::<{ TEXT_MAX + 16 }>::new();
    target.push(call.service.as_bytes());
    target.push(b":*");
    if let Some(b) = call.bucket {
        target.push(b"@");
        target.push(b.as_bytes());
    }
    match decide(st, "connect", call, target.as_bytes()) {
        Verdict::Block => Err(libc::EACCES),
        _ => Ok(()),
    }
}
