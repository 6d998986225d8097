//! Which entries of a child's environment come from the parent's
//! configuration: code inside the function cannot turn protection down
//! for a child by editing or dropping `LD_PRELOAD` or `RAMPART_*`, by
//! naming a loader audit library that refuses librampart.so, or by
//! pointing the child's resolver elsewhere (see DESIGN.md, "Children").
//!
//! Also the two values only the library writes, which tell a child where
//! its root's log and policy are and how to know them: [`RootRef`]
//! (`RAMPART_SNAPSHOT`) and [`LogRef`] (`RAMPART_LOG`).

use core::fmt;

use rampart_policy::{Category, CategorySet, Mode};

/// The library's own configuration, handed down as the parent has it.
/// `UV_USE_IO_URING=0` keeps a Node child's file I/O visible. The refresh
/// interval and the signing key matter to a root that replaces itself by
/// exec (it carries on fetching), and the key must not be droppable by
/// the function.
pub const CONFIG: [&[u8]; 5] =
    [b"RAMPART_POLICY", b"RAMPART_MODE", b"RAMPART_REFRESH_SECS", b"RAMPART_POLICY_KEY", b"UV_USE_IO_URING"];

/// What glibc's loader reads that can keep librampart.so out of a child:
/// the preload list itself, and audit libraries, whose `la_objsearch` can
/// refuse to load it (and whose `la_symbind` can bind around its hooks).
/// The other `LD_*` variables ld.so honours (glibc's unsecvars.h list:
/// `LD_DEBUG`, `LD_PROFILE`, `LD_DYNAMIC_WEAK`, `LD_BIND_*`, ...) change
/// output, binding time or weak-symbol rules, none of them the preload;
/// `LD_LIBRARY_PATH` is Lambda's own and left to the code. And
/// `GCONV_PATH`, with which `iconv_open` in an allowed program loads a
/// shared object the code chose: native code in a child of code that has
/// no FFI of its own (Node.js), loaded by libc without a hooked open.
pub const LOADER: [&[u8]; 3] = [b"LD_PRELOAD", b"LD_AUDIT", b"GCONV_PATH"];

/// What glibc's resolver reads from the environment (resolv/res_init.c,
/// resolv/res_hconf.c, the unsecvars.h list): with them a child's name
/// lookups could be sent to other domains, options or alias files than
/// its root's, and a network rule that names a host would then match an
/// address the code chose.
pub const RESOLVER: [&[u8]; 8] = [
    b"LOCALDOMAIN",
    b"RES_OPTIONS",
    b"HOSTALIASES",
    b"RESOLV_HOST_CONF",
    b"RESOLV_MULTI",
    b"RESOLV_REORDER",
    b"RESOLV_ADD_TRIM_DOMAINS",
    b"RESOLV_OVERRIDE_TRIM_DOMAINS",
];

/// Every variable the parent hands down: its own value at start is
/// re-injected at every exec (`LD_PRELOAD` falls back to the library's
/// own path); a variable it did not have is removed.
pub fn inherited() -> impl Iterator<Item = &'static [u8]> {
    LOADER.into_iter().chain(CONFIG).chain(RESOLVER)
}

/// Set in every child's environment: it is not the process the wrapper
/// started (no start line, no policy refresh of its own).
pub const CHILD_MARK: &[u8] = b"RAMPART_CHILD=1";

/// The name of a `NAME=value` entry.
pub fn name_of(entry: &[u8]) -> &[u8] {
    entry.split(|&b| b == b'=').next().unwrap_or(entry)
}

/// True when a caller's entry is dropped from a child's environment
/// because the parent's configuration replaces it.
pub fn is_replaced(entry: &[u8]) -> bool {
    let name = name_of(entry);
    name.starts_with(b"RAMPART_") || inherited().any(|n| n == name)
}

/// Which file a descriptor is: `(st_dev, st_ino)`. Two descriptors with
/// the same identity reach the same file, whatever their numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// The least a process under the root may enforce when it cannot verify
/// the root's policy: the root's mode and blocked categories when nothing
/// can change them (a `RAMPART_MODE`, a local policy file), block mode for
/// every category when a refresh may switch the root to it any time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Floor {
    pub mode: Mode,
    pub block: CategorySet,
}

impl Floor {
    /// The strictest floor: what a process that knows nothing enforces.
    pub const STRICTEST: Floor = Floor { mode: Mode::Block, block: CategorySet::ALL };

    /// The floor a root hands its children, from the mode and blocked
    /// categories it runs under: those while nothing can change them;
    /// when a refresh may replace its policy, every category in block
    /// mode (or in the mode `RAMPART_MODE` fixes: `mode_override`).
    pub fn of_root(mode: Mode, block: CategorySet, refreshed: bool, mode_override: Option<Mode>) -> Floor {
        if refreshed {
            Floor { mode: mode_override.unwrap_or(Mode::Block), block: CategorySet::ALL }
        } else {
            Floor { mode, block }
        }
    }
}

/// `RAMPART_SNAPSHOT`: the root's control page (`/proc/ROOT/fd/N`), the
/// identity it must have, and the floor. Written as
/// `DEV:INO:MODE:CAT+CAT:PATH` (the path last: it is the one free part).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RootRef<'a> {
    pub control: FileId,
    pub floor: Floor,
    pub path: &'a [u8],
}

impl<'a> RootRef<'a> {
    pub fn parse(value: &'a [u8]) -> Option<RootRef<'a>> {
        let mut parts = value.splitn(5, |&b| b == b':');
        let control = FileId { dev: number(parts.next()?)?, ino: number(parts.next()?)? };
        // A root that is off publishes nothing: "off" is never a floor.
        let mode = Mode::parse(core::str::from_utf8(parts.next()?).ok()?).filter(|m| *m != Mode::Off)?;
        let block = categories(parts.next()?)?;
        let path = parts.next().filter(|p| p.starts_with(b"/"))?;
        Some(RootRef { control, floor: Floor { mode, block }, path })
    }

    /// Writes everything before the path (`DEV:INO:MODE:CATS:`); the
    /// caller appends the path bytes.
    pub fn write_prefix(&self, out: &mut impl fmt::Write) -> fmt::Result {
        write!(out, "{}:{}:{}:", self.control.dev, self.control.ino, self.floor.mode.as_str())?;
        for (i, c) in self.floor.block.iter().enumerate() {
            write!(out, "{}{}", if i == 0 { "" } else { "+" }, c.as_str())?;
        }
        out.write_str(":")
    }

    /// The root's pid, from `/proc/PID/fd/N`.
    pub fn root_pid(&self) -> Option<u32> {
        proc_fd(self.path).map(|(pid, _)| pid)
    }

    /// The descriptor number in the root, from `/proc/PID/fd/N`.
    pub fn fd(&self) -> Option<i32> {
        proc_fd(self.path).map(|(_, fd)| fd)
    }
}

/// `RAMPART_LOG`: the root's log (`/proc/ROOT/fd/N`) and the identity it
/// must have, written as `DEV:INO:PATH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRef<'a> {
    pub id: FileId,
    pub path: &'a [u8],
}

impl<'a> LogRef<'a> {
    pub fn parse(value: &'a [u8]) -> Option<LogRef<'a>> {
        let mut parts = value.splitn(3, |&b| b == b':');
        let id = FileId { dev: number(parts.next()?)?, ino: number(parts.next()?)? };
        let path = parts.next().filter(|p| p.starts_with(b"/"))?;
        Some(LogRef { id, path })
    }

    /// Writes everything before the path (`DEV:INO:`).
    pub fn write_prefix(&self, out: &mut impl fmt::Write) -> fmt::Result {
        write!(out, "{}:{}:", self.id.dev, self.id.ino)
    }

    /// The descriptor number in the root, from `/proc/PID/fd/N`.
    pub fn fd(&self) -> Option<i32> {
        proc_fd(self.path).map(|(_, fd)| fd)
    }

    pub fn root_pid(&self) -> Option<u32> {
        proc_fd(self.path).map(|(pid, _)| pid)
    }
}

fn number<T: core::str::FromStr>(b: &[u8]) -> Option<T> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    core::str::from_utf8(b).ok()?.parse().ok()
}

fn categories(b: &[u8]) -> Option<CategorySet> {
    if b.is_empty() {
        return Some(CategorySet::EMPTY);
    }
    b.split(|&c| c == b'+').map(|c| Category::parse(core::str::from_utf8(c).ok()?)).collect()
}

/// `(PID, N)` of `/proc/PID/fd/N`.
fn proc_fd(path: &[u8]) -> Option<(u32, i32)> {
    let rest = path.strip_prefix(b"/proc/")?;
    let slash = rest.iter().position(|&b| b == b'/')?;
    let (pid, fd) = (rest.get(..slash)?, rest.get(slash..)?.strip_prefix(b"/fd/")?);
    Some((number(pid)?, number(fd)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    fn root_text(r: &RootRef<'_>) -> Vec<u8> {
        let mut s = String::new();
        r.write_prefix(&mut s).expect("write");
        let mut out = s.into_bytes();
        out.extend_from_slice(r.path);
        out
    }

    fn log_text(l: &LogRef<'_>) -> Vec<u8> {
        let mut s = String::new();
        l.write_prefix(&mut s).expect("write");
        let mut out = s.into_bytes();
        out.extend_from_slice(l.path);
        out
    }

    #[test]
    fn replaced_entries() {
        assert!(is_replaced(b"LD_PRELOAD="));
        assert!(is_replaced(b"LD_PRELOAD=/evil.so"));
        assert!(is_replaced(b"RAMPART_MODE=off"));
        assert!(is_replaced(b"RAMPART_ANYTHING"));
        assert!(is_replaced(b"UV_USE_IO_URING=1"));
        assert!(!is_replaced(b"LD_PRELOADX=1"));
        assert!(!is_replaced(b"PATH=/bin"));
        assert!(!is_replaced(b"HOME"));
        assert_eq!(name_of(b"A=b=c"), b"A");
    }

    #[test]
    fn loader_variables_that_can_refuse_the_library_are_replaced() {
        assert!(is_replaced(b"LD_AUDIT=/tmp/refuse.so"));
        assert!(is_replaced(b"LD_AUDIT="));
        assert!(is_replaced(b"GCONV_PATH=/tmp/evil"));
        // Lambda sets it and the code may change it: not the library's.
        assert!(!is_replaced(b"LD_LIBRARY_PATH=/tmp"));
        assert!(!is_replaced(b"LD_BIND_NOW=1"));
        assert!(!is_replaced(b"LD_AUDITX=1"));
    }

    #[test]
    fn resolver_variables_are_replaced() {
        for entry in [
            &b"LOCALDOMAIN=evil.example"[..],
            b"RES_OPTIONS=ndots:15 attempts:1",
            b"HOSTALIASES=/tmp/aliases",
            b"RESOLV_HOST_CONF=/tmp/host.conf",
        ] {
            assert!(is_replaced(entry), "{}", String::from_utf8_lossy(entry));
        }
        assert!(!is_replaced(b"LOCALDOMAINS=x"));
    }

    #[test]
    fn every_inherited_name_is_replaced_once() {
        let names: Vec<&[u8]> = inherited().collect();
        for (i, n) in names.iter().enumerate() {
            assert!(is_replaced(n));
            assert!(!names.iter().skip(i + 1).any(|m| m == n), "{} twice", String::from_utf8_lossy(n));
        }
    }

    #[test]
    fn the_floor_is_what_the_root_may_become() {
        let file: CategorySet = [Category::File].into_iter().collect();
        // A policy file: the root stays as it is.
        assert_eq!(Floor::of_root(Mode::Alert, file, false, None), Floor { mode: Mode::Alert, block: file });
        assert_eq!(Floor::of_root(Mode::Block, file, false, None), Floor { mode: Mode::Block, block: file });
        // From S3: profile now, block anything later.
        assert_eq!(Floor::of_root(Mode::Profile, CategorySet::ALL, true, None), Floor::STRICTEST);
        assert_eq!(Floor::of_root(Mode::Block, file, true, None), Floor::STRICTEST);
        // RAMPART_MODE fixes the mode whatever S3 says.
        let alert = Floor::of_root(Mode::Alert, file, true, Some(Mode::Alert));
        assert_eq!(alert, Floor { mode: Mode::Alert, block: CategorySet::ALL });
    }

    #[test]
    fn root_ref_round_trips() {
        let block: CategorySet = [Category::File, Category::Process].into_iter().collect();
        let r = RootRef {
            control: FileId { dev: 15, ino: 4_000_000_123 },
            floor: Floor { mode: Mode::Block, block },
            path: b"/proc/123/fd/901",
        };
        let text = root_text(&r);
        assert_eq!(text, b"15:4000000123:block:file+process:/proc/123/fd/901");
        assert_eq!(RootRef::parse(&text), Some(r));
        assert_eq!(r.root_pid(), Some(123));
        assert_eq!(r.fd(), Some(901));
        let none = RootRef { floor: Floor { mode: Mode::Profile, block: CategorySet::EMPTY }, ..r };
        assert_eq!(RootRef::parse(&root_text(&none)), Some(none));
        let all = RootRef { floor: Floor::STRICTEST, ..r };
        assert_eq!(RootRef::parse(&root_text(&all)), Some(all));
    }

    #[test]
    fn root_ref_refuses_what_the_library_never_writes() {
        for bad in [
            &b""[..],
            b"/proc/1/fd/900",
            b"1:2:block:file:relative/path",
            b"1:2:strict:file:/proc/1/fd/900",
            b"1:2:off:file:/proc/1/fd/900",
            b"1:2:block:file+disk:/proc/1/fd/900",
            b"x:2:block:file:/proc/1/fd/900",
            b"1::block:file:/proc/1/fd/900",
            b"-1:2:block:file:/proc/1/fd/900",
        ] {
            assert_eq!(RootRef::parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        let odd = RootRef::parse(b"1:2:alert::/proc/x/fd/9").expect("parses");
        assert_eq!(odd.root_pid(), None);
    }

    #[test]
    fn log_ref_round_trips() {
        let l = LogRef { id: FileId { dev: 12, ino: 34 }, path: b"/proc/77/fd/900" };
        assert_eq!(log_text(&l), b"12:34:/proc/77/fd/900");
        assert_eq!(LogRef::parse(&log_text(&l)), Some(l));
        assert_eq!((l.root_pid(), l.fd()), (Some(77), Some(900)));
        assert_eq!(LogRef::parse(b"/proc/77/fd/900"), None);
        assert_eq!(LogRef::parse(b"12:34:"), None);
    }
}
