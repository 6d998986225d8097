//! Absolute paths in fixed stack buffers: lexical joining and
//! normalisation, and symlink resolution through a caller's `readlink`.
//!
//! The hooks decide on the object a call really reaches. A relative path
//! is joined to the cwd (or the dirfd's path) and `..`, `.` and `//` are
//! removed lexically; when a symlink may be on the way, [`resolve`] walks
//! the path one component at a time the way the kernel does, asking
//! [`Links::read_link`] about each prefix.

use rampart_policy::PATH_MAX;

/// An absolute, normalised path (no `.`, `..`, `//` or trailing `/`) in a
/// stack buffer, always followed by a NUL byte so it can be handed to a
/// system call as it is.
pub struct PathBuf {
    buf: [u8; PATH_MAX + 1],
    len: usize,
}

/// The path does not fit in `PATH_MAX` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLong;

impl Default for PathBuf {
    fn default() -> Self {
        PathBuf::new()
    }
}

impl PathBuf {
    /// The root, `/`.
    pub const fn new() -> PathBuf {
        let mut buf = [0u8; PATH_MAX + 1];
        buf[0] = b'/';
        PathBuf { buf, len: 1 }
    }

    /// The path, without its NUL.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(b"/")
    }

    /// The path with its NUL terminator.
    pub fn with_nul(&self) -> &[u8] {
        self.buf.get(..=self.len).unwrap_or(b"/\0")
    }

    pub fn clear(&mut self) {
        self.len = 1;
        self.terminate();
    }

    fn terminate(&mut self) {
        if let Some(b) = self.buf.get_mut(self.len) {
            *b = 0;
        }
    }

    /// Replaces the path with `path` normalised; a relative `path` is
    /// taken from the root.
    pub fn set(&mut self, path: &[u8]) -> Result<(), TooLong> {
        self.clear();
        self.push(path)
    }

    /// Appends `rel`, a path relative to this one (a leading `/` is
    /// ignored), resolving `.` and `..` lexically.
    pub fn push(&mut self, rel: &[u8]) -> Result<(), TooLong> {
        for seg in rel.split(|&b| b == b'/') {
            match seg {
                b"" | b"." => {}
                b".." => self.pop(),
                _ => self.push_segment(seg)?,
            }
        }
        Ok(())
    }

    /// Appends one segment (no `/` in it).
    fn push_segment(&mut self, seg: &[u8]) -> Result<(), TooLong> {
        let start = if self.len == 1 { 1 } else { self.len + 1 };
        let end = start + seg.len();
        if end > PATH_MAX {
            return Err(TooLong);
        }
        if let Some(slash) = self.buf.get_mut(self.len).filter(|_| start > 1) {
            *slash = b'/';
        }
        match self.buf.get_mut(start..end) {
            Some(dst) => dst.copy_from_slice(seg),
            None => return Err(TooLong),
        }
        self.len = end;
        self.terminate();
        Ok(())
    }

    /// Drops the last segment (`/` stays `/`).
    pub fn pop(&mut self) {
        let cut = self.as_bytes().iter().rposition(|&b| b == b'/').unwrap_or(0);
        self.len = cut.max(1);
        self.terminate();
    }

    fn starts_with_dir(&self, dir: &[u8]) -> bool {
        let p = self.as_bytes();
        p.starts_with(dir) && (p.len() == dir.len() || p.get(dir.len()) == Some(&b'/'))
    }
}

/// True when `path` is already absolute and normalised (no `.`, `..`,
/// `//` or trailing `/`), so it can be used as it is — no copy into a
/// [`PathBuf`] (which costs zeroing 4 KiB).
pub fn is_normal(path: &[u8]) -> bool {
    if path == b"/" {
        return true;
    }
    let Some(rest) = path.strip_prefix(b"/") else { return false };
    !rest.is_empty() && rest.split(|&b| b == b'/').all(|seg| !seg.is_empty() && seg != b"." && seg != b"..")
}

/// Whether the kernel takes `path` as naming a directory: it ends in `/`,
/// or its last component is `.` or `..`. A path that does must keep
/// saying so when it is handed on resolved: `O_CREAT` of `dir/missing/`
/// fails (`EISDIR`), of `dir/missing` makes a file.
pub fn names_directory(path: &[u8]) -> bool {
    if path.ends_with(b"/") {
        return true;
    }
    let last = path.rsplit(|&b| b == b'/').next().unwrap_or(&[]);
    last == b"." || last == b".."
}

/// `resolved` spelled for the kernel so that it means what `caller` means:
/// when `caller` [names a directory](names_directory), `resolved` followed
/// by what makes the kernel require one — `/` for a trailing slash (an
/// `O_CREAT` of it fails with `EISDIR`), `/.` for a final `.` or `..` (the
/// directory must exist: `ENOENT` otherwise) — and a NUL is written to
/// `out`, and its length (with the NUL) returned. `None`: `resolved` is
/// right as it is (or the suffix does not fit, which only a path the
/// kernel rejects as too long could need).
pub fn directory_spelling(resolved: &[u8], caller: &[u8], out: &mut [u8]) -> Option<usize> {
    if !names_directory(caller) {
        return None;
    }
    let suffix: &[u8] = match (caller.ends_with(b"/"), resolved.ends_with(b"/")) {
        (true, true) => return None,
        (true, false) => b"/\0",
        (false, true) => b".\0",
        (false, false) => b"/.\0",
    };
    let n = resolved.len();
    let dst = out.get_mut(..n + suffix.len())?;
    let (body, tail) = dst.split_at_mut(n);
    body.copy_from_slice(resolved);
    tail.copy_from_slice(suffix);
    Some(n + suffix.len())
}

/// What a `readlink` of one path prefix found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkRead {
    /// It exists and is not a symlink.
    NotLink,
    /// A symlink whose target (this many bytes) was written to the buffer.
    Link(usize),
    /// It does not exist (or is not reachable): the rest of the path cannot
    /// contain links either, so it is taken lexically.
    Missing,
}

/// The `readlink(2)` the resolver uses: the hooks pass the real one, tests
/// a fake file system.
pub trait Links {
    /// Reads the link at `path_nul` (an absolute path with a trailing NUL)
    /// into `target`.
    fn read_link(&mut self, path_nul: &[u8], target: &mut [u8]) -> LinkRead;

    /// The calling process's pid: `/proc/PID` of its own is `/proc/self`
    /// (0: no such rewriting).
    fn own_pid(&mut self) -> u32 {
        0
    }
}

/// Whether `path` is `/proc/PID` for `pid`.
fn is_own_proc_dir(path: &[u8], links: &mut impl Links) -> bool {
    let Some(digits) = path.strip_prefix(b"/proc/") else { return false };
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let pid = digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    let own = links.own_pid();
    own != 0 && pid == u64::from(own)
}

/// What [`resolve`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// The path, with no symlink left in the part that exists.
    Real,
    /// The path went through the kernel's `/proc/self` (or
    /// `/proc/thread-self`), kept as it is so rules can name it; the rest
    /// is resolved. Kernel links cannot be swapped by an attacker, so the
    /// caller may open it following links.
    ProcSelf,
    /// A `/proc` link to an object that is not a path (a pipe, socket,
    /// anonymous inode or deleted file): the path is the link itself.
    Magic,
}

/// Why a path could not be resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolveError {
    /// More than 40 links, as the kernel's `ELOOP` limit.
    TooManyLinks,
    TooLong,
}

impl From<TooLong> for ResolveError {
    fn from(_: TooLong) -> ResolveError {
        ResolveError::TooLong
    }
}

/// The kernel's limit on links followed in one lookup.
const MAX_LINKS: u32 = 40;

/// Resolves `path` (absolute, in any spelling) into `out`, following every
/// symlink the way the kernel's path walk does: components left to right,
/// a link's target replacing it (from the root when absolute), `..` after
/// a link going up from where the link led. With `follow_last` false, a
/// link in the last component is not followed (`O_NOFOLLOW`, `lstat`).
pub fn resolve(
    path: &[u8],
    follow_last: bool,
    links: &mut impl Links,
    out: &mut PathBuf,
) -> Result<Resolved, ResolveError> {
    resolve_from(b"/", path, follow_last, links, out)
}

/// [`resolve`] for `path` relative to `base` (an absolute directory path
/// without links, such as the cwd): `path` is walked as written, so its
/// `..` go up from where its links led, as the kernel does. An absolute
/// `path` ignores `base`.
pub fn resolve_from(
    base: &[u8],
    path: &[u8],
    follow_last: bool,
    links: &mut impl Links,
    out: &mut PathBuf,
) -> Result<Resolved, ResolveError> {
    let mut pending = [0u8; PATH_MAX];
    let mut target = [0u8; PATH_MAX];
    let mut plen = if path.first() == Some(&b'/') {
        copy_into(&mut pending, path)?
    } else {
        let n = copy_into(&mut pending, base)?;
        let end = n + 1 + path.len();
        let (Some((slash, rest)), true) = (pending.get_mut(n..end).and_then(|d| d.split_first_mut()), end <= PATH_MAX)
        else {
            return Err(ResolveError::TooLong);
        };
        *slash = b'/';
        rest.copy_from_slice(path);
        end
    };
    let mut pos = 0usize;
    let mut hops = 0u32;
    let mut exists = true;
    let mut result = Resolved::Real;
    out.clear();
    loop {
        let rest = pending.get(pos..plen).unwrap_or(&[]);
        let Some(skip) = rest.iter().position(|&b| b != b'/') else { break };
        let rest = rest.get(skip..).unwrap_or(&[]);
        let seg_len = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
        let seg = rest.get(..seg_len).unwrap_or(&[]);
        pos += skip + seg_len;
        match seg {
            b"." => continue,
            b".." => {
                out.pop();
                continue;
            }
            _ => out.push_segment(seg)?,
        }
        let last = pending.get(pos..plen).unwrap_or(&[]).iter().all(|&b| b == b'/');
        if !exists || (last && !follow_last) {
            continue;
        }
        if out.as_bytes() == b"/proc/self" || out.as_bytes() == b"/proc/thread-self" {
            result = Resolved::ProcSelf;
            continue;
        }
        // The process's own /proc/PID is /proc/self by another name: said
        // (and matched) as /proc/self, so a rule learned in one process
        // holds in the next, whose pid differs.
        if is_own_proc_dir(out.as_bytes(), links) {
            out.pop();
            out.push_segment(b"self")?;
            result = Resolved::ProcSelf;
            continue;
        }
        let n = match links.read_link(out.with_nul(), &mut target) {
            LinkRead::NotLink => continue,
            LinkRead::Missing => {
                exists = false;
                continue;
            }
            LinkRead::Link(n) => n.min(target.len()),
        };
        hops += 1;
        if hops > MAX_LINKS {
            return Err(ResolveError::TooManyLinks);
        }
        let link = target.get(..n).unwrap_or(&[]);
        if out.starts_with_dir(b"/proc") && is_magic_target(link) {
            return Ok(Resolved::Magic);
        }
        out.pop();
        if link.first() == Some(&b'/') {
            out.clear();
        }
        // pending := link target + "/" + what was left after the link.
        let tail_len = plen - pos;
        let new_len = n + 1 + tail_len;
        if new_len > PATH_MAX {
            return Err(ResolveError::TooLong);
        }
        if let (Some((slash, body)), Some(src)) =
            (target.get_mut(n..new_len).and_then(|d| d.split_first_mut()), pending.get(pos..plen))
        {
            *slash = b'/';
            body.copy_from_slice(src);
        }
        plen = copy_into(&mut pending, target.get(..new_len).unwrap_or(&[]))?;
        pos = 0;
    }
    Ok(result)
}

/// `pipe:[123]`, `socket:[9]`, `anon_inode:[eventfd]`, `/tmp/x (deleted)`:
/// what `/proc/*/fd/N` says for objects that have no path to open.
fn is_magic_target(link: &[u8]) -> bool {
    (link.first() != Some(&b'/') && link.contains(&b':')) || link.ends_with(b" (deleted)")
}

fn copy_into(dst: &mut [u8; PATH_MAX], src: &[u8]) -> Result<usize, TooLong> {
    dst.get_mut(..src.len()).ok_or(TooLong)?.copy_from_slice(src);
    Ok(src.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::string::String;
    use std::vec::Vec;

    fn s(p: &PathBuf) -> String {
        String::from_utf8(p.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn push_and_pop_are_lexical() {
        let mut p = PathBuf::new();
        assert_eq!(s(&p), "/");
        assert_eq!(p.with_nul(), b"/\0");
        p.set(b"/var//task/./lib/../x/").unwrap();
        assert_eq!(s(&p), "/var/task/x");
        assert_eq!(p.with_nul(), b"/var/task/x\0");
        p.push(b"../../../../etc/passwd").unwrap();
        assert_eq!(s(&p), "/etc/passwd");
        p.pop();
        p.pop();
        p.pop();
        assert_eq!(s(&p), "/");
        let long = [b'a'; PATH_MAX];
        assert_eq!(p.push(&long), Err(TooLong));
        p.set(b"/").unwrap();
        p.push(&long[..PATH_MAX - 1]).unwrap();
        assert_eq!(p.as_bytes().len(), PATH_MAX);
        assert_eq!(p.push(b"b"), Err(TooLong));
    }

    /// A file system of links; every other path exists unless listed as missing.
    struct Fake {
        links: HashMap<&'static str, &'static str>,
        missing: Vec<&'static str>,
        asked: usize,
    }

    impl Links for Fake {
        fn read_link(&mut self, path_nul: &[u8], target: &mut [u8]) -> LinkRead {
            self.asked += 1;
            let path = core::str::from_utf8(&path_nul[..path_nul.len() - 1]).unwrap();
            if self.missing.iter().any(|m| path == *m || path.starts_with(&std::format!("{m}/"))) {
                return LinkRead::Missing;
            }
            match self.links.get(path) {
                Some(t) => {
                    target[..t.len()].copy_from_slice(t.as_bytes());
                    LinkRead::Link(t.len())
                }
                None => LinkRead::NotLink,
            }
        }
    }

    fn fake(links: &[(&'static str, &'static str)]) -> Fake {
        Fake { links: links.iter().copied().collect(), missing: Vec::new(), asked: 0 }
    }

    fn res(fs: &mut Fake, path: &str, follow: bool) -> Result<(Resolved, String), ResolveError> {
        let mut out = PathBuf::new();
        let r = resolve(path.as_bytes(), follow, fs, &mut out)?;
        Ok((r, s(&out)))
    }

    /// A process with pid 4242.
    struct Pid4242(Fake);

    impl Links for Pid4242 {
        fn read_link(&mut self, path_nul: &[u8], target: &mut [u8]) -> LinkRead {
            self.0.read_link(path_nul, target)
        }

        fn own_pid(&mut self) -> u32 {
            4242
        }
    }

    #[test]
    fn own_proc_dir_is_proc_self() {
        let mut fs = Pid4242(fake(&[]));
        let mut out = PathBuf::new();
        let mut res = |path: &str| {
            let r = resolve(path.as_bytes(), true, &mut fs, &mut out);
            (r, s(&out))
        };
        assert_eq!(res("/proc/4242/stat"), (Ok(Resolved::ProcSelf), "/proc/self/stat".into()));
        assert_eq!(res("/proc/4242"), (Ok(Resolved::ProcSelf), "/proc/self".into()));
        assert_eq!(res("/proc/./4242/../4242/environ"), (Ok(Resolved::ProcSelf), "/proc/self/environ".into()));
        // Another process's, or something else that looks numeric: as it is.
        assert_eq!(res("/proc/4243/stat"), (Ok(Resolved::Real), "/proc/4243/stat".into()));
        assert_eq!(res("/proc/42420/stat"), (Ok(Resolved::Real), "/proc/42420/stat".into()));
        assert_eq!(res("/tmp/proc/4242/x"), (Ok(Resolved::Real), "/tmp/proc/4242/x".into()));
        // Without a pid (the default), nothing is rewritten.
        let mut plain = fake(&[]);
        assert_eq!(res_fake(&mut plain, "/proc/4242/stat"), Ok((Resolved::Real, "/proc/4242/stat".into())));
    }

    fn res_fake(fs: &mut Fake, path: &str) -> Result<(Resolved, String), ResolveError> {
        res(fs, path, true)
    }

    #[test]
    fn follows_links_like_the_kernel() {
        let mut fs = fake(&[
            ("/lib", "usr/lib"),
            ("/var/task/link", "/etc/shadow"),
            ("/var/task/rel", "../../etc/passwd"),
            ("/a/up", ".."),
            ("/tmp/chain1", "chain2"),
            ("/tmp/chain2", "/var/task/link"),
        ]);
        let ok = |r: &str| Ok((Resolved::Real, r.into()));
        assert_eq!(res(&mut fs, "/lib/x.so", true), ok("/usr/lib/x.so"));
        assert_eq!(res(&mut fs, "/var/task/link", true), ok("/etc/shadow"));
        assert_eq!(res(&mut fs, "/var/task/link", false), ok("/var/task/link"));
        assert_eq!(res(&mut fs, "/var/task/rel", true), ok("/etc/passwd"));
        // `..` after a link goes up from where the link led, not lexically.
        assert_eq!(res(&mut fs, "/lib/../bin/sh", true), ok("/usr/bin/sh"));
        assert_eq!(res(&mut fs, "/a/up/a/up/etc", true), ok("/etc"));
        assert_eq!(res(&mut fs, "/tmp/chain1", true), ok("/etc/shadow"));
        assert_eq!(res(&mut fs, "//var/./task/../task/link/", true), ok("/etc/shadow"));
    }

    #[test]
    fn directory_spellings() {
        for p in ["d/", "d/missing/", "/", "d/.", ".", "..", "a/..", "d//"] {
            assert!(names_directory(p.as_bytes()), "{p}");
        }
        for p in ["", "d", "d/x", "d/.x", "d/..x", "/a/b"] {
            assert!(!names_directory(p.as_bytes()), "{p}");
        }
        let mut out = [0u8; 32];
        assert_eq!(directory_spelling(b"/r/d/missing", b"d/missing/", &mut out), Some(14));
        assert_eq!(&out[..14], b"/r/d/missing/\0");
        // A final `.` or `..`: the directory must exist, as the kernel's
        // walk requires (ENOENT for `missing/.`, not EISDIR).
        assert_eq!(directory_spelling(b"/r/d", b"d/x/..", &mut out), Some(7));
        assert_eq!(&out[..7], b"/r/d/.\0");
        assert_eq!(directory_spelling(b"/r/missing", b"missing/.", &mut out), Some(13));
        assert_eq!(&out[..13], b"/r/missing/.\0");
        assert_eq!(directory_spelling(b"/", b"/.", &mut out), Some(3));
        assert_eq!(&out[..3], b"/.\0");
        // The root already ends in a slash; a file name needs nothing.
        assert_eq!(directory_spelling(b"/", b"/", &mut out), None);
        assert_eq!(directory_spelling(b"/r/d/x", b"d/x", &mut out), None);
        // No room: left as it is (the kernel fails such a length anyway).
        assert_eq!(directory_spelling(b"/r/abcdef", b"x/", &mut out[..8]), None);
    }

    #[test]
    fn normal_paths() {
        for p in ["/", "/a", "/a/b.c/..d", "/a/.b"] {
            assert!(is_normal(p.as_bytes()), "{p}");
        }
        for p in ["", "a", "/a/", "//a", "/a//b", "/a/./b", "/a/..", "/."] {
            assert!(!is_normal(p.as_bytes()), "{p}");
        }
    }

    #[test]
    fn relative_paths_walk_from_the_base() {
        let mut fs = fake(&[("/r/allowed/secretdir", "../secret"), ("/lib", "usr/lib")]);
        let mut out = PathBuf::new();
        // `..` after a link goes up from the link's target, not lexically.
        let r = resolve_from(b"/r", b"allowed/secretdir/../allowed/data.txt", true, &mut fs, &mut out);
        assert_eq!((r, s(&out).as_str()), (Ok(Resolved::Real), "/r/allowed/data.txt"));
        let r = resolve_from(b"/r", b"/lib/../etc/hostname", true, &mut fs, &mut out);
        assert_eq!((r, s(&out).as_str()), (Ok(Resolved::Real), "/usr/etc/hostname"));
        let r = resolve_from(b"/", b"x", true, &mut fs, &mut out);
        assert_eq!((r, s(&out).as_str()), (Ok(Resolved::Real), "/x"));
        let long = [b'a'; PATH_MAX];
        assert_eq!(resolve_from(b"/r", &long, true, &mut fs, &mut out), Err(ResolveError::TooLong));
    }

    #[test]
    fn loops_and_lengths_fail() {
        let mut fs = fake(&[("/x", "/y"), ("/y", "/x")]);
        assert_eq!(res(&mut fs, "/x", true), Err(ResolveError::TooManyLinks));
        let mut fs = fake(&[("/x", "/x/x")]);
        assert!(res(&mut fs, "/x", true).is_err());
    }

    #[test]
    fn missing_components_stop_the_walk() {
        let mut fs = fake(&[("/tmp/new/x", "/etc/shadow")]);
        fs.missing.push("/tmp/new");
        assert_eq!(res(&mut fs, "/tmp/new/x/y", true), Ok((Resolved::Real, "/tmp/new/x/y".into())));
        // One readlink per component up to the first missing one.
        assert_eq!(fs.asked, 2);
    }

    #[test]
    fn proc_links() {
        let mut fs = fake(&[
            ("/dev/stdin", "/proc/self/fd/0"),
            ("/proc/self/fd/0", "pipe:[1234]"),
            ("/proc/self/fd/3", "/var/task/data.txt"),
            ("/proc/self/fd/4", "/tmp/gone (deleted)"),
            ("/proc/self", "999"),
        ]);
        assert_eq!(res(&mut fs, "/dev/stdin", true), Ok((Resolved::Magic, "/proc/self/fd/0".into())));
        assert_eq!(res(&mut fs, "/proc/self/fd/3", true), Ok((Resolved::ProcSelf, "/var/task/data.txt".into())));
        assert_eq!(res(&mut fs, "/proc/self/fd/4", true), Ok((Resolved::Magic, "/proc/self/fd/4".into())));
        assert_eq!(res(&mut fs, "/proc/self/environ", true), Ok((Resolved::ProcSelf, "/proc/self/environ".into())));
        // A colon outside /proc is an ordinary relative link target.
        let mut fs = fake(&[("/tmp/l", "a:b")]);
        assert_eq!(res(&mut fs, "/tmp/l", true), Ok((Resolved::Real, "/tmp/a:b".into())));
    }

    /// Compares with the kernel's own answer on a real directory tree.
    #[test]
    fn agrees_with_canonicalize() {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::symlink;
        struct Real;
        impl Links for Real {
            fn read_link(&mut self, path_nul: &[u8], target: &mut [u8]) -> LinkRead {
                let p = std::path::Path::new(std::ffi::OsStr::from_bytes(&path_nul[..path_nul.len() - 1]));
                match std::fs::read_link(p) {
                    Ok(t) => {
                        let t = t.as_os_str().as_bytes();
                        target[..t.len()].copy_from_slice(t);
                        LinkRead::Link(t.len())
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => LinkRead::Missing,
                    Err(_) => LinkRead::NotLink,
                }
            }
        }
        let dir = std::env::temp_dir().join(std::format!("rampart-decide-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b/c")).unwrap();
        std::fs::write(dir.join("a/b/c/f"), "x").unwrap();
        symlink("a/b", dir.join("ab")).unwrap();
        symlink("../..", dir.join("a/b/c/up")).unwrap();
        symlink(dir.join("a/b/c/f"), dir.join("a/abs")).unwrap();
        symlink("../../ab/c/up/b/c", dir.join("a/b/twisty")).unwrap();
        let dir = std::fs::canonicalize(&dir).unwrap();
        for rel in ["ab/c/f", "a/b/c/up/b/c/f", "a/abs", "a/b/twisty/f", "ab/../../a/b/c/up", "ab/c/up/../a/abs"] {
            let p = dir.join(rel);
            let expect = std::fs::canonicalize(&p).unwrap();
            let mut out = PathBuf::new();
            let r = resolve(p.as_os_str().as_bytes(), true, &mut Real, &mut out).unwrap();
            assert_eq!(r, Resolved::Real);
            assert_eq!(out.as_bytes(), expect.as_os_str().as_bytes(), "{rel}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
