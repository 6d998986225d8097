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

/// The longest name looked up absolutely (a DNS name has at most 253
/// characters; longer ones are looked up as given and never recorded).
pub const NAME_MAX: usize = 253;

/// How `getaddrinfo(node)` is performed so that the IP → name table only
/// ever learns answers that are really for `node`.
///
/// The resolver can answer for another name than the one asked: through
/// its search list (`LOCALDOMAIN`, `RES_OPTIONS=ndots:N`, resolv.conf's
/// `search`) and `HOSTALIASES`, which the function's code can set at run
/// time. An absolute name (`name.`) uses neither, so its answers are for
/// `name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameLookup {
    /// An address, an empty or over-long name: looked up as given,
    /// nothing recorded.
    NotAName,
    /// A name with a dot: looked up as the absolute name written to the
    /// buffer (this many bytes, with the final `.` and a NUL), its answers
    /// recorded for [`record_as`]. (The hooks first ask the hosts file,
    /// whose entries do not match `name.`: a name it lists is looked up as
    /// given and what it lists recorded. If the absolute name finds
    /// nothing, the caller's form is looked up and nothing recorded: only
    /// the search list can have answered.)
    Absolute(usize),
    /// A single label (`localhost`): the search list and aliases apply to
    /// it whatever its form, so it is looked up as given and only what the
    /// hosts file lists for it is recorded.
    HostsOnly,
}

/// The plan for `node`; an absolute form is written to `out`.
pub fn plan_lookup(node: &[u8], numeric_only: bool, out: &mut [u8; NAME_MAX + 2]) -> NameLookup {
    let name = record_as(node);
    if numeric_only || name.is_empty() || name.len() > NAME_MAX || is_address(name) {
        return NameLookup::NotAName;
    }
    if !name.contains(&b'.') {
        return NameLookup::HostsOnly;
    }
    let n = name.len();
    match out.get_mut(..n + 2) {
        Some(dst) => {
            let (body, tail) = dst.split_at_mut(n);
            body.copy_from_slice(name);
            tail.copy_from_slice(b".\0");
            NameLookup::Absolute(n + 2)
        }
        None => NameLookup::NotAName,
    }
}

/// The name answers for `node` are recorded as: without the final dot of
/// an absolute spelling (rules name `host`, not `host.`).
pub fn record_as(node: &[u8]) -> &[u8] {
    node.strip_suffix(b".").unwrap_or(node)
}

fn is_address(name: &[u8]) -> bool {
    core::str::from_utf8(name).is_ok_and(|s| s.parse::<IpAddr>().is_ok())
}

/// Whether the hosts file text `hosts` (`/etc/hosts` format: an address,
/// then names; `#` comments) gives `ip` for `name` (names compare without
/// regard to case, as the resolver compares them).
pub fn hosts_lists(hosts: &[u8], name: &[u8], ip: IpAddr) -> bool {
    hosts_entries(hosts).any(|(addr, mut names)| {
        addr.is_some_and(|a| a.to_canonical() == ip.to_canonical()) && names.any(|n| n.eq_ignore_ascii_case(name))
    })
}

/// Whether the hosts file text `hosts` lists `name` at all: then the
/// resolver's first source (files) answers for it, as written.
pub fn hosts_names(hosts: &[u8], name: &[u8]) -> bool {
    hosts_entries(hosts).any(|(addr, mut names)| addr.is_some() && names.any(|n| n.eq_ignore_ascii_case(name)))
}

/// The entries of a hosts file: each line's address (if it is one) and
/// its names.
fn hosts_entries(hosts: &[u8]) -> impl Iterator<Item = (Option<IpAddr>, impl Iterator<Item = &[u8]>)> {
    hosts.split(|&b| b == b'\n').map(|line| {
        let line = line.split(|&b| b == b'#').next().unwrap_or(&[]);
        let mut fields = line.split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty());
        let addr = fields.next().and_then(|a| core::str::from_utf8(a).ok()).and_then(|a| a.parse::<IpAddr>().ok());
        (addr, fields)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_planned_so_answers_are_for_the_name() {
        let mut buf = [0u8; NAME_MAX + 2];
        assert_eq!(plan_lookup(b"good.test", false, &mut buf), NameLookup::Absolute(11));
        assert_eq!(&buf[..11], b"good.test.\0");
        assert_eq!(plan_lookup(b"good.test.", false, &mut buf), NameLookup::Absolute(11));
        assert_eq!(record_as(b"good.test."), b"good.test");
        assert_eq!(plan_lookup(b"localhost", false, &mut buf), NameLookup::HostsOnly);
        for not_a_name in [&b"127.0.0.1"[..], b"::1", b"", b"."] {
            assert_eq!(plan_lookup(not_a_name, false, &mut buf), NameLookup::NotAName, "{not_a_name:?}");
        }
        assert_eq!(plan_lookup(b"a.b", true, &mut buf), NameLookup::NotAName);
        assert_eq!(plan_lookup(&[b'a'; NAME_MAX + 1], false, &mut buf), NameLookup::NotAName);
        let mut long = [b'a'; NAME_MAX];
        long[1] = b'.';
        assert_eq!(plan_lookup(&long, false, &mut buf), NameLookup::Absolute(NAME_MAX + 2));
    }

    #[test]
    fn hosts_file_entries() {
        let hosts = b"# comment 10.0.0.1 fake\n127.0.0.1\tlocalhost  vm # db\n::1 localhost ip6-localhost\n10.0.0.9 db.internal DB\n";
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(hosts_lists(hosts, b"localhost", ip("127.0.0.1")));
        assert!(hosts_lists(hosts, b"vm", ip("127.0.0.1")));
        assert!(hosts_lists(hosts, b"localhost", ip("::1")));
        assert!(hosts_lists(hosts, b"db", ip("10.0.0.9")));
        assert!(hosts_lists(hosts, b"localhost", ip("::ffff:127.0.0.1")));
        assert!(!hosts_lists(hosts, b"localhost", ip("127.0.0.2")));
        assert!(!hosts_lists(hosts, b"fake", ip("10.0.0.1")));
        assert!(!hosts_lists(hosts, b"db", ip("127.0.0.1")));
        assert!(!hosts_lists(b"", b"localhost", ip("127.0.0.1")));
        assert!(hosts_names(hosts, b"db.internal") && hosts_names(hosts, b"ip6-localhost"));
        assert!(!hosts_names(hosts, b"fake") && !hosts_names(hosts, b"10.0.0.9") && !hosts_names(b"", b"vm"));
    }

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
