//! Event lines on stderr: one `write(2)` per line from a stack buffer, so
//! lines never interleave and reporting never allocates. Profile lines are
//! written once per process, alert lines rate-limited with counted
//! summaries; block lines always.

use rampart_decide::hash;
use rampart_decide::ratelimit::{Alert, RateLimit};
use rampart_decide::seen::Seen;
use rampart_event::{EventRef, EventType, MAX_LINE};
use rampart_policy::{Access, Category, Verdict};

use crate::state::{self, State};
use crate::sys;

static SEEN: Seen = Seen::new();
static ALERTS: RateLimit = RateLimit::new();

/// What a hook knows about one activity.
pub struct Activity<'a> {
    pub cat: Category,
    pub op: &'static str,
    pub target: &'a [u8],
    pub access: Option<Access>,
    pub argv: Option<&'a [&'a [u8]]>,
}

/// Writes the line a verdict calls for (if any). errno is preserved.
pub fn verdict(st: &State, v: Verdict, a: &Activity<'_>) {
    let kind = match v {
        Verdict::Allow => return,
        Verdict::Profile => {
            let acc = [a.access.map_or(0, |x| x.bits())];
            if !SEEN.first_time(hash::key(&[a.cat.as_str().as_bytes(), &acc, a.target])) {
                return;
            }
            EventType::Profile
        }
        Verdict::Alert => {
            let key = hash::key(&[a.cat.as_str().as_bytes(), a.target]);
            let mut label = rampart_decide::text::StackText::<{ rampart_decide::seqtext::TEXT_MAX }>::new();
            label.push(&[a.cat as u8]);
            label.push(a.target);
            match ALERTS.alert(key, label.as_bytes(), sys::now_ms() / 1000) {
                Alert::Suppress => return,
                Alert::Write { suppressed: 0 } => {}
                Alert::Write { suppressed } => summary(st, a.cat, a.target, suppressed),
            }
            EventType::Alert
        }
        Verdict::Block => EventType::Block,
    };
    let ev = EventRef {
        cat: Some(a.cat),
        op: Some(a.op),
        target: Some(a.target),
        access: a.access,
        argv: a.argv,
        function: st.function.as_deref(),
        ..EventRef::new(kind, pid(), sys::now_ms())
    };
    emit(&ev);
}

fn summary(st: &State, cat: Category, target: &[u8], count: u64) {
    let ev = EventRef {
        cat: Some(cat),
        target: Some(target),
        msg: Some("alert lines suppressed (rate limit: one per target a minute)"),
        count: Some(count),
        function: st.function.as_deref(),
        ..EventRef::new(EventType::Status, pid(), sys::now_ms())
    };
    emit(&ev);
}

/// A status line once per process for one target (e.g. a static binary).
pub fn note_once(st: &State, cat: Category, target: &[u8], msg: &str) {
    if SEEN.first_time(hash::key(&[b"note", msg.as_bytes(), target])) {
        let ev = EventRef {
            cat: Some(cat),
            target: Some(target),
            msg: Some(msg),
            function: st.function.as_deref(),
            ..EventRef::new(EventType::Status, pid(), sys::now_ms())
        };
        emit(&ev);
    }
}

/// A status or error line (constructor, exit).
pub fn message(kind: EventType, msg: &str) {
    let function = state::active().and_then(|s| s.function.as_deref());
    emit(&EventRef { msg: Some(msg), function, ..EventRef::new(kind, pid(), sys::now_ms()) });
}

/// At exit: the counts of alerts still held back.
pub fn flush() {
    let Some(st) = state::active() else { return };
    ALERTS.drain(|label, n| {
        let (cat, target) = match label.split_first() {
            Some((&c, t)) => (Category::ALL.iter().copied().find(|x| *x as u8 == c), t),
            None => (None, label),
        };
        if let Some(cat) = cat {
            summary(st, cat, target, n);
        }
    });
}

fn pid() -> u32 {
    // SAFETY: getpid has no preconditions (and is not cached by glibc, so
    // it is right in fork children).
    unsafe { libc::getpid() as u32 }
}

fn emit(ev: &EventRef<'_>) {
    let saved = sys::errno();
    let mut buf = [0u8; MAX_LINE];
    let n = rampart_event::encode(ev, &mut buf);
    // SAFETY: buf holds n initialised bytes. A short or failed write (stderr
    // closed, full pipe) is dropped: the hook must not block or fail.
    unsafe { libc::write(2, buf.as_ptr().cast(), n) };
    sys::set_errno(saved);
}
