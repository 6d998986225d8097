//! What a hook asks first: whether to check this call at all (`checked`),
//! and the policy's verdict, counted for the heartbeat. The configuration
//! and the policy themselves are `published`'s (re-exported here for the
//! hooks); this module sits above `control` and `refresh` because the way
//! in is where a child follows its root and the root wakes its refresh.

use rampart_policy::{Category, Verdict};

pub use crate::published::State;
use crate::{control, guard, published, refresh};

impl State {
    /// The policy's verdict on an activity, counted for the heartbeat of
    /// the invocation in progress.
    pub fn verdict(&self, cat: Category, allowed: bool) -> Verdict {
        let v = self.matcher().verdict(cat, allowed);
        control::tally(v);
        v
    }
}

/// The state, for a hook that should check this call: the library is set
/// up, the mode is not off, and the call is not the library's own.
/// On the way, a child picks up its root's policy change and the root
/// wakes an overdue refresh.
pub fn checked() -> Option<&'static State> {
    if guard::is_internal() {
        return None;
    }
    control::follow();
    refresh::due_check();
    published::active()
}
