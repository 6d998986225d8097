//! The compiled [`Matcher`] as bytes: what a process that inherits a policy
//! (an exec'd child of the protected process) loads instead of parsing
//! policy.json and compiling it again.
//!
//! Layout, all integers little-endian:
//!
//! ```text
//! header (32 bytes)  magic "RAMPSNAP" | format version u32 | reserved u32 = 0
//!                    | body length u64 | checksum u64 (of the body)
//! body               mode u8 | block set u8 | input bits u16
//!                    | file GlobIndex | process GlobIndex | NetIndex
//!                    | unix-path GlobIndex | unix abstract names | ApiIndex
//! ```
//!
//! Each index is its boxed slices in a fixed order, each written as a u64
//! element count and then fixed-size records (a byte string: its u64 length
//! and its bytes). Arrays that others point into come first, so each array
//! is checked as it is read: every offset, span, index and table size a
//! query later follows. Hash maps are written as their entries sorted by key
//! (ascending, checked) and rebuilt. A snapshot that loads therefore answers
//! without a panic, and writing it again gives exactly the bytes it was
//! loaded from.
//!
//! The header's body length catches truncation up front. The checksum is
//! computed as the body is read (each array just before it is decoded, while
//! it is in cache) and checked at the end; a mismatch is reported as
//! corruption in preference to whatever structural check the corruption
//! tripped.
//!
//! [`Matcher`]: crate::Matcher

use std::fmt;

/// Why [`Matcher::from_snapshot`](crate::Matcher::from_snapshot) refused its input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotError {
    message: String,
}

impl SnapshotError {
    pub(crate) fn new(message: impl Into<String>) -> SnapshotError {
        SnapshotError { message: message.into() }
    }

    /// What is wrong, without the "invalid policy snapshot" prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid policy snapshot: {}", self.message)
    }
}

impl std::error::Error for SnapshotError {}

/// The first eight bytes of every snapshot.
const SNAPSHOT_MAGIC: [u8; 8] = *b"RAMPSNAP";
/// The only snapshot format version this engine reads and writes. Snapshots
/// never outlive the process tree that wrote them, so there is no migration:
/// a reader of another version refuses and the caller compiles the policy.
pub const SNAPSHOT_VERSION: u32 = 3;
const HEADER: usize = 32;

/// Rewrites the body length and checksum in the header of `bytes` (at least
/// a header long) to match its body. For tests and fuzzing: a corrupted body
/// then reaches the structural checks instead of failing the checksum.
#[doc(hidden)]
pub fn reseal_snapshot(bytes: &mut [u8]) {
    if bytes.len() < HEADER {
        return;
    }
    let (header, body) = bytes.split_at_mut(HEADER);
    let (len, sum) = ((body.len() as u64).to_le_bytes(), checksum(body).to_le_bytes());
    for (dst, src) in header.iter_mut().skip(16).zip(len.iter().chain(&sum)) {
        *dst = *src;
    }
}

/// Puts the header before a body written by a [`Writer`].
pub(crate) fn seal(w: Writer) -> Vec<u8> {
    let mut bytes = w.buf;
    reseal_snapshot(&mut bytes);
    bytes
}

/// Checks the header; returns the body and the checksum it must have
/// (checked by [`Reader::finish`] as the body is read).
pub(crate) fn open(bytes: &[u8]) -> Result<(&[u8], u64), SnapshotError> {
    let Some((header, body)) = bytes.split_first_chunk::<HEADER>() else {
        return Err(SnapshotError::new(format!(
            "truncated: {} bytes, shorter than the {HEADER}-byte header",
            bytes.len()
        )));
    };
    let mut h = Fields(header);
    if h.take::<8>() != SNAPSHOT_MAGIC {
        return Err(SnapshotError::new("not a rampart policy snapshot (wrong magic bytes)"));
    }
    let version = h.u32();
    if version != SNAPSHOT_VERSION {
        return Err(SnapshotError::new(format!(
            "unsupported snapshot format version {version}; this rampart reads version {SNAPSHOT_VERSION}"
        )));
    }
    let reserved = h.u32();
    if reserved != 0 {
        return Err(SnapshotError::new(format!("reserved header field is {reserved:#x}, expected 0")));
    }
    let (len, sum) = (h.u64(), h.u64());
    if len != body.len() as u64 {
        let what = if len > body.len() as u64 { "truncated" } else { "trailing bytes" };
        return Err(SnapshotError::new(format!("{what}: the header says {len} body bytes, {} present", body.len())));
    }
    Ok((body, sum))
}

const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// One step of the checksum: a bijection of `h` for a fixed word and of the
/// word for a fixed `h`, so a change confined to one 8-byte word always
/// changes the result.
#[inline(always)]
fn step(h: u64, w: u64) -> u64 {
    (h.rotate_left(23) ^ w).wrapping_mul(K)
}

/// A 64-bit hash of the body, computed as it is read (each array is hashed
/// just before it is decoded, while it is in cache): eight independent
/// lanes over 64-byte blocks (several bytes a cycle), then the length, the
/// last partial block and the lanes folded into one word. Every step is a
/// bijection in the word it takes in, so any corruption within one aligned
/// 8-byte word (every single-byte flip) is detected with certainty; others
/// escape with probability about 2⁻⁶⁴. Not a defence against a forger: the
/// snapshot comes from the process's own parent through a sealed memfd.
#[derive(Clone, Debug)]
struct Checksum {
    lanes: [u64; 8],
    block: [u8; 64],
    buffered: usize,
    len: u64,
}

impl Checksum {
    fn new() -> Checksum {
        Checksum {
            lanes: [
                0x243f_6a88_85a3_08d3,
                0x1319_8a2e_0370_7344,
                0xa409_3822_299f_31d0,
                0x082e_fa98_ec4e_6c89,
                0x4528_21e6_38d0_1377,
                0xbe54_66cf_34e9_0c6c,
                0xc0ac_29b7_c97c_50dd,
                0x3f84_d5b5_b547_0917,
            ],
            block: [0; 64],
            buffered: 0,
            len: 0,
        }
    }

    #[inline(always)]
    fn block(lanes: &mut [u64; 8], block: &[u8; 64]) {
        for (lane, w) in lanes.iter_mut().zip(block.as_chunks::<8>().0) {
            *lane = step(*lane, u64::from_le_bytes(*w));
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.buffered > 0 {
            let free = self.block.get_mut(self.buffered..).unwrap_or_default();
            let n = free.len().min(data.len());
            let (head, tail) = data.split_at_checked(n).unwrap_or((data, &[]));
            for (d, s) in free.iter_mut().zip(head) {
                *d = *s;
            }
            self.buffered += n;
            data = tail;
            if self.buffered < 64 {
                return;
            }
            Checksum::block(&mut self.lanes, &self.block);
            self.buffered = 0;
        }
        let (blocks, rest) = data.as_chunks::<64>();
        // In registers for the loop, not in `self`.
        let mut lanes = self.lanes;
        for b in blocks {
            Checksum::block(&mut lanes, b);
        }
        self.lanes = lanes;
        for (d, s) in self.block.iter_mut().zip(rest) {
            *d = *s;
        }
        self.buffered = rest.len();
    }

    fn finish(&self) -> u64 {
        let tail = self.block.get(..self.buffered).unwrap_or_default();
        let (words, rest) = tail.as_chunks::<8>();
        let mut h = step(0x9216_d5d9_8979_fb1b, self.len);
        for w in words {
            h = step(h, u64::from_le_bytes(*w));
        }
        let mut last = [0u8; 8];
        for (d, s) in last.iter_mut().zip(rest) {
            *d = *s;
        }
        h = step(h, u64::from_le_bytes(last));
        for lane in self.lanes {
            h = step(h, lane);
        }
        // A final avalanche (also a bijection).
        h ^= h >> 32;
        h = h.wrapping_mul(K);
        h ^ (h >> 29)
    }
}

fn checksum(body: &[u8]) -> u64 {
    let mut c = Checksum::new();
    c.update(body);
    c.finish()
}

/// Writes a snapshot body after a header placeholder.
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Writer {
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(&SNAPSHOT_MAGIC);
        buf.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        buf.resize(HEADER, 0);
        Writer { buf }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// An array: its length, then one `N`-byte record per item.
    pub(crate) fn array<T, const N: usize>(&mut self, items: &[T], record: impl Fn(&T) -> [u8; N]) {
        self.u64(items.len() as u64);
        self.buf.reserve(items.len().saturating_mul(N));
        for item in items {
            self.buf.extend_from_slice(&record(item));
        }
    }

    pub(crate) fn u32s(&mut self, items: &[u32]) {
        self.array(items, |v| v.to_le_bytes());
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
    }
}

/// Builds a fixed-size record from its fields.
pub(crate) struct Record<const N: usize> {
    buf: [u8; N],
    at: usize,
}

impl<const N: usize> Record<N> {
    #[inline(always)]
    pub(crate) fn new() -> Record<N> {
        Record { buf: [0; N], at: 0 }
    }

    #[inline(always)]
    fn put(mut self, bytes: &[u8]) -> Record<N> {
        let end = self.at + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.at..end) {
            dst.copy_from_slice(bytes);
        }
        self.at = end;
        self
    }

    #[inline(always)]
    pub(crate) fn u8(self, v: u8) -> Record<N> {
        self.put(&[v])
    }

    #[inline(always)]
    pub(crate) fn u16(self, v: u16) -> Record<N> {
        self.put(&v.to_le_bytes())
    }

    #[inline(always)]
    pub(crate) fn u32(self, v: u32) -> Record<N> {
        self.put(&v.to_le_bytes())
    }

    #[inline(always)]
    pub(crate) fn u128(self, v: u128) -> Record<N> {
        self.put(&v.to_le_bytes())
    }

    #[inline(always)]
    pub(crate) fn done(self) -> [u8; N] {
        debug_assert_eq!(self.at, N, "record fields fill the record");
        self.buf
    }
}

/// Reads the fields of one fixed-size record in order. Reading past the end
/// gives zeros (never happens: records are read with their exact layout).
pub(crate) struct Fields<'a>(pub(crate) &'a [u8]);

impl Fields<'_> {
    #[inline(always)]
    pub(crate) fn take<const M: usize>(&mut self) -> [u8; M] {
        match self.0.split_first_chunk::<M>() {
            Some((head, tail)) => {
                self.0 = tail;
                *head
            }
            None => [0; M],
        }
    }

    #[inline(always)]
    pub(crate) fn u8(&mut self) -> u8 {
        let [b] = self.take::<1>();
        b
    }

    #[inline(always)]
    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }

    #[inline(always)]
    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }

    #[inline(always)]
    pub(crate) fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }

    #[inline(always)]
    pub(crate) fn u128(&mut self) -> u128 {
        u128::from_le_bytes(self.take())
    }
}

/// Reads a snapshot body front to back, hashing what it reads. Errors name
/// the section being read (`file`, `network`, …) and the array.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    section: &'static str,
    sum: Checksum,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Reader<'a> {
        Reader { rest: body, section: "header", sum: Checksum::new() }
    }

    pub(crate) fn section(&mut self, name: &'static str) {
        self.section = name;
    }

    pub(crate) fn fail(&self, message: impl fmt::Display) -> SnapshotError {
        SnapshotError::new(format!("{}: {message}", self.section))
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], SnapshotError> {
        match self.rest.split_at_checked(n) {
            Some((head, tail)) => {
                self.rest = tail;
                self.sum.update(head);
                Ok(head)
            }
            None => Err(self.fail(format_args!("{what}: truncated ({n} bytes needed, {} left)", self.rest.len()))),
        }
    }

    fn fixed<const N: usize>(&mut self, what: &str) -> Result<[u8; N], SnapshotError> {
        let mut f = Fields(self.take(N, what)?);
        Ok(f.take::<N>())
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8, SnapshotError> {
        let [b] = self.fixed::<1>(what)?;
        Ok(b)
    }

    pub(crate) fn u16(&mut self, what: &str) -> Result<u16, SnapshotError> {
        Ok(u16::from_le_bytes(self.fixed(what)?))
    }

    pub(crate) fn u64(&mut self, what: &str) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.fixed(what)?))
    }

    /// An element count, checked against the bytes left (each element takes
    /// at least `size` bytes), so no hostile count makes a huge allocation.
    pub(crate) fn count(&mut self, size: usize, what: &str) -> Result<usize, SnapshotError> {
        let n = self.u64(what)?;
        match usize::try_from(n) {
            Ok(n) if n <= self.rest.len() / size.max(1) => Ok(n),
            _ => Err(self.fail(format_args!(
                "{what}: {n} elements of {size} bytes do not fit in the {} bytes left",
                self.rest.len()
            ))),
        }
    }

    /// The records of an array, as `N`-byte chunks of the input.
    pub(crate) fn records<const N: usize>(&mut self, what: &str) -> Result<&'a [[u8; N]], SnapshotError> {
        let n = self.count(N, what)?;
        let bytes = self.take(n.saturating_mul(N), what)?;
        Ok(bytes.as_chunks::<N>().0)
    }

    /// An array of records, each checked by `ok` and decoded by `decode` in
    /// one branch-free pass; the first record `ok` rejects is reported with
    /// `explain`.
    pub(crate) fn array<T, const N: usize>(
        &mut self,
        what: &str,
        decode: impl Fn(&[u8; N]) -> T,
        ok: impl Fn(&[u8; N]) -> bool,
        explain: impl Fn(&[u8; N]) -> String,
    ) -> Result<Box<[T]>, SnapshotError> {
        let records = self.records::<N>(what)?;
        let mut all = true;
        let out: Box<[T]> = records
            .iter()
            .map(|r| {
                all &= ok(r);
                decode(r)
            })
            .collect();
        if all {
            return Ok(out);
        }
        match records.iter().enumerate().find(|(_, r)| !ok(r)) {
            Some((i, r)) => Err(self.fail(format_args!("{what}[{i}]: {}", explain(r)))),
            None => Ok(out),
        }
    }

    /// An array of `u32`, each checked by `ok`.
    pub(crate) fn u32s(
        &mut self,
        what: &str,
        ok: impl Fn(u32) -> bool,
        explain: impl Fn(u32) -> String,
    ) -> Result<Box<[u32]>, SnapshotError> {
        self.array(
            what,
            |r| u32::from_le_bytes(*r),
            |r| ok(u32::from_le_bytes(*r)),
            |r| explain(u32::from_le_bytes(*r)),
        )
    }

    pub(crate) fn bytes(&mut self, what: &str) -> Result<Box<[u8]>, SnapshotError> {
        let n = self.count(1, what)?;
        Ok(self.take(n, what)?.into())
    }

    /// Ends reading with the outcome of reading: the checksum (over the
    /// whole body) first, so corruption is reported as such whatever check
    /// it tripped; then the outcome; then any bytes left over.
    pub(crate) fn finish<T>(mut self, expected: u64, read: Result<T, SnapshotError>) -> Result<T, SnapshotError> {
        let left = self.rest.len();
        self.sum.update(self.rest);
        if self.sum.finish() != expected {
            return Err(SnapshotError::new("checksum mismatch: the snapshot is corrupted"));
        }
        let value = read?;
        if left != 0 {
            return Err(self.fail(format_args!("{left} trailing bytes after the last index")));
        }
        Ok(value)
    }
}

/// A record of two `u32`.
#[inline(always)]
pub(crate) fn pair(rec: &[u8; 8]) -> (u32, u32) {
    let mut f = Fields(rec);
    (f.u32(), f.u32())
}

/// A record of a byte and two `u32`.
#[inline(always)]
pub(crate) fn triple(rec: &[u8; 9]) -> (u8, u32, u32) {
    let mut f = Fields(rec);
    (f.u8(), f.u32(), f.u32())
}

/// Whether `first..end` is a span within `0..len`.
#[inline(always)]
pub(crate) fn span_ok(first: u32, end: u32, len: usize) -> bool {
    (first <= end) & (end as usize <= len)
}

pub(crate) fn span_error(first: u32, end: u32, len: usize, of: &str) -> String {
    format!("span {first}..{end} outside the {len} {of}")
}

/// Whether `off..off + len` lies within an arena of `arena` bytes.
#[inline(always)]
pub(crate) fn bytes_ok(off: u32, len: u32, arena: usize) -> bool {
    u64::from(off) + u64::from(len) <= arena as u64
}

pub(crate) fn bytes_error(off: u32, len: u32, arena: usize) -> String {
    format!("bytes {off}+{len} outside the {arena}-byte arena")
}

pub(crate) fn index_error(i: u32, len: usize, of: &str) -> String {
    format!("index {i} outside the {len} {of}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_single_word_change_changes_the_checksum() {
        let body: Vec<u8> = (0..200u32).map(|i| (i * 7) as u8).collect();
        let sum = checksum(&body);
        for i in 0..body.len() {
            for bit in 0..8 {
                let mut b = body.clone();
                b[i] ^= 1 << bit;
                assert_ne!(checksum(&b), sum, "flip of bit {bit} of byte {i}");
            }
        }
        assert_ne!(checksum(&body[..199]), sum);
        assert_ne!(checksum(b""), checksum(&[0]));
    }

    #[test]
    fn streaming_checksum_is_the_one_shot_checksum() {
        let body: Vec<u8> = (0..1000u32).map(|i| (i * 13 + i / 7) as u8).collect();
        for cuts in [&[][..], &[1, 2, 3], &[63, 64, 65], &[7, 130, 131, 500], &[0, 0, 999]] {
            let mut c = Checksum::new();
            let mut at = 0;
            for &cut in cuts {
                c.update(&body[at..cut.max(at)]);
                at = cut.max(at);
            }
            c.update(&body[at..]);
            assert_eq!(c.finish(), checksum(&body), "cuts {cuts:?}");
        }
    }

    #[test]
    fn a_corrupted_body_is_reported_as_corruption() {
        let mut w = Writer::new();
        w.u64(3);
        let mut bytes = seal(w);
        bytes[HEADER] = 9;
        let (body, sum) = open(&bytes).unwrap();
        let mut r = Reader::new(body);
        let read = r.count(1, "n");
        assert!(read.is_err(), "9 elements in 0 bytes");
        assert_eq!(r.finish(sum, read).unwrap_err().message(), "checksum mismatch: the snapshot is corrupted");
    }

    #[test]
    fn header_checks() {
        let mut w = Writer::new();
        w.u8(7);
        let bytes = seal(w);
        let (body, sum) = open(&bytes).unwrap();
        assert_eq!((body, sum), (&[7u8][..], checksum(&[7])));
        assert!(open(&bytes[..HEADER]).unwrap_err().message().contains("truncated"));
        let mut long = bytes.clone();
        long.push(0);
        assert!(open(&long).unwrap_err().message().contains("trailing"));
        let mut other = bytes.clone();
        other[8] = 1;
        assert_eq!(
            open(&other).unwrap_err().to_string(),
            "invalid policy snapshot: unsupported snapshot format version 1; this rampart reads version 3"
        );
        assert!(open(b"RAMPSNA").unwrap_err().message().contains("header"));
        assert!(open(&[0u8; 40]).unwrap_err().message().contains("magic"));
    }
}
