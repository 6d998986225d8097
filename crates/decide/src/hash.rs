//! A small, fast, non-cryptographic hash for de-duplication keys.
//!
//! FNV-1a: a few instructions a byte, no state, no allocation; the keys it
//! makes only decide whether a line is written again, so a collision costs
//! one missing duplicate line, never a wrong decision.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// Hashes several byte strings as one key (each followed by a separator).
pub fn key(parts: &[&[u8]]) -> u64 {
    let mut h = OFFSET;
    for part in parts {
        for &b in *part {
            h = (h ^ u64::from(b)).wrapping_mul(PRIME);
        }
        h = (h ^ 0xff).wrapping_mul(PRIME);
    }
    // 0 marks an empty slot in the tables.
    if h == 0 { 1 } else { h }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_separated() {
        assert_ne!(key(&[b"ab", b"c"]), key(&[b"a", b"bc"]));
        assert_eq!(key(&[b"x"]), key(&[b"x"]));
        assert_ne!(key(&[]), 0);
    }
}
