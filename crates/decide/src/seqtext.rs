//! A lock-free slot holding up to 256 bytes, written rarely and read by any
//! thread (including signal handlers and vfork children): a sequence lock
//! over atomic words, so a reader sees a whole value or retries, and a
//! writer that finds the slot busy gives up instead of waiting.

use core::sync::atomic::{AtomicU64, Ordering, fence};

/// The most bytes a slot keeps (longer values are cut).
pub const TEXT_MAX: usize = 256;
const WORDS: usize = TEXT_MAX / 8;

pub struct SeqText {
    seq: AtomicU64,
    len: AtomicU64,
    words: [AtomicU64; WORDS],
}

impl Default for SeqText {
    fn default() -> Self {
        SeqText::new()
    }
}

impl SeqText {
    pub const fn new() -> SeqText {
        SeqText { seq: AtomicU64::new(0), len: AtomicU64::new(0), words: [const { AtomicU64::new(0) }; WORDS] }
    }

    /// Starts a write; false when another writer holds the slot.
    pub fn begin(&self) -> Option<u64> {
        let s = self.seq.load(Ordering::Relaxed);
        if s & 1 == 1 {
            return None;
        }
        self.seq.compare_exchange(s, s + 1, Ordering::Acquire, Ordering::Relaxed).ok()?;
        Some(s)
    }

    /// Stores `text` (cut to [`TEXT_MAX`]); only between `begin` and `end`.
    pub fn store(&self, text: &[u8]) {
        let text = text.get(..TEXT_MAX).unwrap_or(text);
        for (i, word) in self.words.iter().enumerate() {
            let mut w = [0u8; 8];
            for (j, b) in w.iter_mut().enumerate() {
                *b = text.get(i * 8 + j).copied().unwrap_or(0);
            }
            word.store(u64::from_ne_bytes(w), Ordering::Relaxed);
        }
        self.len.store(text.len() as u64, Ordering::Relaxed);
    }

    pub fn end(&self, begun: u64) {
        self.seq.store(begun + 2, Ordering::Release);
    }

    /// Copies the text into `out` and returns its length, or `None` when a
    /// write was in progress (the caller may retry or go without).
    pub fn load(&self, out: &mut [u8; TEXT_MAX]) -> Option<usize> {
        let s1 = self.seq.load(Ordering::Acquire);
        if s1 & 1 == 1 {
            return None;
        }
        let len = (self.len.load(Ordering::Relaxed) as usize).min(TEXT_MAX);
        for (chunk, word) in out.chunks_mut(8).zip(self.words.iter()) {
            chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
        }
        fence(Ordering::Acquire);
        (self.seq.load(Ordering::Relaxed) == s1).then_some(len)
    }
}
