//! glibc's `posix_spawn_file_actions_t`, read without glibc's help.
//!
//! The type is opaque in `<spawn.h>` but its layout has not changed since
//! glibc 2.17 (posix/spawn_int.h): `{ int __allocated; int __used; struct
//! __spawn_action *__actions; int __pad[16]; }`, each action a tag and a
//! union. New tags were only ever appended: `close`, `dup2`, `open` (2.17),
//! `chdir`, `fchdir` (2.29), `closefrom` (2.34), `tcsetpgrp` (2.35). Any
//! other tag is [`Action::Unknown`] and the caller treats it as unreadable.
//!
//! Layout on LP64 (x86_64, aarch64): the tag at 0, the union at 8 (a
//! pointer aligns it), 32 bytes an action.

/// Bytes of one `struct __spawn_action`.
pub const ACTION_SIZE: usize = 32;
/// Where `__used` and `__actions` are in the actions object.
pub const USED_OFFSET: usize = 4;
pub const ACTIONS_OFFSET: usize = 8;
/// The tag of a `dup2` action (what a checked `OPEN` is rewritten to).
pub const TAG_DUP2: u32 = 1;
/// More actions than this are not read: the spawn is treated as unreadable.
pub const MAX_ACTIONS: usize = 1024;

/// One file action, with the addresses of its strings (read by the caller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Close { fd: i32 },
    Dup2 { fd: i32, newfd: i32 },
    Open { fd: i32, path: usize, oflag: i32, mode: u32 },
    Chdir { path: usize },
    Fchdir { fd: i32 },
    Closefrom { from: i32 },
    Tcsetpgrp { fd: i32 },
    Unknown(u32),
}

fn word<const N: usize>(raw: &[u8; ACTION_SIZE], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = raw.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

fn int(raw: &[u8; ACTION_SIZE], at: usize) -> i32 {
    i32::from_ne_bytes(word(raw, at))
}

fn ptr(raw: &[u8; ACTION_SIZE], at: usize) -> usize {
    u64::from_ne_bytes(word(raw, at)) as usize
}

/// Reads one action from its bytes.
pub fn parse(raw: &[u8; ACTION_SIZE]) -> Action {
    let tag = u32::from_ne_bytes(word(raw, 0));
    match tag {
        0 => Action::Close { fd: int(raw, 8) },
        TAG_DUP2 => Action::Dup2 { fd: int(raw, 8), newfd: int(raw, 12) },
        2 => Action::Open { fd: int(raw, 8), path: ptr(raw, 16), oflag: int(raw, 24), mode: int(raw, 28) as u32 },
        3 => Action::Chdir { path: ptr(raw, 8) },
        4 => Action::Fchdir { fd: int(raw, 8) },
        5 => Action::Closefrom { from: int(raw, 8) },
        6 => Action::Tcsetpgrp { fd: int(raw, 8) },
        other => Action::Unknown(other),
    }
}

impl Action {
    /// The descriptor the action writes to or closes in the child, if
    /// any: a descriptor the library execs through must be none of these.
    pub fn touched_fd(&self) -> Option<i32> {
        match *self {
            Action::Close { fd } | Action::Open { fd, .. } => Some(fd),
            Action::Dup2 { newfd, .. } => Some(newfd),
            _ => None,
        }
    }
}

/// The numbers the descriptor a spawn execs through may take: above
/// every one the actions write to or close (a `dup2` onto it must not
/// redirect the exec), and below a `closefrom`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecFdRange {
    pub low: i32,
    pub high: i32,
}

impl ExecFdRange {
    /// Nothing seen yet: from `floor` up.
    pub fn from(floor: i32) -> ExecFdRange {
        ExecFdRange { low: floor, high: i32::MAX }
    }

    pub fn see(&mut self, action: &Action) {
        if let Some(fd) = action.touched_fd() {
            self.low = self.low.max(fd.saturating_add(1));
        }
        if let Action::Closefrom { from } = *action {
            self.high = self.high.min(from);
        }
    }

    /// Whether any number is left.
    pub fn is_open(&self) -> bool {
        self.low < self.high
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(tag: u32, words: &[(usize, &[u8])]) -> [u8; ACTION_SIZE] {
        let mut r = [0u8; ACTION_SIZE];
        r[..4].copy_from_slice(&tag.to_ne_bytes());
        for (at, b) in words {
            r[*at..*at + b.len()].copy_from_slice(b);
        }
        r
    }

    #[test]
    fn every_known_tag() {
        assert_eq!(parse(&raw(0, &[(8, &7i32.to_ne_bytes())])), Action::Close { fd: 7 });
        assert_eq!(
            parse(&raw(1, &[(8, &3i32.to_ne_bytes()), (12, &1i32.to_ne_bytes())])),
            Action::Dup2 { fd: 3, newfd: 1 }
        );
        let open = raw(
            2,
            &[
                (8, &5i32.to_ne_bytes()),
                (16, &0x1234_5678u64.to_ne_bytes()),
                (24, &0o101i32.to_ne_bytes()),
                (28, &0o644u32.to_ne_bytes()),
            ],
        );
        assert_eq!(parse(&open), Action::Open { fd: 5, path: 0x1234_5678, oflag: 0o101, mode: 0o644 });
        assert_eq!(parse(&raw(3, &[(8, &0x99u64.to_ne_bytes())])), Action::Chdir { path: 0x99 });
        assert_eq!(parse(&raw(4, &[(8, &4i32.to_ne_bytes())])), Action::Fchdir { fd: 4 });
        assert_eq!(parse(&raw(5, &[(8, &10i32.to_ne_bytes())])), Action::Closefrom { from: 10 });
        assert_eq!(parse(&raw(6, &[(8, &0i32.to_ne_bytes())])), Action::Tcsetpgrp { fd: 0 });
        assert_eq!(parse(&raw(7, &[])), Action::Unknown(7));
    }

    #[test]
    fn the_exec_descriptor_avoids_what_the_actions_touch() {
        let range = |floor: i32, acts: &[Action]| {
            let mut r = ExecFdRange::from(floor);
            acts.iter().for_each(|a| r.see(a));
            r
        };
        let r = range(900, &[Action::Dup2 { fd: 900, newfd: 950 }, Action::Close { fd: 3 }]);
        assert_eq!((r.low, r.high), (951, i32::MAX));
        let r = range(3, &[Action::Closefrom { from: 50 }, Action::Open { fd: 7, path: 0, oflag: 0, mode: 0 }]);
        assert_eq!((r.low, r.high), (8, 50));
        assert!(!range(3, &[Action::Closefrom { from: 3 }]).is_open());
    }
}
