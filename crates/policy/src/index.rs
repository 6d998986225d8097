//! The compiled indexes behind [`crate::Matcher`], one per kind of rule.
//! Built once from a [`crate::Policy`]; every query reads them in place
//! with stack buffers only.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use crate::glob::{Glob, GlobSeg, SegRef, match_segments, match_wild, next_segment, root_as_empty};
use crate::path::{PATH_MAX, is_normalized, normalize_path};
use crate::rule::{HostPattern, PortRange, canonical_ip, v4_mask, v6_mask};
use crate::table::{BytesTable, SEED, hash_name, hash_path, hash_segment};
use crate::types::{Access, Proto};

/// Runs `f` on the normalised form of `path`, copying into a stack buffer
/// only when the path is not normalised already. Relative and over-long
/// paths get `false`: no rule can allow what cannot be named absolutely.
#[inline]
pub(crate) fn with_normalized(path: &[u8], f: impl FnOnce(&[u8]) -> bool) -> bool {
    if path.len() <= PATH_MAX && is_normalized(path) {
        return f(path);
    }
    let mut buf = [0u8; PATH_MAX];
    match normalize_path(path, &mut buf) {
        Some(n) => buf.get(..n).is_some_and(f),
        None => false,
    }
}

/// How one compiled segment is stored: kind and a span of the arena.
#[derive(Clone, Copy, Debug)]
struct Seg {
    kind: u8,
    off: u32,
    len: u32,
}

const LITERAL: u8 = 0;
const WILD: u8 = 1;
const ANY_DEPTH: u8 = 2;

/// What a glob still has to match after its literal prefix.
#[derive(Clone, Copy, Debug)]
struct Tail {
    access: Access,
    first: u32,
    end: u32,
}

/// All rules sharing one literal prefix (`/var/task` for `/var/task/**`
/// and `/var/task/*.py`; the whole path for a literal rule).
#[derive(Clone, Copy, Debug)]
struct Entry {
    exact: Access,
    first_tail: u32,
    end_tail: u32,
}

/// Globs indexed by their literal prefix. A query walks the path once,
/// hashing it segment by segment; at each depth where some prefix exists
/// it looks the prefix up and tries only that prefix's remaining
/// patterns. Cost: one hash pass plus one probe per populated depth,
/// independent of the number of rules for typical policies.
#[derive(Clone, Debug, Default)]
pub(crate) struct GlobIndex {
    prefixes: BytesTable,
    entries: Box<[Entry]>,
    tails: Box<[Tail]>,
    segs: Box<[Seg]>,
    arena: Box<[u8]>,
    /// Bit d set when some prefix has d segments (d ≥ 63 share bit 63).
    depths: u64,
}

impl GlobIndex {
    pub(crate) fn build<'a>(rules: impl IntoIterator<Item = (Access, &'a Glob)>) -> GlobIndex {
        // (literal prefix, access, what follows the prefix), grouped by
        // prefix with a sort: no per-rule allocation, so a 100k-rule policy
        // compiles in little more memory than the result.
        let mut rules: Vec<(&'a [u8], Access, &'a [GlobSeg])> = rules
            .into_iter()
            .map(|(access, glob)| {
                let (prefix, n_lit) = glob.literal_prefix();
                (prefix, access, glob.segments().get(n_lit..).unwrap_or(&[]))
            })
            .collect();
        rules.sort_unstable_by(|a, b| a.0.cmp(b.0));
        // Exact capacities: no reallocation doubles the peak, and
        // `into_boxed_slice` below does not copy.
        let n_prefixes = rules.iter().enumerate().filter(|(i, r)| *i == 0 || rules[i - 1].0 != r.0).count();
        let with_tail = rules.iter().filter(|r| !r.2.is_empty());
        let n_tails = with_tail.clone().count();
        let n_segs = with_tail.clone().map(|r| r.2.len()).sum();
        let n_bytes = with_tail
            .flat_map(|r| r.2)
            .map(|s| match s {
                GlobSeg::Literal(b) | GlobSeg::Wild(b) => b.len(),
                GlobSeg::AnyDepth => 0,
            })
            .sum();
        let mut depths = 0u64;
        let mut prefixes: Vec<&[u8]> = Vec::with_capacity(n_prefixes);
        let mut entries: Vec<Entry> = Vec::with_capacity(n_prefixes);
        let mut tails = Vec::with_capacity(n_tails);
        let mut segs = Vec::with_capacity(n_segs);
        let mut arena = Vec::with_capacity(n_bytes);
        for (prefix, access, tail) in rules {
            if prefixes.last() != Some(&prefix) {
                let n_segs = prefix.iter().filter(|b| **b == b'/').count();
                depths |= 1 << n_segs.min(63);
                prefixes.push(prefix);
                let first = tails.len() as u32;
                entries.push(Entry { exact: Access::NONE, first_tail: first, end_tail: first });
            }
            let Some(entry) = entries.last_mut() else { continue };
            if tail.is_empty() {
                entry.exact = entry.exact.union(access);
                continue;
            }
            let first = segs.len() as u32;
            for s in tail {
                let (kind, bytes): (u8, &[u8]) = match s {
                    GlobSeg::Literal(l) => (LITERAL, l),
                    GlobSeg::Wild(w) => (WILD, w),
                    GlobSeg::AnyDepth => (ANY_DEPTH, &[]),
                };
                segs.push(Seg { kind, off: arena.len() as u32, len: bytes.len() as u32 });
                arena.extend_from_slice(bytes);
            }
            tails.push(Tail { access, first, end: segs.len() as u32 });
            entry.end_tail = tails.len() as u32;
        }
        GlobIndex {
            prefixes: BytesTable::build(prefixes.iter().map(|p| (hash_path(p), *p))),
            entries: entries.into_boxed_slice(),
            tails: tails.into_boxed_slice(),
            segs: segs.into_boxed_slice(),
            arena: arena.into_boxed_slice(),
            depths,
        }
    }

    fn seg(&self, tail: &Tail, i: usize) -> Option<SegRef<'_>> {
        let idx = (tail.first as usize).checked_add(i)?;
        if idx >= tail.end as usize {
            return None;
        }
        let s = self.segs.get(idx)?;
        let bytes = self.arena.get(s.off as usize..(s.off as usize).checked_add(s.len as usize)?)?;
        Some(match s.kind {
            LITERAL => SegRef::Literal(bytes),
            WILD => SegRef::Wild(bytes),
            _ => SegRef::AnyDepth,
        })
    }

    /// The access the rules grant on a normalised path, stopping early once
    /// `needed` is covered.
    pub(crate) fn granted(&self, path: &[u8], needed: Access) -> Access {
        let path = root_as_empty(path);
        let mut granted = Access::NONE;
        let mut hash = SEED;
        let mut depth = 0u32;
        let mut end = 0usize;
        loop {
            if self.depths & (1 << depth.min(63)) != 0 {
                let (prefix, rest) = path.split_at(end);
                if let Some(e) = self.prefixes.get(hash, prefix).and_then(|i| self.entries.get(i as usize)) {
                    if rest.is_empty() {
                        granted = granted.union(e.exact);
                    }
                    for tail in self.tails.get(e.first_tail as usize..e.end_tail as usize).unwrap_or(&[]) {
                        if granted.covers(needed) {
                            break;
                        }
                        if !granted.covers(tail.access) && match_segments(|i| self.seg(tail, i), rest) {
                            granted = granted.union(tail.access);
                        }
                    }
                    if granted.covers(needed) {
                        return granted;
                    }
                }
            }
            match next_segment(&path[end..]) {
                Some((seg, _)) => {
                    hash = hash_segment(hash, seg);
                    end += 1 + seg.len();
                    depth += 1;
                }
                None => return granted,
            }
        }
    }
}

/// One port rule of a host: protocol and an inclusive port range.
#[derive(Clone, Copy, Debug)]
struct PortRule {
    proto: Proto,
    ports: PortRange,
}

/// A span of `NetIndex::ports`.
#[derive(Clone, Copy, Debug, Default)]
struct PortSpan {
    first: u32,
    end: u32,
}

/// A hasher for integer keys (masked IP addresses): std's SipHash costs
/// more than the whole lookup. A folded 64×64→128-bit multiply spreads
/// every input bit over the low bits hashbrown indexes with (masked
/// networks have all-zero low bits). Keys come from the policy, so flooding
/// is not a concern.
#[derive(Default)]
struct IntHasher(u64);

impl IntHasher {
    fn mix(&mut self, n: u64) {
        let full = u128::from(self.0 ^ n ^ 0x2545_f491_4f6c_dd1d) * 0x9e37_79b9_7f4a_7c15;
        self.0 = (full as u64) ^ ((full >> 64) as u64);
    }
}

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(w));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }
    fn write_u128(&mut self, n: u128) {
        self.mix(n as u64);
        self.mix((n >> 64) as u64);
    }
}

type IntMap<K> = HashMap<K, u32, BuildHasherDefault<IntHasher>>;

/// The longest DNS name looked up (253 characters, RFC 1035).
const MAX_NAME: usize = 253;

/// Network rules: hosts by exact name, by `*.` suffix, by address within
/// one table per prefix length, and `*`; each leads to a span of port rules.
#[derive(Clone, Debug, Default)]
pub(crate) struct NetIndex {
    any: PortSpan,
    names: BytesTable,
    /// Span index of each name in `names`, in key order.
    name_spans: Box<[u32]>,
    suffixes: BytesTable,
    suffix_spans: Box<[u32]>,
    /// (prefix length, masked address → span index), longest first.
    v4: Vec<(u8, IntMap<u32>)>,
    v6: Vec<(u8, IntMap<u128>)>,
    spans: Box<[PortSpan]>,
    ports: Box<[PortRule]>,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum HostKey {
    Any,
    Name,
    Suffix,
    V4(u8, u32),
    V6(u8, u128),
}

impl NetIndex {
    pub(crate) fn build<'a>(rules: impl IntoIterator<Item = (Proto, &'a HostPattern, PortRange)>) -> NetIndex {
        // Grouped by host with a sort rather than a map of vectors: one
        // allocation for all rules, whatever their number.
        let mut rules: Vec<(HostKey, &'a [u8], PortRule)> = rules
            .into_iter()
            .map(|(proto, host, ports)| {
                let (key, name) = match host {
                    HostPattern::Any => (HostKey::Any, &[][..]),
                    HostPattern::Name(n) => (HostKey::Name, n.as_bytes()),
                    HostPattern::NameSuffix(n) => (HostKey::Suffix, n.as_bytes()),
                    HostPattern::Ip(ip) => (ip_key(*ip, None), &[][..]),
                    HostPattern::Cidr(ip, len) => (ip_key(*ip, Some(*len)), &[][..]),
                };
                (key, name, PortRule { proto, ports })
            })
            .collect();
        rules.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut index = NetIndex::default();
        let (mut names, mut suffixes) = (Vec::new(), Vec::new());
        let mut v4: HashMap<u8, IntMap<u32>> = HashMap::new();
        let mut v6: HashMap<u8, IntMap<u128>> = HashMap::new();
        let mut spans: Vec<PortSpan> = Vec::new();
        let mut ports = Vec::with_capacity(rules.len());
        let mut last: Option<(HostKey, &[u8])> = None;
        let mut any_id = None;
        for (key, name, rule) in rules {
            ports.push(rule);
            if last == Some((key, name)) {
                if let Some(span) = spans.last_mut() {
                    span.end = ports.len() as u32;
                }
                continue;
            }
            last = Some((key, name));
            let span = PortSpan { first: ports.len() as u32 - 1, end: ports.len() as u32 };
            let id = spans.len() as u32;
            spans.push(span);
            match key {
                HostKey::Any => any_id = Some(id),
                HostKey::Name => names.push((name, id)),
                HostKey::Suffix => suffixes.push((name, id)),
                HostKey::V4(len, addr) => {
                    v4.entry(len).or_default().insert(addr, id);
                }
                HostKey::V6(len, addr) => {
                    v6.entry(len).or_default().insert(addr, id);
                }
            }
        }
        if let Some(id) = any_id {
            index.any = spans.get(id as usize).copied().unwrap_or_default();
        }
        index.names = BytesTable::build(names.iter().map(|(n, _)| (hash_name(n), *n)));
        index.name_spans = names.iter().map(|(_, id)| *id).collect();
        index.suffixes = BytesTable::build(suffixes.iter().map(|(n, _)| (hash_name(n), *n)));
        index.suffix_spans = suffixes.iter().map(|(_, id)| *id).collect();
        index.v4 = v4.into_iter().collect();
        index.v4.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
        index.v6 = v6.into_iter().collect();
        index.v6.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
        index.spans = spans.into_boxed_slice();
        index.ports = ports.into_boxed_slice();
        index
    }

    fn span_allows(&self, span: PortSpan, proto: Proto, port: u16) -> bool {
        self.ports
            .get(span.first as usize..span.end as usize)
            .unwrap_or(&[])
            .iter()
            .any(|r| r.proto == proto && r.ports.contains(port))
    }

    /// Whether the port rules of the `key`-th host of a name table allow it.
    fn key_allows(&self, key: Option<u32>, spans_of: &[u32], proto: Proto, port: u16) -> bool {
        self.id_allows(key.and_then(|k| spans_of.get(k as usize)).copied(), proto, port)
    }

    fn id_allows(&self, id: Option<u32>, proto: Proto, port: u16) -> bool {
        match id.and_then(|i| self.spans.get(i as usize)) {
            Some(span) => self.span_allows(*span, proto, port),
            None => false,
        }
    }

    pub(crate) fn allows(&self, proto: Proto, ip: Option<IpAddr>, name: Option<&[u8]>, port: u16) -> bool {
        if self.span_allows(self.any, proto, port) {
            return true;
        }
        match ip.map(canonical_ip) {
            Some(IpAddr::V4(v4)) => {
                let bits = u32::from(v4);
                for (len, table) in &self.v4 {
                    if self.id_allows(table.get(&(bits & v4_mask(*len))).copied(), proto, port) {
                        return true;
                    }
                }
            }
            Some(IpAddr::V6(v6)) => {
                let bits = u128::from(v6);
                for (len, table) in &self.v6 {
                    if self.id_allows(table.get(&(bits & v6_mask(*len))).copied(), proto, port) {
                        return true;
                    }
                }
            }
            None => {}
        }
        let Some(name) = name else { return false };
        let mut buf = [0u8; MAX_NAME];
        let Some(name) = lower_name(name, &mut buf) else { return false };
        if self.key_allows(self.names.get(hash_name(name), name), &self.name_spans, proto, port) {
            return true;
        }
        // `*.suffix` matches one or more labels before the suffix.
        for (i, _) in name.iter().enumerate().skip(1).filter(|(_, b)| **b == b'.') {
            let suffix = name.get(i + 1..).unwrap_or(&[]);
            if self.key_allows(self.suffixes.get(hash_name(suffix), suffix), &self.suffix_spans, proto, port) {
                return true;
            }
        }
        false
    }
}

fn ip_key(ip: IpAddr, len: Option<u8>) -> HostKey {
    match ip {
        IpAddr::V4(v4) => HostKey::V4(len.unwrap_or(32), u32::from(v4)),
        IpAddr::V6(v6) => HostKey::V6(len.unwrap_or(128), u128::from(v6)),
    }
}

/// A DNS name in the form rules are stored in: ASCII lower case, without
/// one trailing dot. `None` when empty or longer than 253 characters.
pub(crate) fn lower_name<'b>(name: &[u8], buf: &'b mut [u8; MAX_NAME]) -> Option<&'b [u8]> {
    let name = name.strip_suffix(b".").unwrap_or(name);
    if name.is_empty() || name.len() > MAX_NAME {
        return None;
    }
    let out = buf.get_mut(..name.len())?;
    for (o, b) in out.iter_mut().zip(name) {
        *o = b.to_ascii_lowercase();
    }
    Some(out)
}

/// The longest `service:Action` looked up; longer queries are not allowed
/// (they do not fit the stack buffer, so `allows` answers no).
const MAX_API: usize = 256;

/// API rules: exact `service:action` keys, wildcard actions per exact
/// service, and the rare rules with a wildcard service, all lower-case.
#[derive(Clone, Debug, Default)]
pub(crate) struct ApiIndex {
    exact: BytesTable,
    /// service → span of `action_patterns` (the service's wildcard actions;
    /// presence alone answers service-level queries).
    services: BytesTable,
    service_spans: Box<[(u32, u32)]>,
    action_patterns: Box<[Box<[u8]>]>,
    wild_services: Box<[WildApiRule]>,
}

/// A rule whose service has a wildcard: (service pattern, action pattern).
type WildApiRule = (Box<[u8]>, Box<[u8]>);

impl ApiIndex {
    pub(crate) fn build<'a>(rules: impl IntoIterator<Item = (&'a str, &'a str)>) -> ApiIndex {
        let mut exact = HashMap::new();
        let mut services: HashMap<Vec<u8>, Vec<Box<[u8]>>> = HashMap::new();
        let mut wild_services = Vec::new();
        for (service, action) in rules {
            let service = service.to_ascii_lowercase().into_bytes();
            let action = action.to_ascii_lowercase().into_bytes();
            if service.contains(&b'*') {
                wild_services.push((service.into(), action.into()));
                continue;
            }
            let patterns = services.entry(service.clone()).or_default();
            if action.contains(&b'*') {
                patterns.push(action.into());
            } else {
                let mut key = service;
                key.push(b':');
                key.extend_from_slice(&action);
                exact.insert(key, ());
            }
        }
        let exact = BytesTable::build(exact.keys().map(|k: &Vec<u8>| (hash_name(k), k.as_slice())));
        let mut names = Vec::with_capacity(services.len());
        let mut spans = Vec::with_capacity(services.len());
        let mut action_patterns = Vec::new();
        for (service, mut patterns) in services {
            patterns.sort_unstable();
            patterns.dedup();
            let first = action_patterns.len() as u32;
            action_patterns.extend(patterns);
            names.push(service);
            spans.push((first, action_patterns.len() as u32));
        }
        ApiIndex {
            exact,
            services: BytesTable::build(names.iter().map(|n| (hash_name(n), n.as_slice()))),
            service_spans: spans.into_boxed_slice(),
            action_patterns: action_patterns.into_boxed_slice(),
            wild_services: wild_services.into_boxed_slice(),
        }
    }

    pub(crate) fn allows(&self, service: &str, action: Option<&str>) -> bool {
        let mut buf = [0u8; MAX_API];
        let action_len = action.map_or(0, |a| a.len() + 1);
        let Some(key) = buf.get_mut(..service.len().saturating_add(action_len)) else { return false };
        let (svc, act) = key.split_at_mut(service.len());
        svc.copy_from_slice(service.as_bytes());
        svc.make_ascii_lowercase();
        let span = self.services.get(hash_name(svc), svc).and_then(|i| self.service_spans.get(i as usize));
        let Some(action) = action else {
            return span.is_some() || self.wild_services.iter().any(|(s, _)| match_wild(s, svc));
        };
        if let Some((colon, a)) = act.split_first_mut() {
            *colon = b':';
            a.copy_from_slice(action.as_bytes());
            a.make_ascii_lowercase();
        }
        let (svc, act) = (&key[..service.len()], &key[service.len() + 1..]);
        if self.exact.get(hash_name(key), key).is_some() {
            return true;
        }
        if let Some(&(first, end)) = span {
            let patterns = self.action_patterns.get(first as usize..end as usize).unwrap_or(&[]);
            if patterns.iter().any(|p| match_wild(p, act)) {
                return true;
            }
        }
        self.wild_services.iter().any(|(s, a)| match_wild(s, svc) && match_wild(a, act))
    }
}
