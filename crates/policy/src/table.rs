//! A build-once, query-many hash table from byte strings to `u32`, and the
//! key hash the path index shares with it.
//!
//! Hand-written rather than `std::collections::HashMap` because the path
//! index must look up every prefix of a path with a hash computed
//! incrementally, in one pass over the path (hashbrown's raw-entry API for
//! precomputed hashes is not stable), and because a flat layout (one key
//! arena, `u32` slots) keeps a 100k-rule policy small.

use crate::snapshot::{Reader, Record, SnapshotError, Writer, bytes_error, bytes_ok, pair};

/// The hash state before any byte.
pub(crate) const SEED: u64 = 0x243f_6a88_85a3_08d3;
const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// One step of the key hash: takes in one 8-byte word.
#[inline(always)]
pub(crate) fn hash_step(h: u64, word: u64) -> u64 {
    (h.rotate_left(23) ^ word).wrapping_mul(K)
}

/// The hash of a key of `len` bytes, from the state after its whole 8-byte
/// words (`h`) and its last `len % 8` bytes as a little-endian word
/// (`partial`, zero when there are none).
#[inline(always)]
pub(crate) fn hash_finish(h: u64, partial: u64, len: usize) -> u64 {
    hash_step(hash_step(h, partial), len as u64)
}

/// The last `bytes.len() % 8` bytes of `bytes` as a little-endian word
/// (zero when there are none).
#[inline]
pub(crate) fn tail_word(bytes: &[u8]) -> u64 {
    let r = bytes.len() % 8;
    if r == 0 {
        return 0;
    }
    match bytes.last_chunk::<8>() {
        // The last 8 bytes, shifted so only the last `r` remain.
        Some(last) => u64::from_le_bytes(*last) >> (64 - 8 * r),
        None => bytes.iter().rev().fold(0, |w, &b| (w << 8) | u64::from(b)),
    }
}

/// The hash of a key: its bytes as little-endian 8-byte words (the last one
/// zero-padded), then its length. A path query computes the hash of every
/// prefix of the path from one pass over the path's words (see
/// `GlobIndex::walk`); names and API keys are hashed whole.
pub(crate) fn hash_bytes(key: &[u8]) -> u64 {
    let (words, _) = key.as_chunks::<8>();
    let h = words.iter().fold(SEED, |h, w| hash_step(h, u64::from_le_bytes(*w)));
    hash_finish(h, tail_word(key), key.len())
}

/// Byte strings in one arena (no allocation per string): per string, its
/// offset and length.
#[derive(Clone, Debug, Default)]
pub(crate) struct ByteStrings {
    spans: Box<[(u32, u32)]>,
    arena: Box<[u8]>,
}

impl ByteStrings {
    pub(crate) fn build<'k>(items: impl Iterator<Item = &'k [u8]> + Clone) -> ByteStrings {
        // Exact capacities: `into_boxed_slice` does not copy.
        let mut spans = Vec::with_capacity(items.clone().count());
        let mut arena = Vec::with_capacity(items.clone().map(<[u8]>::len).sum());
        for item in items {
            spans.push((arena.len() as u32, item.len() as u32));
            arena.extend_from_slice(item);
        }
        ByteStrings { spans: spans.into_boxed_slice(), arena: arena.into_boxed_slice() }
    }

    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&[u8]> {
        let &(off, len) = self.spans.get(i)?;
        self.arena.get(off as usize..off as usize + len as usize)
    }

    /// The strings `first..end` (none when the span is out of range).
    pub(crate) fn range(&self, first: u32, end: u32) -> impl Iterator<Item = &[u8]> {
        let spans = self.spans.get(first as usize..end as usize).unwrap_or(&[]);
        spans.iter().filter_map(|&(off, len)| self.arena.get(off as usize..off as usize + len as usize))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.range(0, self.spans.len() as u32)
    }

    pub(crate) fn write_snapshot(&self, w: &mut Writer) {
        w.bytes(&self.arena);
        w.array(&self.spans, |&(off, len)| Record::<8>::new().u32(off).u32(len).done());
    }

    /// Reads strings written by [`ByteStrings::write_snapshot`], each within
    /// the arena.
    pub(crate) fn read_snapshot(r: &mut Reader<'_>, what: &str) -> Result<ByteStrings, SnapshotError> {
        let arena = r.bytes(what)?;
        let n = arena.len();
        let spans = r.array(
            what,
            pair,
            |rec| {
                let (off, len) = pair(rec);
                bytes_ok(off, len, n)
            },
            |rec| {
                let (off, len) = pair(rec);
                bytes_error(off, len, n)
            },
        )?;
        Ok(ByteStrings { spans, arena })
    }
}

/// A set of distinct byte strings; a lookup answers with the key's index
/// in build order, so callers keep their values in a parallel array.
#[derive(Clone, Debug, Default)]
pub(crate) struct BytesTable {
    /// 0 = empty, else 1 + index into `keys`.
    slots: Box<[u32]>,
    keys: ByteStrings,
    shift: u32,
}

impl BytesTable {
    /// Builds the table from (hash, key) pairs; keys must be distinct.
    pub(crate) fn build<'k>(entries: impl ExactSizeIterator<Item = (u64, &'k [u8])> + Clone) -> BytesTable {
        if entries.len() == 0 {
            return BytesTable::default();
        }
        let cap = capacity_for(entries.len());
        let shift = 64 - cap.trailing_zeros();
        let mut slots = vec![0u32; cap].into_boxed_slice();
        for (i, (hash, _)) in entries.clone().enumerate() {
            let mut slot = slot_of(hash, shift);
            while slots[slot] != 0 {
                slot = (slot + 1) & (cap - 1);
            }
            slots[slot] = i as u32 + 1;
        }
        BytesTable { slots, keys: ByteStrings::build(entries.map(|(_, k)| k)), shift }
    }

    /// The index of `key`, given `hash` computed the way the table was built.
    #[inline]
    pub(crate) fn get(&self, hash: u64, key: &[u8]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut slot = slot_of(hash, self.shift);
        loop {
            let idx = *self.slots.get(slot)?;
            if idx == 0 {
                return None;
            }
            if self.keys.get(idx as usize - 1) == Some(key) {
                return Some(idx - 1);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// False when no key can have this hash (its first slot is empty): the
    /// cheap check a caller can make inline before a full [`get`].
    ///
    /// [`get`]: BytesTable::get
    #[inline(always)]
    pub(crate) fn may_hold(&self, hash: u64) -> bool {
        self.slots.get(slot_of(hash, self.shift)).is_some_and(|&idx| idx != 0)
    }

    /// How many keys the table holds.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn write_snapshot(&self, w: &mut Writer) {
        self.keys.write_snapshot(w);
        w.u32s(&self.slots);
    }

    /// Reads a table written by [`BytesTable::write_snapshot`], checking
    /// what `get` relies on: keys within the arena, slot values naming keys,
    /// the slot count `build` gives for this many keys (a power of two, so
    /// the probe mask works), and as many occupied slots as keys, so at
    /// least half the slots are empty and every probe ends.
    pub(crate) fn read_snapshot(r: &mut Reader<'_>, what: &str) -> Result<BytesTable, SnapshotError> {
        let keys = ByteStrings::read_snapshot(r, what)?;
        let n = keys.len();
        let slots = r.u32s(what, |slot| slot as usize <= n, |slot| format!("slot names key {slot} of {n}"))?;
        let used = slots.iter().filter(|&&slot| slot != 0).count();
        let cap = capacity_for(n);
        if slots.len() != cap || used != n {
            return Err(r.fail(format_args!(
                "{what}: {n} keys in {used} of {} slots (expected all of them in {cap} slots)",
                slots.len()
            )));
        }
        // The multiply-shift in `slot_of` indexes `cap` slots.
        let shift = if cap == 0 { 0 } else { 64 - cap.trailing_zeros() };
        Ok(BytesTable { slots, keys, shift })
    }
}

/// The slot count for `n` keys: a load factor ≤ 1/2 keeps probe sequences
/// short (and guarantees the empty slot every miss stops at).
fn capacity_for(n: usize) -> usize {
    if n == 0 { 0 } else { n.saturating_mul(2).next_power_of_two().max(8) }
}

#[inline]
fn slot_of(hash: u64, shift: u32) -> usize {
    // The multiply spreads low-entropy hashes; the top bits index the table.
    (hash.wrapping_mul(0xff51_afd7_ed55_8ccd) >> shift) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_key_and_nothing_else() {
        let keys: Vec<Vec<u8>> = (0..1000).map(|i| format!("/srv/app{i}/lib").into_bytes()).collect();
        let t = BytesTable::build(keys.iter().map(|k| (hash_bytes(k), k.as_slice())));
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(t.get(hash_bytes(k), k), Some(i as u32));
        }
        assert_eq!(t.get(hash_bytes(b"/srv/app1000/lib"), b"/srv/app1000/lib"), None);
        // Same hash, different key: the bytes decide.
        assert_eq!(t.get(hash_bytes(b"/srv/app1/lib"), b"/srv/app2/lib"), None);
        assert_eq!(BytesTable::default().get(SEED, b""), None);
        let empty: [(u64, &[u8]); 0] = [];
        assert_eq!(BytesTable::build(empty.into_iter()).get(SEED, b""), None);
    }

    #[test]
    fn hash_of_every_prefix_from_the_words() {
        let key = b"/var/task/lib/python3.12/x";
        let (words, _) = key.as_chunks::<8>();
        for len in 0..=key.len() {
            let whole = words.iter().take(len / 8).fold(SEED, |h, w| hash_step(h, u64::from_le_bytes(*w)));
            let prefix = &key[..len];
            let mask = if len % 8 == 0 { 0 } else { u64::MAX >> (64 - 8 * (len % 8)) };
            let word = words.get(len / 8).map_or(tail_word(key), |w| u64::from_le_bytes(*w));
            assert_eq!(hash_finish(whole, word & mask, len), hash_bytes(prefix), "{len}");
            assert_eq!(tail_word(prefix) & !mask, 0);
        }
        assert_eq!(tail_word(b"abc"), 0x63_62_61);
        assert_eq!(tail_word(b"abcdefghij"), 0x6a_69);
        assert_ne!(hash_bytes(b""), hash_bytes(b"\0"));
        assert_ne!(hash_bytes(b"/ab/c"), hash_bytes(b"/a/bc"));
    }
}
