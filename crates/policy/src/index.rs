//! The compiled indexes behind [`crate::Matcher`], one per kind of rule.
//! Built once from a [`crate::Policy`]; every query reads them in place
//! with stack buffers only.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use crate::glob::{Glob, GlobSeg, SegRef, match_segments, match_wild};
use crate::path::{PATH_MAX, normalize_path};
use crate::rule::{HostPattern, PortRange, canonical_ip, v4_mask, v6_mask};
use crate::snapshot::{
    Fields, Reader, Record, SnapshotError, Writer, bytes_ok, index_error, pair, span_error, span_ok, triple,
};
use crate::table::{ByteStrings, BytesTable, SEED, hash_bytes, hash_finish, hash_step, tail_word};
use crate::types::{Access, Proto};

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
    /// Granted on the prefix itself (literal rules).
    exact: Access,
    /// Granted on the prefix and everything below it (`prefix/**`), so the
    /// commonest rule costs no pattern matching.
    any: Access,
    /// The other rules: what follows the prefix.
    first_tail: u32,
    end_tail: u32,
}

/// Whether what follows a literal prefix is just `/**`.
fn is_any_depth(tail: &[GlobSeg]) -> bool {
    matches!(tail, [GlobSeg::AnyDepth])
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
        // Sorted by the prefix's hash first (one integer compare, where the
        // bytes would take a `memcmp`), then its bytes: still the same order
        // for the same rules, so the same snapshot bytes.
        let mut rules: Vec<(&'a [u8], Access, &'a [GlobSeg], u64)> = rules
            .into_iter()
            .map(|(access, glob)| {
                let (prefix, n_lit) = glob.literal_prefix();
                (prefix, access, glob.segments().get(n_lit..).unwrap_or(&[]), hash_bytes(prefix))
            })
            .collect();
        rules.sort_unstable_by(|a, b| a.3.cmp(&b.3).then_with(|| a.0.cmp(b.0)));
        // Exact capacities: no reallocation doubles the peak, and
        // `into_boxed_slice` below does not copy.
        let n_prefixes = rules.iter().enumerate().filter(|(i, r)| *i == 0 || rules[i - 1].0 != r.0).count();
        let with_tail = rules.iter().filter(|r| !r.2.is_empty() && !is_any_depth(r.2));
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
        let mut prefixes: Vec<(u64, &[u8])> = Vec::with_capacity(n_prefixes);
        let mut entries: Vec<Entry> = Vec::with_capacity(n_prefixes);
        let mut tails = Vec::with_capacity(n_tails);
        let mut segs = Vec::with_capacity(n_segs);
        let mut arena = Vec::with_capacity(n_bytes);
        for (prefix, access, tail, hash) in rules {
            if prefixes.last().is_none_or(|&(_, last)| last != prefix) {
                let n_segs = prefix.iter().filter(|b| **b == b'/').count();
                depths |= 1 << n_segs.min(63);
                prefixes.push((hash, prefix));
                let first = tails.len() as u32;
                entries.push(Entry { exact: Access::NONE, any: Access::NONE, first_tail: first, end_tail: first });
            }
            let Some(entry) = entries.last_mut() else { continue };
            if tail.is_empty() {
                entry.exact = entry.exact.union(access);
                continue;
            }
            if is_any_depth(tail) {
                entry.any = entry.any.union(access);
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
            prefixes: BytesTable::build(prefixes.iter().copied()),
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

    /// The access the rules grant on `path` (absolute; normalised here if
    /// it is not), stopping early once `needed` is covered. Relative and
    /// over-long paths get nothing: no rule can allow what cannot be named
    /// absolutely.
    #[inline]
    pub(crate) fn granted(&self, path: &[u8], needed: Access) -> Access {
        if path.len() <= PATH_MAX
            && let Some(granted) = self.walk(path, needed)
        {
            return granted;
        }
        self.granted_normalized(path, needed)
    }

    /// [`GlobIndex::granted`] for a path that is not in normal form: copied
    /// into a stack buffer, normalised, walked again. Out of line, so the
    /// common case does not carry the buffer in its frame.
    #[cold]
    #[inline(never)]
    fn granted_normalized(&self, path: &[u8], needed: Access) -> Access {
        let mut buf = [0u8; PATH_MAX];
        match normalize_path(path, &mut buf) {
            Some(n) => buf.get(..n).and_then(|p| self.walk(p, needed)).unwrap_or(Access::NONE),
            None => Access::NONE,
        }
    }

    /// One pass over an absolute path, 8 bytes at a time: checks that no
    /// segment is empty, `.` or `..` (`None` if one is, or if the path is
    /// relative: the answer is then for [`normalize_path`]'s form), and
    /// finds each `/` (and a virtual one at the end). At each depth where
    /// some prefix has as many segments, it looks the prefix up (its hash is
    /// the running hash of the path's whole words plus the partial word
    /// before the `/`) and matches that prefix's patterns against the rest.
    /// Once `needed` is covered, or no deeper prefix exists, only the check
    /// goes on. Patterns may be tried on a rest whose bad segment is only
    /// seen later; their answer is then dropped with the `None`.
    #[inline]
    fn walk(&self, path: &[u8], needed: Access) -> Option<Access> {
        // The root has no segments: it is the empty prefix.
        let path = match path {
            [b'/'] => &[][..],
            [b'/', ..] => path,
            _ => return None,
        };
        let (words, tail) = path.as_chunks::<8>();
        // Word `k` of the path; then the last partial word with the
        // virtual `/` that ends the path; then zeros.
        let last_k = words.len();
        let last = tail_word(path) | (u64::from(b'/') << (8 * tail.len()));
        let word = |k: usize| match words.get(k) {
            Some(w) => u64::from_le_bytes(*w),
            None if k == last_k => last,
            None => 0,
        };
        let mut hash = SEED;
        // Bit 0: some prefix has as many segments as there were `/` before
        // the next one. An arithmetic shift keeps bit 63 (depths ≥ 63) set.
        let mut todo = self.depths;
        let mut granted = Access::NONE;
        let mut k = 0;
        let mut cur = word(0);
        while todo != 0 {
            let next = word(k + 1);
            if !segments_ok(path, k, cur, next) {
                return None;
            }
            let mut slashes = byte_mask(cur, b'/');
            while slashes != 0 {
                if todo & 1 != 0 {
                    let b = (slashes.trailing_zeros() / 8) as usize;
                    let p = k * 8 + b;
                    let h = hash_finish(hash, cur & low_bytes(b), p);
                    if self.prefixes.may_hold(h) {
                        granted = self.probe(h, path, p, granted, needed);
                        if granted.covers(needed) {
                            todo = 0;
                            break;
                        }
                    }
                }
                todo = ((todo as i64) >> 1) as u64;
                slashes &= slashes - 1;
            }
            if k == last_k {
                return Some(granted);
            }
            hash = hash_step(hash, cur);
            cur = next;
            k += 1;
        }
        // Only the check is left.
        while k <= last_k {
            let next = word(k + 1);
            if !segments_ok(path, k, cur, next) {
                return None;
            }
            cur = next;
            k += 1;
        }
        Some(granted)
    }

    /// `granted` plus what the rules of the prefix `path[..p]` (if it is
    /// one, `hash` being its hash) grant on the rest of the path. Out of
    /// line: the walk keeps its few values in registers.
    #[inline(never)]
    fn probe(&self, hash: u64, path: &[u8], p: usize, granted: Access, needed: Access) -> Access {
        let Some((prefix, rest)) = path.split_at_checked(p) else { return granted };
        let Some(e) = self.prefixes.get(hash, prefix).and_then(|i| self.entries.get(i as usize)) else {
            return granted;
        };
        let mut granted = granted.union(e.any);
        if rest.is_empty() {
            granted = granted.union(e.exact);
        }
        if granted.covers(needed) || e.first_tail == e.end_tail {
            return granted;
        }
        self.tails_grant(e, rest, granted, needed)
    }

    /// `granted` plus what the patterns of entry `e` grant on `rest`.
    #[inline(never)]
    fn tails_grant(&self, e: &Entry, rest: &[u8], mut granted: Access, needed: Access) -> Access {
        // The last segment of the path, when the rest is exactly one (what
        // a one-segment pattern such as `*.json` needs).
        let last = rest.strip_prefix(b"/").filter(|seg| !seg.contains(&b'/'));
        for tail in self.tails.get(e.first_tail as usize..e.end_tail as usize).unwrap_or(&[]) {
            if granted.covers(needed) {
                break;
            }
            if granted.covers(tail.access) {
                continue;
            }
            let one = |seg: Option<SegRef<'_>>, text: Option<&[u8]>| match (seg, text) {
                (Some(SegRef::Literal(lit)), Some(text)) => lit == text,
                (Some(SegRef::Wild(pat)), Some(text)) => match_wild(pat, text),
                _ => false,
            };
            let matched = match (tail.end.wrapping_sub(tail.first), self.seg(tail, 0)) {
                (1, Some(SegRef::AnyDepth)) => true,
                (1, seg) => one(seg, last),
                // `**/x`: the path's last segment is `x` (`**` takes the
                // ones before it, if any).
                (2, Some(SegRef::AnyDepth)) => {
                    let final_seg = rest.iter().rposition(|&b| b == b'/').and_then(|i| rest.get(i + 1..));
                    match self.seg(tail, 1) {
                        Some(SegRef::AnyDepth) => true,
                        seg => one(seg, final_seg),
                    }
                }
                _ => match_segments(|i| self.seg(tail, i), rest),
            };
            if matched {
                granted = granted.union(tail.access);
            }
        }
        granted
    }
}

/// Bit 7 of each byte of `word` that equals `byte`, no other bit (exact:
/// no carry crosses bytes).
#[inline(always)]
fn byte_mask(word: u64, byte: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = word ^ (u64::from(byte) * 0x0101_0101_0101_0101);
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// The low `n` bytes of a word (`n` < 8).
#[inline(always)]
fn low_bytes(n: usize) -> u64 {
    (1u64 << (8 * n)) - 1
}

const ONES: u64 = 0x0101_0101_0101_0101;
const SLASHES: u64 = 0x2f2f_2f2f_2f2f_2f2f;

/// Whether the segments starting in word `k` of `path` (`cur`, followed by
/// `next`) are ones a normalised path has. A segment is suspect when its
/// `/` is followed by `/` or `.` (`/` is 0x2f, `.` 0x2e: one bit apart);
/// only suspects are looked at closely, out of line.
#[inline(always)]
fn segments_ok(path: &[u8], k: usize, cur: u64, next: u64) -> bool {
    let x = cur ^ SLASHES;
    let y = ((cur >> 8) | (next << 56) | ONES) ^ SLASHES;
    let v = x | y;
    // A zero byte in `v`: a `/` followed by `/` or `.`.
    (v.wrapping_sub(ONES) & !v & (ONES << 7)) == 0 || suspects_ok(path, k, v)
}

/// The close look: each `/` that [`segments_ok`] found suspect (a zero
/// byte in `v`), checked with [`segment_ok`].
#[cold]
#[inline(never)]
fn suspects_ok(path: &[u8], k: usize, v: u64) -> bool {
    let mut zeros = byte_mask(v, 0);
    while zeros != 0 {
        let p = k * 8 + (zeros.trailing_zeros() / 8) as usize;
        if !segment_ok(path, p) {
            return false;
        }
        zeros &= zeros - 1;
    }
    true
}

/// Whether the segment after the `/` at `p` is one a normalised path has:
/// not empty (`//`, a trailing `/`), not `.`, not `..`. The virtual `/`
/// at the end (`p` = the length) starts no segment.
#[inline]
fn segment_ok(path: &[u8], p: usize) -> bool {
    match path.get(p + 1..) {
        None => true,
        Some(after) => {
            !matches!(after, [] | [b'/', ..] | [b'.'] | [b'.', b'/', ..] | [b'.', b'.'] | [b'.', b'.', b'/', ..])
        }
    }
}

impl GlobIndex {
    pub(crate) fn write_snapshot(&self, w: &mut Writer) {
        w.bytes(&self.arena);
        w.array(&self.segs, |s| Record::<9>::new().u8(s.kind).u32(s.off).u32(s.len).done());
        w.array(&self.tails, |t| Record::<9>::new().u8(t.access.bits()).u32(t.first).u32(t.end).done());
        self.prefixes.write_snapshot(w);
        w.array(&self.entries, |e| {
            Record::<10>::new().u8(e.exact.bits()).u8(e.any.bits()).u32(e.first_tail).u32(e.end_tail).done()
        });
        w.u64(self.depths);
    }

    /// Reads an index written by [`GlobIndex::write_snapshot`]: segment
    /// kinds known and their bytes within the arena, tail and entry spans
    /// within the arrays they index, one entry per prefix.
    pub(crate) fn read_snapshot(r: &mut Reader<'_>) -> Result<GlobIndex, SnapshotError> {
        let arena = r.bytes("arena")?;
        let n = arena.len();
        let segs = r.array(
            "segs",
            |rec| {
                let (kind, off, len) = triple(rec);
                Seg { kind, off, len }
            },
            |rec| {
                let (kind, off, len) = triple(rec);
                (kind <= ANY_DEPTH) & bytes_ok(off, len, n)
            },
            |rec| {
                let (kind, off, len) = triple(rec);
                format!("segment kind {kind}, bytes {off}+{len} (kinds 0-2, an arena of {n} bytes)")
            },
        )?;
        let tails =
            read_access_spans(r, "tails", segs.len(), "segments", |access, first, end| Tail { access, first, end })?;
        let prefixes = BytesTable::read_snapshot(r, "prefixes")?;
        let n_tails = tails.len();
        let entry = |rec: &[u8; 10]| {
            let mut f = Fields(rec);
            (f.u8(), f.u8(), f.u32(), f.u32())
        };
        let entries = r.array(
            "entries",
            |rec| {
                let (exact, any, first_tail, end_tail) = entry(rec);
                let access = |bits| Access::from_bits(bits).unwrap_or(Access::NONE);
                Entry { exact: access(exact), any: access(any), first_tail, end_tail }
            },
            |rec| {
                let (exact, any, first, end) = entry(rec);
                (exact <= Access::RW.bits()) & (any <= Access::RW.bits()) & span_ok(first, end, n_tails)
            },
            |rec| {
                let (exact, any, first, end) = entry(rec);
                if Access::from_bits(exact).is_none() || Access::from_bits(any).is_none() {
                    format!("access bits {exact:#x}, {any:#x} beyond rw")
                } else {
                    span_error(first, end, n_tails, "tails")
                }
            },
        )?;
        if entries.len() != prefixes.len() {
            return Err(r.fail(format_args!("{} entries for {} prefixes", entries.len(), prefixes.len())));
        }
        let depths = r.u64("depths")?;
        Ok(GlobIndex { prefixes, entries, tails, segs, arena, depths })
    }
}

/// Records of (access, span within an array of `len`).
fn read_access_spans<T>(
    r: &mut Reader<'_>,
    what: &str,
    len: usize,
    of: &str,
    make: impl Fn(Access, u32, u32) -> T,
) -> Result<Box<[T]>, SnapshotError> {
    r.array(
        what,
        |rec| {
            let (access, first, end) = triple(rec);
            make(Access::from_bits(access).unwrap_or(Access::NONE), first, end)
        },
        |rec| {
            let (access, first, end) = triple(rec);
            (access <= Access::RW.bits()) & span_ok(first, end, len)
        },
        |rec| {
            let (access, first, end) = triple(rec);
            match Access::from_bits(access) {
                None => format!("access bits {access:#x} beyond rw"),
                Some(_) => span_error(first, end, len, of),
            }
        },
    )
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
        index.names = BytesTable::build(names.iter().map(|(n, _)| (hash_bytes(n), *n)));
        index.name_spans = names.iter().map(|(_, id)| *id).collect();
        index.suffixes = BytesTable::build(suffixes.iter().map(|(n, _)| (hash_bytes(n), *n)));
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
        if self.key_allows(self.names.get(hash_bytes(name), name), &self.name_spans, proto, port) {
            return true;
        }
        // `*.suffix` matches one or more labels before the suffix.
        for (i, _) in name.iter().enumerate().skip(1).filter(|(_, b)| **b == b'.') {
            let suffix = name.get(i + 1..).unwrap_or(&[]);
            if self.key_allows(self.suffixes.get(hash_bytes(suffix), suffix), &self.suffix_spans, proto, port) {
                return true;
            }
        }
        false
    }
}

impl NetIndex {
    pub(crate) fn write_snapshot(&self, w: &mut Writer) {
        w.array(&self.ports, |p| Record::<5>::new().u8(proto_code(p.proto)).u16(p.ports.lo).u16(p.ports.hi).done());
        let span = |s: &PortSpan| Record::<8>::new().u32(s.first).u32(s.end).done();
        w.array(&self.spans, span);
        w.array(&[self.any], span);
        self.names.write_snapshot(w);
        w.u32s(&self.name_spans);
        self.suffixes.write_snapshot(w);
        w.u32s(&self.suffix_spans);
        write_ip_tables(w, &self.v4, |&(k, id)| Record::<8>::new().u32(k).u32(id).done());
        write_ip_tables(w, &self.v6, |&(k, id)| Record::<20>::new().u128(k).u32(id).done());
    }

    /// Reads an index written by [`NetIndex::write_snapshot`]: known
    /// protocols, port spans within the port rules, every host's span index
    /// within the spans, one span index per name and suffix, address tables
    /// by prefix length (longest first, each length at most once) with
    /// masked keys in ascending order.
    pub(crate) fn read_snapshot(r: &mut Reader<'_>) -> Result<NetIndex, SnapshotError> {
        let port = |rec: &[u8; 5]| {
            let mut f = Fields(rec);
            (f.u8(), f.u16(), f.u16())
        };
        let ports = r.array(
            "ports",
            |rec| {
                let (proto, lo, hi) = port(rec);
                PortRule { proto: if proto == 0 { Proto::Tcp } else { Proto::Udp }, ports: PortRange { lo, hi } }
            },
            |rec| {
                let (proto, lo, hi) = port(rec);
                (proto <= 1) & (lo <= hi)
            },
            |rec| {
                let (proto, lo, hi) = port(rec);
                format!("protocol {proto}, ports {lo}-{hi} (protocols 0-1, low ≤ high)")
            },
        )?;
        let n = ports.len();
        let read_spans = |r: &mut Reader<'_>, what| {
            r.array(
                what,
                |rec| {
                    let (first, end) = pair(rec);
                    PortSpan { first, end }
                },
                |rec| {
                    let (first, end) = pair(rec);
                    span_ok(first, end, n)
                },
                |rec| {
                    let (first, end) = pair(rec);
                    span_error(first, end, n, "port rules")
                },
            )
        };
        let spans = read_spans(r, "spans")?;
        let any = read_spans(r, "any")?;
        let &[any] = &*any else {
            return Err(r.fail(format_args!("{} spans for `any`, expected 1", any.len())));
        };
        let n_spans = spans.len();
        let names = BytesTable::read_snapshot(r, "names")?;
        let span_ids =
            |r: &mut Reader<'_>, what| r.u32s(what, |i| (i as usize) < n_spans, |i| index_error(i, n_spans, "spans"));
        let name_spans = span_ids(r, "name spans")?;
        let suffixes = BytesTable::read_snapshot(r, "suffixes")?;
        let suffix_spans = span_ids(r, "suffix spans")?;
        if name_spans.len() != names.len() || suffix_spans.len() != suffixes.len() {
            return Err(r.fail(format_args!(
                "{} spans for {} names, {} for {} suffixes",
                name_spans.len(),
                names.len(),
                suffix_spans.len(),
                suffixes.len()
            )));
        }
        let v4 = read_ip_tables(r, "v4", 32, v4_mask, n_spans, pair)?;
        let v6 = read_ip_tables(r, "v6", 128, v6_mask, n_spans, |rec: &[u8; 20]| {
            let mut f = Fields(rec);
            (f.u128(), f.u32())
        })?;
        Ok(NetIndex { any, names, name_spans, suffixes, suffix_spans, v4, v6, spans, ports })
    }
}

fn proto_code(p: Proto) -> u8 {
    match p {
        Proto::Tcp => 0,
        Proto::Udp => 1,
    }
}

/// Address tables as (prefix length, entry count, entries sorted by key).
fn write_ip_tables<K: Copy + Ord, const N: usize>(
    w: &mut Writer,
    tables: &[(u8, IntMap<K>)],
    record: impl Fn(&(K, u32)) -> [u8; N],
) {
    w.u64(tables.len() as u64);
    for (len, table) in tables {
        w.u8(*len);
        let mut entries: Vec<(K, u32)> = table.iter().map(|(k, id)| (*k, *id)).collect();
        entries.sort_unstable();
        w.array(&entries, &record);
    }
}

fn read_ip_tables<K, const N: usize>(
    r: &mut Reader<'_>,
    what: &str,
    max_len: u8,
    mask: fn(u8) -> K,
    n_spans: usize,
    decode: impl Fn(&[u8; N]) -> (K, u32),
) -> Result<Vec<(u8, IntMap<K>)>, SnapshotError>
where
    K: Copy + Ord + std::hash::Hash + std::ops::BitAnd<Output = K> + fmt::LowerHex,
{
    // A table takes at least its length byte and entry count.
    let n = r.count(9, what)?;
    let mut tables: Vec<(u8, IntMap<K>)> = Vec::with_capacity(n.min(usize::from(max_len) + 1));
    for _ in 0..n {
        let len = r.u8(what)?;
        if len > max_len || tables.last().is_some_and(|(prev, _)| len >= *prev) {
            return Err(r.fail(format_args!("{what}: prefix length /{len} out of order or beyond /{max_len}")));
        }
        let records = r.records::<N>(what)?;
        if records.is_empty() {
            return Err(r.fail(format_args!("{what}: empty table for /{len}")));
        }
        let mut table = IntMap::with_capacity_and_hasher(records.len(), BuildHasherDefault::default());
        let mut last: Option<K> = None;
        for rec in records {
            let (key, id) = decode(rec);
            if key & mask(len) != key || last.is_some_and(|l| l >= key) || id as usize >= n_spans {
                return Err(r.fail(format_args!(
                    "{what}: entry {key:#x}/{len} → span {id}: host bits set, keys out of order, or span beyond {n_spans}"
                )));
            }
            last = Some(key);
            table.insert(key, id);
        }
        tables.push((len, table));
    }
    Ok(tables)
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

/// The service and the action of a lower-case `service:action` key whose
/// service is `n` bytes long.
fn split_key((key, n): &(Vec<u8>, usize)) -> (&[u8], &[u8]) {
    (key.get(..*n).unwrap_or(&[]), key.get(*n + 1..).unwrap_or(&[]))
}

/// `text` in ASCII lower case in `buf`; `None` when it does not fit.
fn lower_into<'b>(text: &[u8], buf: &'b mut [u8; MAX_API]) -> Option<&'b [u8]> {
    let out = buf.get_mut(..text.len())?;
    for (o, b) in out.iter_mut().zip(text) {
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
    action_patterns: ByteStrings,
    /// Rules whose service has a wildcard: service and action patterns.
    wild_services: ByteStrings,
    wild_actions: ByteStrings,
    /// Rules that name a bucket (few: S3 rules): service, action and
    /// bucket patterns, scanned in order.
    bucket_services: ByteStrings,
    bucket_actions: ByteStrings,
    bucket_patterns: ByteStrings,
}

impl ApiIndex {
    pub(crate) fn build<'a>(rules: impl IntoIterator<Item = (&'a str, &'a str, Option<&'a str>)>) -> ApiIndex {
        // Sorted (not hashed) grouping: the same policy always compiles to
        // the same tables, so its snapshot is the same bytes. One key per
        // rule, `service:action` in lower case, in one sorted vector.
        let mut keys: Vec<(Vec<u8>, usize)> = Vec::new();
        let mut wild_services: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut with_bucket: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = Vec::new();
        for (service, action, bucket) in rules {
            if let Some(bucket) = bucket {
                let lower = |s: &str| s.to_ascii_lowercase().into_bytes();
                with_bucket.push((lower(service), lower(action), lower(bucket)));
                continue;
            }
            let mut key = Vec::with_capacity(service.len() + 1 + action.len());
            key.extend_from_slice(service.as_bytes());
            key.push(b':');
            key.extend_from_slice(action.as_bytes());
            key.make_ascii_lowercase();
            if service.contains('*') {
                let action = key.split_off(service.len() + 1);
                key.truncate(service.len());
                wild_services.push((key, action));
            } else {
                keys.push((key, service.len()));
            }
        }
        keys.sort_unstable();
        keys.dedup();
        // Exact keys; every service once, in order, with the span of its
        // wildcard actions (sorted, distinct: the keys are).
        let exact: Vec<&[u8]> =
            keys.iter().filter(|k| !split_key(k).1.contains(&b'*')).map(|(key, _)| key.as_slice()).collect();
        let mut names: Vec<&[u8]> = Vec::new();
        let mut spans: Vec<(u32, u32)> = Vec::new();
        let mut action_patterns: Vec<&[u8]> = Vec::new();
        for k in &keys {
            let (service, action) = split_key(k);
            if names.last() != Some(&service) {
                names.push(service);
                let first = action_patterns.len() as u32;
                spans.push((first, first));
            }
            if action.contains(&b'*') {
                action_patterns.push(action);
                if let Some(span) = spans.last_mut() {
                    span.1 = action_patterns.len() as u32;
                }
            }
        }
        ApiIndex {
            exact: BytesTable::build(exact.iter().map(|k| (hash_bytes(k), *k))),
            services: BytesTable::build(names.iter().map(|n| (hash_bytes(n), *n))),
            service_spans: spans.into_boxed_slice(),
            action_patterns: ByteStrings::build(action_patterns.iter().copied()),
            wild_services: ByteStrings::build(wild_services.iter().map(|(s, _)| &s[..])),
            wild_actions: ByteStrings::build(wild_services.iter().map(|(_, a)| &a[..])),
            bucket_services: ByteStrings::build(with_bucket.iter().map(|(s, _, _)| &s[..])),
            bucket_actions: ByteStrings::build(with_bucket.iter().map(|(_, a, _)| &a[..])),
            bucket_patterns: ByteStrings::build(with_bucket.iter().map(|(_, _, b)| &b[..])),
        }
    }

    pub(crate) fn write_snapshot(&self, w: &mut Writer) {
        self.exact.write_snapshot(w);
        self.action_patterns.write_snapshot(w);
        self.services.write_snapshot(w);
        w.array(&self.service_spans, |&(first, end)| Record::<8>::new().u32(first).u32(end).done());
        self.wild_services.write_snapshot(w);
        self.wild_actions.write_snapshot(w);
        self.bucket_services.write_snapshot(w);
        self.bucket_actions.write_snapshot(w);
        self.bucket_patterns.write_snapshot(w);
    }

    /// Reads an index written by [`ApiIndex::write_snapshot`]: one span of
    /// action patterns per service, within the patterns; as many action
    /// patterns as wildcard-service patterns.
    pub(crate) fn read_snapshot(r: &mut Reader<'_>) -> Result<ApiIndex, SnapshotError> {
        let exact = BytesTable::read_snapshot(r, "exact")?;
        let action_patterns = ByteStrings::read_snapshot(r, "action patterns")?;
        let services = BytesTable::read_snapshot(r, "services")?;
        let n = action_patterns.len();
        let service_spans = r.array(
            "service spans",
            pair,
            |rec| {
                let (first, end) = pair(rec);
                span_ok(first, end, n)
            },
            |rec| {
                let (first, end) = pair(rec);
                span_error(first, end, n, "action patterns")
            },
        )?;
        if service_spans.len() != services.len() {
            return Err(r.fail(format_args!("{} spans for {} services", service_spans.len(), services.len())));
        }
        let wild_services = ByteStrings::read_snapshot(r, "wildcard services")?;
        let wild_actions = ByteStrings::read_snapshot(r, "wildcard services' actions")?;
        if wild_services.len() != wild_actions.len() {
            return Err(r.fail(format_args!(
                "{} wildcard services with {} action patterns",
                wild_services.len(),
                wild_actions.len()
            )));
        }
        let bucket_services = ByteStrings::read_snapshot(r, "bucket rules' services")?;
        let bucket_actions = ByteStrings::read_snapshot(r, "bucket rules' actions")?;
        let bucket_patterns = ByteStrings::read_snapshot(r, "bucket rules' buckets")?;
        if bucket_services.len() != bucket_actions.len() || bucket_services.len() != bucket_patterns.len() {
            return Err(r.fail(format_args!(
                "bucket rules with {} services, {} actions and {} buckets",
                bucket_services.len(),
                bucket_actions.len(),
                bucket_patterns.len()
            )));
        }
        Ok(ApiIndex {
            exact,
            services,
            service_spans,
            action_patterns,
            wild_services,
            wild_actions,
            bucket_services,
            bucket_actions,
            bucket_patterns,
        })
    }

    fn bucket_rules(&self) -> impl Iterator<Item = ((&[u8], &[u8]), &[u8])> {
        self.bucket_services.iter().zip(self.bucket_actions.iter()).zip(self.bucket_patterns.iter())
    }

    /// See [`crate::ApiRule`] for what a bucket in a rule or a query means.
    pub(crate) fn allows(&self, service: &str, action: Option<&str>, bucket: Option<&str>) -> bool {
        if self.allows_any_bucket(service, action) {
            return true;
        }
        // The same limit as for rules without a bucket: `service:Action`
        // within MAX_API bytes.
        if self.bucket_services.len() == 0 || service.len() + action.map_or(0, |a| a.len() + 1) > MAX_API {
            return false;
        }
        self.allows_with_bucket(service, action, bucket).unwrap_or(false)
    }

    /// The rules with a bucket; `None` when a part does not fit the stack.
    fn allows_with_bucket(&self, service: &str, action: Option<&str>, bucket: Option<&str>) -> Option<bool> {
        let mut sbuf = [0u8; MAX_API];
        let svc = lower_into(service.as_bytes(), &mut sbuf)?;
        let mut abuf = [0u8; MAX_API];
        let act = match action {
            Some(a) => Some(lower_into(a.as_bytes(), &mut abuf)?),
            None => None,
        };
        let mut bbuf = [0u8; MAX_API];
        let bkt = match bucket {
            Some(b) => Some(lower_into(b.as_bytes(), &mut bbuf)?),
            None => None,
        };
        Some(self.bucket_rules().any(|((s, a), b)| {
            match_wild(s, svc)
                && act.is_none_or(|act| match_wild(a, act))
                && match bkt {
                    Some(bkt) => match_wild(b, bkt),
                    // Only a service-level query (a connection whose
                    // bucket is not in its name) is allowed by a bucket rule
                    // without a bucket.
                    None => act.is_none(),
                }
        }))
    }

    fn wild_rules(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.wild_services.iter().zip(self.wild_actions.iter())
    }

    /// The rules without a bucket.
    fn allows_any_bucket(&self, service: &str, action: Option<&str>) -> bool {
        let mut buf = [0u8; MAX_API];
        let action_len = action.map_or(0, |a| a.len() + 1);
        let Some(key) = buf.get_mut(..service.len().saturating_add(action_len)) else { return false };
        let (svc, act) = key.split_at_mut(service.len());
        svc.copy_from_slice(service.as_bytes());
        svc.make_ascii_lowercase();
        let span = self.services.get(hash_bytes(svc), svc).and_then(|i| self.service_spans.get(i as usize));
        let Some(action) = action else {
            return span.is_some() || self.wild_services.iter().any(|s| match_wild(s, svc));
        };
        if let Some((colon, a)) = act.split_first_mut() {
            *colon = b':';
            a.copy_from_slice(action.as_bytes());
            a.make_ascii_lowercase();
        }
        let (svc, act) = (&key[..service.len()], &key[service.len() + 1..]);
        if self.exact.get(hash_bytes(key), key).is_some() {
            return true;
        }
        if let Some(&(first, end)) = span
            && self.action_patterns.range(first, end).any(|p| match_wild(p, act))
        {
            return true;
        }
        self.wild_rules().any(|(s, a)| match_wild(s, svc) && match_wild(a, act))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::is_normalized;

    /// The walk refuses exactly the paths that are not normalised, and
    /// answers the others as matching each glob would.
    #[test]
    fn walk_checks_the_normal_form() {
        let globs: Vec<Glob> = ["/", "/a", "/a/**", "/a/b/*.py", "/.x/**/y", "/**/z", "/a/b/c/d/e/f/g/h/i"]
            .iter()
            .map(|g| Glob::parse(g).unwrap())
            .collect();
        let index = GlobIndex::build(globs.iter().map(|g| (Access::R, g)));
        let parts =
            ["", "a", "b", ".", "..", "...", ".x", "x.", "z", "c.py", "abcdefgh", "abcdefghi", "a/b/c/d/e/f/g/h"];
        let mut paths: Vec<Vec<u8>> = vec![b"/".to_vec(), b"".to_vec(), b"a".to_vec(), b"//".to_vec()];
        for p in parts {
            for q in parts {
                for r in parts {
                    paths.push(format!("/{p}/{q}/{r}").into_bytes());
                    paths.push(format!("/{p}/{q}").into_bytes());
                    paths.push(format!("/{p}{q}/{r}/").into_bytes());
                }
            }
        }
        for path in &paths {
            let shown = String::from_utf8_lossy(path);
            let walked = index.walk(path, Access::R);
            assert_eq!(walked.is_some(), is_normalized(path), "{shown}");
            if let Some(got) = walked {
                let want = globs.iter().any(|g| g.matches(path));
                assert_eq!(got == Access::R, want, "{shown}");
            }
        }
    }
}
