//! A build-once, query-many hash table from byte strings to `u32`, and the
//! segment hash the path index shares with it.
//!
//! Hand-written rather than `std::collections::HashMap` because the path
//! index must look up every prefix of a path with a hash computed
//! incrementally, one segment at a time (hashbrown's raw-entry API for
//! precomputed hashes is not stable), and because a flat layout (one key
//! arena, `u32` slots) keeps a 100k-rule policy small.

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

/// A set of distinct byte strings; a lookup answers with the key's index
/// in build order, so callers keep their values in a parallel array.
#[derive(Clone, Debug, Default)]
pub(crate) struct BytesTable {
    /// 0 = empty, else 1 + index into `keys`.
    slots: Box<[u32]>,
    /// Per key: offset and length in `arena`.
    keys: Box<[(u32, u32)]>,
    arena: Box<[u8]>,
    shift: u32,
}

impl BytesTable {
    /// Builds the table from (hash, key) pairs; keys must be distinct.
    pub(crate) fn build<'k>(entries: impl ExactSizeIterator<Item = (u64, &'k [u8])> + Clone) -> BytesTable {
        if entries.len() == 0 {
            return BytesTable::default();
        }
        // Load factor ≤ 1/2 keeps probe sequences short.
        let cap = (entries.len() * 2).next_power_of_two().max(8);
        let shift = 64 - cap.trailing_zeros();
        let mut slots = vec![0u32; cap].into_boxed_slice();
        let mut keys = Vec::with_capacity(entries.len());
        let mut arena = Vec::with_capacity(entries.clone().map(|(_, k)| k.len()).sum());
        for (i, (hash, key)) in entries.enumerate() {
            let mut slot = slot_of(hash, shift);
            while slots[slot] != 0 {
                slot = (slot + 1) & (cap - 1);
            }
            slots[slot] = i as u32 + 1;
            keys.push((arena.len() as u32, key.len() as u32));
            arena.extend_from_slice(key);
        }
        BytesTable { slots, keys: keys.into_boxed_slice(), arena: arena.into_boxed_slice(), shift }
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
            let &(off, len) = self.keys.get(idx as usize - 1)?;
            if self.arena.get(off as usize..off as usize + len as usize) == Some(key) {
                return Some(idx - 1);
            }
            slot = (slot + 1) & mask;
        }
    }
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
