//! Path globs: `*` within one segment, `**` across segments, `?` one
//! character. Parsing normalises the text; matching is allocation-free and
//! works on bytes, because paths on Linux need not be UTF-8.

use std::fmt;

/// One `/`-separated part of a glob.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GlobSeg {
    /// Matches exactly these bytes.
    Literal(Box<[u8]>),
    /// Contains `*` or `?`; matches one path segment.
    Wild(Box<[u8]>),
    /// `**`: zero or more whole segments.
    AnyDepth,
}

/// A parsed, normalised absolute-path glob (`/var/task/**`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Glob {
    text: String,
    segs: Vec<GlobSeg>,
}

impl Glob {
    /// Parses an absolute glob. `//` and a trailing `/` are dropped; `.`,
    /// `..`, a NUL byte, and `**` inside a segment are errors.
    pub fn parse(s: &str) -> Result<Glob, String> {
        if s.is_empty() {
            return Err("empty path".into());
        }
        if !s.starts_with('/') {
            return Err("path must be absolute (start with /)".into());
        }
        // Bytes throughout: `str`'s pattern searches cost more than the
        // parse. Splitting at the ASCII `/` keeps every piece UTF-8.
        let bytes = s.as_bytes();
        if bytes.contains(&0) {
            return Err("path contains a NUL byte".into());
        }
        let shown = |seg: &[u8]| String::from_utf8_lossy(seg).into_owned();
        let mut segs = Vec::with_capacity(bytes.iter().filter(|&&b| b == b'/').count());
        let mut text = Vec::with_capacity(s.len());
        for seg in bytes.split(|&b| b == b'/').filter(|seg| !seg.is_empty()) {
            match seg {
                b"." | b".." => {
                    return Err(format!("`{}` segments are not allowed; write the path it stands for", shown(seg)));
                }
                b"**" => {
                    // `/**/**` means the same as `/**`; keep one.
                    if segs.last() != Some(&GlobSeg::AnyDepth) {
                        segs.push(GlobSeg::AnyDepth);
                        text.extend_from_slice(b"/**");
                    }
                    continue;
                }
                _ if seg.windows(2).any(|w| w == b"**") => {
                    return Err(format!(
                        "`**` must be a whole path segment (in `{}`); use `*` within a segment",
                        shown(seg)
                    ));
                }
                _ if seg.iter().any(|&b| b == b'*' || b == b'?') => segs.push(GlobSeg::Wild(seg.into())),
                _ => segs.push(GlobSeg::Literal(seg.into())),
            }
            text.push(b'/');
            text.extend_from_slice(seg);
        }
        if text.is_empty() {
            text.push(b'/');
        }
        let text = String::from_utf8(text).map_err(|_| "path is not UTF-8".to_string())?;
        Ok(Glob { text, segs })
    }

    /// The normalised text, as it should appear in a policy.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn segments(&self) -> &[GlobSeg] {
        &self.segs
    }

    /// The text of the leading literal segments (`/var/task` for
    /// `/var/task/*.py`, empty for `/**`) and how many segments it has.
    pub(crate) fn literal_prefix(&self) -> (&[u8], usize) {
        let n_lit = self.segs.iter().take_while(|s| matches!(s, GlobSeg::Literal(_))).count();
        let text = self.text.as_bytes();
        // The prefix ends at the `/` that starts segment n_lit + 1.
        let end = text.iter().enumerate().filter(|(_, b)| **b == b'/').nth(n_lit).map_or(text.len(), |(i, _)| i);
        let prefix = if n_lit == 0 { &[][..] } else { &text[..end] };
        (prefix, n_lit)
    }

    /// True when the glob has no wildcard: it names exactly one path.
    pub fn is_literal(&self) -> bool {
        self.segs.iter().all(|s| matches!(s, GlobSeg::Literal(_)))
    }

    /// Matches a normalised absolute path (no `//`, `.`, `..`, or trailing
    /// `/`; see [`crate::normalize_path`]).
    pub fn matches(&self, path: &[u8]) -> bool {
        match_segments(|i| self.segs.get(i).map(GlobSeg::as_ref), root_as_empty(path))
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The root `/` has no segments; every other normalised path is `/seg/...`.
#[inline]
pub(crate) fn root_as_empty(path: &[u8]) -> &[u8] {
    if path == b"/" { &[] } else { path }
}

/// Splits the next segment off a path remainder of the form `/a/b/c`:
/// returns (`a`, `/b/c`). Empty segments never occur in normalised paths.
#[inline]
pub(crate) fn next_segment(rest: &[u8]) -> Option<(&[u8], &[u8])> {
    let body = rest.strip_prefix(b"/")?;
    match body.iter().position(|&b| b == b'/') {
        Some(i) => Some(body.split_at(i)),
        None => Some((body, &[])),
    }
}

/// A borrowed glob segment, so the compiled index (which keeps segments in
/// one arena) and [`Glob`] share one matching routine.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SegRef<'a> {
    Literal(&'a [u8]),
    Wild(&'a [u8]),
    AnyDepth,
}

impl GlobSeg {
    pub(crate) fn as_ref(&self) -> SegRef<'_> {
        match self {
            GlobSeg::Literal(l) => SegRef::Literal(l),
            GlobSeg::Wild(w) => SegRef::Wild(w),
            GlobSeg::AnyDepth => SegRef::AnyDepth,
        }
    }
}

/// Matches glob segments (`seg(i)` is the i-th, `None` past the end)
/// against a normalised path remainder (`/a/b` or empty). `**` is handled
/// like `*` in classic wildcard matching, over segments instead of
/// characters: remember the last `**` and, on a mismatch, let it swallow
/// one more segment. Each non-`**` segment consumes exactly one path
/// segment, so this greedy scheme is exact and runs in
/// O(segments × path segments) without recursion.
pub(crate) fn match_segments<'s>(seg: impl Fn(usize) -> Option<SegRef<'s>>, path: &[u8]) -> bool {
    let mut rest = path;
    let mut si = 0;
    // (glob index after the `**`, path remainder it started at)
    let mut star: Option<(usize, &[u8])> = None;
    loop {
        match seg(si) {
            Some(SegRef::AnyDepth) => {
                si += 1;
                // A trailing `**` takes whatever is left.
                if seg(si).is_none() {
                    return true;
                }
                star = Some((si, rest));
                continue;
            }
            Some(s) => {
                if let Some((head, tail)) = next_segment(rest) {
                    let ok = match s {
                        SegRef::Literal(lit) => lit == head,
                        SegRef::Wild(pat) => match_wild(pat, head),
                        SegRef::AnyDepth => false,
                    };
                    if ok {
                        si += 1;
                        rest = tail;
                        continue;
                    }
                }
            }
            None if rest.is_empty() => return true,
            None => {}
        }
        // Mismatch: backtrack to the last `**` and let it take one more segment.
        match star {
            Some((after, from)) => match next_segment(from) {
                Some((_, tail)) => {
                    star = Some((after, tail));
                    si = after;
                    rest = tail;
                }
                None => return false,
            },
            None => return false,
        }
    }
}

/// Matches one segment pattern with `*` (any run of bytes) and `?` (one
/// character: a byte and its UTF-8 continuation bytes) against one segment
/// (or any byte string: `/` is not special here).
/// Classic greedy wildcard matching with single-star backtracking: linear
/// in practice, O(n·m) at worst, never recursive, never allocating.
pub fn match_wild(pat: &[u8], text: &[u8]) -> bool {
    let Some(star) = pat.iter().rposition(|&c| c == b'*') else {
        // No `*`: one pass, a byte for a byte and a character for a `?`.
        let mut t = 0;
        for &c in pat {
            let Some(&b) = text.get(t) else { return false };
            if c == b'?' {
                t = after_char(text, t);
            } else if b == c {
                t += 1;
            } else {
                return false;
            }
        }
        return t == text.len();
    };
    // A plain literal after the last `*` (`*.json`) must end the text, and
    // only what is before it is left to match. (A `?` spans a whole
    // character and a `*` only stops at a character's first byte, so this
    // holds for a suffix without `?` that is empty or starts a character.)
    let (head, suffix) = pat.split_at(star + 1);
    if !suffix.contains(&b'?') && suffix.first().is_none_or(|&c| c & 0xC0 != 0x80) {
        return match text.len().checked_sub(suffix.len()).and_then(|n| text.split_at_checked(n)) {
            Some((front, end)) => end == suffix && wild_loop(head, front),
            None => false,
        };
    }
    wild_loop(pat, text)
}

/// The greedy matching behind [`match_wild`].
fn wild_loop(pat: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(b'*') => {
                // A trailing `*` takes the rest (it stops at the end).
                if p + 1 == pat.len() {
                    return true;
                }
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some(b'?') => {
                p += 1;
                t = after_char(text, t);
                continue;
            }
            Some(&c) if text.get(t) == Some(&c) => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, st)) => {
                let next = after_char(text, st);
                star = Some((sp, next));
                p = sp;
                t = next;
            }
            None => return false,
        }
    }
    pat[p.min(pat.len())..].iter().all(|&c| c == b'*')
}

/// Index just past the character starting at `i` (UTF-8 continuation bytes
/// belong to the character before them).
#[inline]
fn after_char(text: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < text.len() && text[j] & 0xC0 == 0x80 {
        j += 1;
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(glob: &str, path: &str) -> bool {
        Glob::parse(glob).unwrap().matches(path.as_bytes())
    }

    #[test]
    fn parse_normalises() {
        assert_eq!(Glob::parse("/tmp//a/").unwrap().as_str(), "/tmp/a");
        assert_eq!(Glob::parse("/").unwrap().as_str(), "/");
        assert_eq!(Glob::parse("///").unwrap().as_str(), "/");
        assert_eq!(Glob::parse("/a/**/**/b").unwrap().as_str(), "/a/**/b");
        assert!(Glob::parse("/a/b").unwrap().is_literal());
        assert!(!Glob::parse("/a/*").unwrap().is_literal());
    }

    #[test]
    fn literal_prefix() {
        let p = |g: &str| {
            let g = Glob::parse(g).unwrap();
            let (prefix, n) = g.literal_prefix();
            (String::from_utf8(prefix.to_vec()).unwrap(), n)
        };
        assert_eq!(p("/var/task/*.py"), ("/var/task".into(), 2));
        assert_eq!(p("/var/task"), ("/var/task".into(), 2));
        assert_eq!(p("/**"), ("".into(), 0));
        assert_eq!(p("/"), ("".into(), 0));
        assert_eq!(p("/a/**/b"), ("/a".into(), 1));
    }

    #[test]
    fn parse_rejects() {
        for bad in ["", "tmp/a", "./a", "/a/../b", "/a/./b", "/a/b**", "/a/**x/c", "/a\0b"] {
            assert!(Glob::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn literal() {
        assert!(m("/etc/passwd", "/etc/passwd"));
        assert!(!m("/etc/passwd", "/etc/passwd2"));
        assert!(!m("/etc/passwd", "/etc"));
        assert!(!m("/etc", "/etc/passwd"));
        assert!(m("/", "/"));
        assert!(!m("/", "/etc"));
    }

    #[test]
    fn star_stays_in_segment() {
        assert!(m("/tmp/*", "/tmp/x"));
        assert!(!m("/tmp/*", "/tmp"));
        assert!(!m("/tmp/*", "/tmp/a/b"));
        assert!(m("/tmp/*.json", "/tmp/a.json"));
        assert!(m("/tmp/*.json", "/tmp/.json"));
        assert!(!m("/tmp/*.json", "/tmp/a.jsonx"));
        assert!(m("/tmp/a*b*c", "/tmp/aXbYbZc"));
        assert!(!m("/tmp/a*b*c", "/tmp/aXbYbZ"));
        assert!(m("/*/x", "/tmp/x"));
    }

    #[test]
    fn question_mark_is_one_character() {
        assert!(m("/tmp/?", "/tmp/a"));
        assert!(m("/tmp/?", "/tmp/é"));
        assert!(!m("/tmp/?", "/tmp/ab"));
        assert!(!m("/tmp/?", "/tmp"));
        assert!(m("/tmp/a?c", "/tmp/abc"));
    }

    /// `match_wild` as it was before its shortcuts: the plain greedy loop.
    fn naive_wild(pat: &[u8], text: &[u8]) -> bool {
        let (mut p, mut t) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match pat.get(p) {
                Some(b'*') => {
                    star = Some((p + 1, t));
                    p += 1;
                    continue;
                }
                Some(b'?') => {
                    p += 1;
                    t = after_char(text, t);
                    continue;
                }
                Some(&c) if text.get(t) == Some(&c) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((sp, st)) => {
                    let next = after_char(text, st);
                    star = Some((sp, next));
                    p = sp;
                    t = next;
                }
                None => return false,
            }
        }
        pat[p.min(pat.len())..].iter().all(|&c| c == b'*')
    }

    #[test]
    fn wild_shortcuts_agree_with_the_plain_loop() {
        // Every pattern and text up to 4 symbols over an alphabet with
        // wildcards, a two-byte character and a lone continuation byte.
        let alphabet: [&[u8]; 7] = [b"*", b"?", b"a", b".", "é".as_bytes(), &[0xA9], b"b"];
        let mut words: Vec<Vec<u8>> = vec![Vec::new()];
        for len in 1..=4 {
            let mut next = Vec::new();
            for w in words.iter().filter(|w| w.len() >= len - 1) {
                for a in alphabet {
                    let mut v = w.clone();
                    v.extend_from_slice(a);
                    next.push(v);
                }
            }
            words.extend(next.into_iter().filter(|v: &Vec<u8>| v.len() >= len));
        }
        words.sort();
        words.dedup();
        for pat in &words {
            for text in words.iter().filter(|t| !t.contains(&b'*')) {
                assert_eq!(match_wild(pat, text), naive_wild(pat, text), "{pat:?} {text:?}");
            }
        }
    }

    #[test]
    fn double_star_start_middle_end() {
        assert!(m("/**", "/"));
        assert!(m("/**", "/a/b/c"));
        assert!(m("/**/passwd", "/etc/passwd"));
        assert!(m("/**/passwd", "/passwd"));
        assert!(!m("/**/passwd", "/etc/passwd/x"));
        assert!(m("/var/**/x.py", "/var/x.py"));
        assert!(m("/var/**/x.py", "/var/a/b/x.py"));
        assert!(!m("/var/**/x.py", "/usr/a/x.py"));
        assert!(m("/var/task/**", "/var/task"));
        assert!(m("/var/task/**", "/var/task/a/b"));
        assert!(!m("/var/task/**", "/var/taskforce"));
        assert!(m("/a/**/b/**/c", "/a/x/b/y/z/c"));
        assert!(m("/a/**/b/**/c", "/a/b/c"));
        assert!(!m("/a/**/b/**/c", "/a/c/b"));
        assert!(m("/a/**/*.py", "/a/b/c/d.py"));
    }
}
