//! The control page's layout and this process's mapping of it, for every
//! reader: `control` (above) creates, maps and follows it; event lines
//! (`report`) read the request id in progress from it. See `control` for
//! what the page is and why it can be trusted.

use std::ffi::c_int;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use rampart_decide::seqtext::{SeqText, TEXT_MAX};

pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"RAMPCTL1");
pub(crate) const PAGE: usize = 4096;

#[repr(C)]
pub(crate) struct Page {
    pub(crate) magic: u64,
    pub(crate) root_pid: u64,
    /// generation << 32 | snapshot descriptor.
    pub(crate) current: AtomicU64,
    /// The root's descriptor of the counters (see `control`), or u64::MAX
    /// (outside Lambda nothing reads them, so nothing counts).
    pub(crate) counters_fd: AtomicU64,
    /// The Lambda request id of the invocation in progress (empty between
    /// invocations), written by the root's Runtime API relay.
    pub(crate) request: SeqText,
    /// The identity of the snapshot of each recent generation, in slot
    /// `generation % RING`.
    pub(crate) published: [Published; RING],
    /// The identity of the counters memfd, written before `counters_fd`.
    pub(crate) counters_dev: AtomicU64,
    pub(crate) counters_ino: AtomicU64,
}

/// One generation's snapshot identity. `generation` is 0 while the slot
/// is rewritten.
#[repr(C)]
pub(crate) struct Published {
    pub(crate) generation: AtomicU64,
    pub(crate) dev: AtomicU64,
    pub(crate) ino: AtomicU64,
}

/// The root closes a snapshot one change after replacing it, so a reader
/// only ever needs the current generation's slot; four leave room for a
/// reader that is slow between loading the word and reading the slot.
pub(crate) const RING: usize = 4;

/// This process's mapping of the page: the root's own (writable), or a
/// child's read-only one (see `control::attach`); null until then.
pub(crate) static PAGE_PTR: AtomicPtr<Page> = AtomicPtr::new(std::ptr::null_mut());

pub(crate) fn page() -> Option<&'static Page> {
    // SAFETY: non-null only once mapped (never unmapped); the fields a
    // reader uses are the magic, the pid (written before publication) and
    // an atomic.
    unsafe { PAGE_PTR.load(Ordering::Acquire).as_ref() }
}

/// A `current` word: (generation, snapshot descriptor).
pub(crate) fn split(word: u64) -> (u32, c_int) {
    ((word >> 32) as u32, (word & 0xffff_ffff) as u32 as c_int)
}

/// The request id in progress, if any (any process under the root).
pub fn request(buf: &mut [u8; TEXT_MAX]) -> Option<&str> {
    let page = page()?;
    // A writer is mid-update only for a moment: try a few times.
    let len = (0..4).find_map(|_| page.request.load(buf))?;
    std::str::from_utf8(buf.get(..len)?).ok().filter(|s| !s.is_empty())
}
