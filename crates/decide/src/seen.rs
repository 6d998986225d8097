//! The set of activities already reported in profile mode, so each is
//! written once per process: a fixed table of 64-bit keys filled with
//! compare-and-swap (no allocation, no lock). When it is full, lines are
//! written again rather than lost.

use core::sync::atomic::{AtomicU64, Ordering};

pub const SLOTS: usize = 8192;
const PROBES: usize = 32;

pub struct Seen {
    keys: [AtomicU64; SLOTS],
}

impl Default for Seen {
    fn default() -> Self {
        Seen::new()
    }
}

impl Seen {
    pub const fn new() -> Seen {
        Seen { keys: [const { AtomicU64::new(0) }; SLOTS] }
    }

    /// True the first time `key` (non-zero) is seen, or when the table is
    /// too full to remember it.
    pub fn first_time(&self, key: u64) -> bool {
        let start = (key >> 17) as usize;
        for i in 0..PROBES {
            let Some(slot) = self.keys.get((start + i) % SLOTS) else { return true };
            match slot.compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(k) if k == key => return false,
                Err(_) => {}
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_key() {
        let s = Seen::new();
        assert!(s.first_time(42));
        assert!(!s.first_time(42));
        assert!(s.first_time(43));
        // Keys that collide on the start slot still get their own slots.
        let a = 5u64 << 17;
        let b = a + (SLOTS as u64) * (1 << 17);
        assert!(s.first_time(a) && s.first_time(b) && !s.first_time(a) && !s.first_time(b));
    }

    #[test]
    fn a_full_table_repeats_instead_of_dropping() {
        let s = Seen::new();
        let same_start = |i: u64| (7u64 << 17) + i * (SLOTS as u64) * (1 << 17);
        for i in 0..PROBES as u64 {
            assert!(s.first_time(same_start(i)));
        }
        assert!(s.first_time(same_start(PROBES as u64)));
        assert!(s.first_time(same_start(PROBES as u64)));
    }
}
