//! A build-once, query-many hash table from byte strings to `u32`, and the
//! segment hash the path index shares with it.
//!
//! Hand-written rather than `std::collections::HashMap` because the path
//! index must look up every prefix of a path with a hash computed
//! incrementally, one segment at a time (hashbrown's raw-entry API for
//! precomputed hashes is not stable), and because a flat layout (one key
//! arena, `u32` slots) keeps a 100k-rule policy small.

use crate::snapshot::{Reader, Record, SnapshotError, Writer, bytes_error, bytes_ok, pair};

/// Hash of the empty key (and of the root prefix of a path).
pub(crate) const SEED: u64 = 0x243f_6a88_85a3_08d3;
const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// Extends `h` by one segment. The segment's length is mixed in, so
/// `"ab"`,`"c"` and `"a"`,`"bc"` hash differently.
#[inline]
pub(crate) fn hash_segment(h: u64, seg: &[u8]) -> u64 {
    let mut h = (h ^ seg.len() as u64).wrapping_mul(K);
    let mut chunks = seg.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut w = [0u8; 8];
        w[..tail.len()].copy_from_slice(tail);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    h
}

/// The hash of a `/`-separated key (`/var/task`, or a DNS name as one
/// segment), equal to folding [`hash_segment`] over its segments.
pub(crate) fn hash_path(key: &[u8]) -> u64 {
    key.split(|&b| b == b'/').filter(|s| !s.is_empty()).fold(SEED, hash_segment)
}

pub(crate) fn hash_name(key: &[u8]) -> u64 {
    hash_segment(SEED, key)
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
        let t = BytesTable::build(keys.iter().map(|k| (hash_path(k), k.as_slice())));
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(t.get(hash_path(k), k), Some(i as u32));
        }
        assert_eq!(t.get(hash_path(b"/srv/app1000/lib"), b"/srv/app1000/lib"), None);
        // Same hash, different key: the bytes decide.
        assert_eq!(t.get(hash_path(b"/srv/app1/lib"), b"/srv/app2/lib"), None);
        assert_eq!(BytesTable::default().get(SEED, b""), None);
        let empty: [(u64, &[u8]); 0] = [];
        assert_eq!(BytesTable::build(empty.into_iter()).get(SEED, b""), None);
    }

    #[test]
    fn path_hash_is_segment_fold() {
        let h = hash_segment(hash_segment(SEED, b"var"), b"task");
        assert_eq!(hash_path(b"/var/task"), h);
        assert_eq!(hash_path(b""), SEED);
        assert_ne!(hash_path(b"/ab/c"), hash_path(b"/a/bc"));
    }
}
