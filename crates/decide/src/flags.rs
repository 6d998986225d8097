//! Open flags and `fopen` modes → the file access a call needs.
//!
//! The values are Linux's generic ones, the same on x86_64 and aarch64
//! (the two architectures the layer ships for).

use rampart_policy::Access;

pub const O_ACCMODE: i32 = 0o3;
pub const O_RDONLY: i32 = 0;
pub const O_WRONLY: i32 = 0o1;
pub const O_RDWR: i32 = 0o2;
pub const O_CREAT: i32 = 0o100;
pub const O_EXCL: i32 = 0o200;
pub const O_TRUNC: i32 = 0o1000;
pub const O_APPEND: i32 = 0o2000;
pub const O_DIRECTORY: i32 = 0o200000;
pub const O_NOFOLLOW: i32 = 0o400000;
pub const O_CLOEXEC: i32 = 0o2000000;
pub const O_PATH: i32 = 0o10000000;
/// `__O_TMPFILE | O_DIRECTORY`, as glibc defines `O_TMPFILE`.
pub const O_TMPFILE: i32 = 0o20200000;

/// The access an `open` with these flags needs: reading needs `r`;
/// writing, creating, truncating and appending need `w`. An `O_PATH`
/// descriptor reads nothing, but it can be used to reach the file, so it
/// counts as `r`.
pub fn open_access(flags: i32) -> Access {
    let mut access = match flags & O_ACCMODE {
        O_WRONLY => Access::W,
        O_RDWR => Access::RW,
        _ => Access::R,
    };
    if flags & O_PATH != 0 {
        return Access::R;
    }
    if flags & (O_CREAT | O_TRUNC | O_APPEND) != 0 || flags & O_TMPFILE == O_TMPFILE {
        access = access.union(Access::W);
    }
    access
}

/// Whether the kernel reads `mode` for these flags; `openat2` rejects a
/// non-zero mode otherwise.
pub fn takes_mode(flags: i32) -> bool {
    flags & O_CREAT != 0 || flags & O_TMPFILE == O_TMPFILE
}

/// The `open` flags glibc's `fopen` uses for a mode string (`r`, `w`, `a`,
/// optionally `+`, then any of `b`, `e` (close-on-exec), `x` (exclusive),
/// `m`, `c`, and `,ccs=...`). `None` for a mode fopen rejects (`EINVAL`).
pub fn fopen_flags(mode: &[u8]) -> Option<i32> {
    let (&first, rest) = mode.split_first()?;
    let (mut acc, mut extra) = match first {
        b'r' => (O_RDONLY, 0),
        b'w' => (O_WRONLY, O_CREAT | O_TRUNC),
        b'a' => (O_WRONLY, O_CREAT | O_APPEND),
        _ => return None,
    };
    for &c in rest {
        match c {
            b'+' => acc = O_RDWR,
            b'x' => extra |= O_EXCL,
            b'e' => extra |= O_CLOEXEC,
            b',' => break,
            _ => {}
        }
    }
    Some(acc | extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_of_flags() {
        assert_eq!(open_access(O_RDONLY), Access::R);
        assert_eq!(open_access(O_WRONLY), Access::W);
        assert_eq!(open_access(O_RDWR), Access::RW);
        assert_eq!(open_access(O_RDONLY | O_CREAT), Access::RW);
        assert_eq!(open_access(O_RDONLY | O_TRUNC), Access::RW);
        assert_eq!(open_access(O_WRONLY | O_APPEND), Access::W);
        assert_eq!(open_access(O_RDWR | O_TMPFILE), Access::RW);
        assert_eq!(open_access(O_RDONLY | O_DIRECTORY), Access::R);
        assert_eq!(open_access(O_PATH | O_NOFOLLOW), Access::R);
        assert!(takes_mode(O_CREAT) && takes_mode(O_TMPFILE | O_RDWR) && !takes_mode(O_DIRECTORY));
    }

    #[test]
    fn fopen_modes() {
        assert_eq!(fopen_flags(b"r"), Some(O_RDONLY));
        assert_eq!(fopen_flags(b"rb"), Some(O_RDONLY));
        assert_eq!(fopen_flags(b"r+"), Some(O_RDWR));
        assert_eq!(fopen_flags(b"w"), Some(O_WRONLY | O_CREAT | O_TRUNC));
        assert_eq!(fopen_flags(b"wxe"), Some(O_WRONLY | O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC));
        assert_eq!(fopen_flags(b"a+"), Some(O_RDWR | O_CREAT | O_APPEND));
        assert_eq!(fopen_flags(b"r,ccs=UTF-8"), Some(O_RDONLY));
        assert_eq!(fopen_flags(b""), None);
        assert_eq!(fopen_flags(b"q"), None);
    }
}
