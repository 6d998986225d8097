//! The IP → DNS name table that lets `*.amazonaws.com:443`-style rules
//! match a `connect` to an IP: the `getaddrinfo` hook records each answer,
//! the `connect` hook looks the peer up. Fixed size (no allocation), lock
//! free (hooks may run in signal handlers and vfork children); the newest
//! answer for a slot wins, so a busy process forgets old names rather than
//! growing.

use core::net::IpAddr;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::seqtext::{SeqText, TEXT_MAX};

/// Slots in the table: a few hundred distinct peers cover a function.
pub const SLOTS: usize = 512;

struct Slot {
    /// The IP (as IPv6; IPv4 mapped) in two words, and the name; both
    /// under the text's sequence lock.
    hi: AtomicU64,
    lo: AtomicU64,
    name: SeqText,
}

pub struct NameTable {
    slots: [Slot; SLOTS],
}

impl Default for NameTable {
    fn default() -> Self {
        NameTable::new()
    }
}

fn words(ip: IpAddr) -> (u64, u64) {
    let v6 = match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    let b = v6.octets();
    let mut hi = [0u8; 8];
    let mut lo = [0u8; 8];
    hi.copy_from_slice(b.get(..8).unwrap_or(&[0; 8]));
    lo.copy_from_slice(b.get(8..).unwrap_or(&[0; 8]));
    (u64::from_ne_bytes(hi), u64::from_ne_bytes(lo))
}

fn slot_of(hi: u64, lo: u64) -> usize {
    let h = (hi ^ lo.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 40) as usize % SLOTS
}

impl NameTable {
    pub const fn new() -> NameTable {
        NameTable {
            slots: [const { Slot { hi: AtomicU64::new(0), lo: AtomicU64::new(0), name: SeqText::new() } }; SLOTS],
        }
    }

    /// Records that `name` resolved to `ip`. Skipped (harmlessly) when
    /// another thread is writing the same slot.
    pub fn insert(&self, ip: IpAddr, name: &[u8]) {
        if name.is_empty() || name.len() > TEXT_MAX {
            return;
        }
        let (hi, lo) = words(ip);
        let Some(slot) = self.slots.get(slot_of(hi, lo)) else { return };
        let Some(begun) = slot.name.begin() else { return };
        slot.hi.store(hi, Ordering::Relaxed);
        slot.lo.store(lo, Ordering::Relaxed);
        slot.name.store(name);
        slot.name.end(begun);
    }

    /// The name `ip` was last resolved from, copied into `out`.
    pub fn lookup<'a>(&self, ip: IpAddr, out: &'a mut [u8; TEXT_MAX]) -> Option<&'a [u8]> {
        let (hi, lo) = words(ip);
        let slot = self.slots.get(slot_of(hi, lo))?;
        for _ in 0..4 {
            // The IP words are checked after the text's sequence is read
            // and before it is re-checked, inside the same read section.
            let Some(len) = slot.name.load(out) else { continue };
            if len == 0 || slot.hi.load(Ordering::Relaxed) != hi || slot.lo.load(Ordering::Relaxed) != lo {
                return None;
            }
            let mut check = [0u8; TEXT_MAX];
            // A write between the two reads would change the sequence.
            if slot.name.load(&mut check) != Some(len) || check.get(..len) != out.get(..len) {
                continue;
            }
            return out.get(..len);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_and_lookup() {
        let t = NameTable::new();
        let mut buf = [0u8; TEXT_MAX];
        let ip: IpAddr = "52.94.1.2".parse().unwrap();
        assert_eq!(t.lookup(ip, &mut buf), None);
        t.insert(ip, b"dynamodb.eu-west-1.amazonaws.com");
        assert_eq!(t.lookup(ip, &mut buf), Some(&b"dynamodb.eu-west-1.amazonaws.com"[..]));
        // The mapped form is the same peer.
        let mapped: IpAddr = "::ffff:52.94.1.2".parse().unwrap();
        assert_eq!(t.lookup(mapped, &mut buf), Some(&b"dynamodb.eu-west-1.amazonaws.com"[..]));
        t.insert(ip, b"sts.amazonaws.com");
        assert_eq!(t.lookup(ip, &mut buf), Some(&b"sts.amazonaws.com"[..]));
        assert_eq!(t.lookup("52.94.1.3".parse().unwrap(), &mut buf), None);
        let v6: IpAddr = "2600:1f18::1".parse().unwrap();
        t.insert(v6, b"s3.dualstack.us-east-1.amazonaws.com");
        assert_eq!(t.lookup(v6, &mut buf), Some(&b"s3.dualstack.us-east-1.amazonaws.com"[..]));
    }

    #[test]
    fn concurrent_readers_never_see_torn_names() {
        let t = std::sync::Arc::new(NameTable::new());
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let names: [&[u8]; 2] = [&[b'a'; 200], &[b'b'; 17]];
        let w = {
            let t = t.clone();
            std::thread::spawn(move || {
                for i in 0..20000 {
                    t.insert(ip, names[i % 2]);
                }
            })
        };
        let mut buf = [0u8; TEXT_MAX];
        for _ in 0..20000 {
            if let Some(n) = t.lookup(ip, &mut buf) {
                assert!(n == names[0] || n == names[1], "torn: {n:?}");
            }
        }
        w.join().unwrap();
    }
}
