//! Alert lines rate-limited per (category, target): the first alert for a
//! target in a window is written; the rest are counted, and the count is
//! written as a `status` line when the next window opens (or at exit) —
//! never silently dropped. Fixed size, lock free.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::seqtext::{SeqText, TEXT_MAX};

pub const SLOTS: usize = 1024;
const PROBES: usize = 16;
/// Seconds between alert lines for one target.
pub const WINDOW_SECS: u64 = 60;

struct Slot {
    key: AtomicU64,
    /// When the current window opened (seconds; 0 = never).
    opened: AtomicU64,
    suppressed: AtomicU64,
    /// The category byte and target, for the summary written at exit.
    label: SeqText,
}

pub struct RateLimit {
    slots: [Slot; SLOTS],
    /// Whether any alert was ever held back: [`RateLimit::drain`] at exit
    /// then walks the table; otherwise it touches none of its pages.
    held: AtomicU64,
}

/// What to do with one alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alert {
    /// Write it; `suppressed` alerts for the same target were held back
    /// in the window before (write a summary for them first when non-zero).
    Write { suppressed: u64 },
    /// Hold it back (counted).
    Suppress,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new()
    }
}

impl RateLimit {
    pub const fn new() -> RateLimit {
        RateLimit {
            slots: [const {
                Slot {
                    key: AtomicU64::new(0),
                    opened: AtomicU64::new(0),
                    suppressed: AtomicU64::new(0),
                    label: SeqText::new(),
                }
            }; SLOTS],
            held: AtomicU64::new(0),
        }
    }

    /// Decides on an alert for `key` (non-zero) at `now_secs`; `label` is
    /// stored with a new key for [`RateLimit::drain`].
    pub fn alert(&self, key: u64, label: &[u8], now_secs: u64) -> Alert {
        let Some(slot) = self.claim(key, label) else {
            return Alert::Write { suppressed: 0 };
        };
        let opened = slot.opened.load(Ordering::Acquire);
        if opened == 0 || now_secs >= opened.saturating_add(WINDOW_SECS) || now_secs < opened {
            let new = now_secs.max(1);
            if slot.opened.compare_exchange(opened, new, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                return Alert::Write { suppressed: slot.suppressed.swap(0, Ordering::AcqRel) };
            }
        }
        slot.suppressed.fetch_add(1, Ordering::AcqRel);
        self.held.store(1, Ordering::Release);
        Alert::Suppress
    }

    fn claim(&self, key: u64, label: &[u8]) -> Option<&Slot> {
        let start = (key >> 23) as usize;
        for i in 0..PROBES {
            let slot = self.slots.get((start + i) % SLOTS)?;
            match slot.key.compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    if let Some(b) = slot.label.begin() {
                        slot.label.store(label);
                        slot.label.end(b);
                    }
                    return Some(slot);
                }
                Err(k) if k == key => return Some(slot),
                Err(_) => {}
            }
        }
        None
    }

    /// Takes every pending suppressed count, with its label, for the
    /// summaries written at exit.
    pub fn drain(&self, mut each: impl FnMut(&[u8], u64)) {
        if self.held.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut buf = [0u8; TEXT_MAX];
        for slot in &self.slots {
            if slot.key.load(Ordering::Acquire) == 0 {
                continue;
            }
            let n = slot.suppressed.swap(0, Ordering::AcqRel);
            if n > 0 {
                let len = slot.label.load(&mut buf).unwrap_or(0);
                each(buf.get(..len).unwrap_or(&[]), n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn one_line_per_window_and_counts_the_rest() {
        let r = RateLimit::new();
        assert_eq!(r.alert(9, b"f/etc/x", 1000), Alert::Write { suppressed: 0 });
        assert_eq!(r.alert(9, b"f/etc/x", 1001), Alert::Suppress);
        assert_eq!(r.alert(9, b"f/etc/x", 1059), Alert::Suppress);
        assert_eq!(r.alert(10, b"f/etc/y", 1059), Alert::Write { suppressed: 0 });
        assert_eq!(r.alert(9, b"f/etc/x", 1060), Alert::Write { suppressed: 2 });
        assert_eq!(r.alert(9, b"f/etc/x", 1061), Alert::Suppress);
        let mut pending = Vec::new();
        r.drain(|label, n| pending.push((label.to_vec(), n)));
        assert_eq!(pending, [(b"f/etc/x".to_vec(), 1)]);
        let mut again = Vec::new();
        r.drain(|label, n| again.push((label.to_vec(), n)));
        assert!(again.is_empty());
    }
}
