//! The `PATH` search of `execvp`, `execvpe` and `posix_spawnp`, done before
//! the real call so the program that will run is the one checked.

use crate::paths::PathBuf;

/// glibc's search path when `PATH` is unset.
pub const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// What one candidate of the search is, as glibc's `execvpe` finds out by
/// trying to run it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Candidate {
    /// A regular file the caller may execute: the search ends here.
    Runs,
    /// Nothing there (`ENOENT`, `ENOTDIR`...): the search goes on.
    Missing,
    /// Something that cannot be run: a directory, or a file without
    /// execute permission. glibc's exec fails with `EACCES`, remembers
    /// it, and goes on to the next directory.
    NotRunnable,
}

/// What the candidate with this `st_mode` is, `executable` being
/// `access(X_OK)`'s answer (true for directories too: hence the mode).
pub fn candidate(st_mode: u32, executable: bool) -> Candidate {
    const S_IFMT: u32 = 0o170_000;
    const S_IFREG: u32 = 0o100_000;
    if st_mode & S_IFMT == S_IFREG && executable { Candidate::Runs } else { Candidate::NotRunnable }
}

/// How the search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// The program is in `out`.
    Yes,
    /// Nothing runnable; the exec fails with `ENOENT`...
    No,
    /// ... or with `EACCES` when something not runnable was seen.
    NoPermission,
}

/// Finds `file` (no `/` in it) in `path_var`'s directories: the first
/// candidate `probe` (given the path with its NUL) says runs is left in
/// `out`. Empty or relative entries are taken from `cwd`.
pub fn find(
    path_var: &[u8],
    file: &[u8],
    cwd: &[u8],
    out: &mut PathBuf,
    mut probe: impl FnMut(&[u8]) -> Candidate,
) -> Found {
    if file.is_empty() {
        return Found::No;
    }
    let mut seen_not_runnable = false;
    for dir in path_var.split(|&b| b == b':') {
        let ok = if dir.first() == Some(&b'/') { out.set(dir) } else { out.set(cwd).and_then(|()| out.push(dir)) };
        if ok.is_err() || out.push(file).is_err() {
            continue;
        }
        match probe(out.with_nul()) {
            Candidate::Runs => return Found::Yes,
            Candidate::Missing => {}
            Candidate::NotRunnable => seen_not_runnable = true,
        }
    }
    if seen_not_runnable { Found::NoPermission } else { Found::No }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exists(p: &[u8]) -> Candidate {
        match p {
            b"/usr/bin/git\0" | b"/opt/bin/git\0" | b"/work/bin/tool\0" => Candidate::Runs,
            _ => Candidate::Missing,
        }
    }

    #[test]
    fn first_executable_wins() {
        let mut out = PathBuf::new();
        assert_eq!(find(b"/bin:/usr/bin:/opt/bin", b"git", b"/", &mut out, exists), Found::Yes);
        assert_eq!(out.as_bytes(), b"/usr/bin/git");
        assert_eq!(find(b"bin::/x", b"tool", b"/work", &mut out, exists), Found::Yes);
        assert_eq!(out.as_bytes(), b"/work/bin/tool");
        assert_eq!(find(DEFAULT_PATH, b"nothere", b"/", &mut out, exists), Found::No);
        assert_eq!(find(DEFAULT_PATH, b"", b"/", &mut out, |_| Candidate::Runs), Found::No);
    }

    #[test]
    fn a_directory_of_that_name_is_skipped_as_glibc_skips_it() {
        const DIR: u32 = 0o040_755;
        const FILE: u32 = 0o100_755;
        let fs = |p: &[u8]| match p {
            b"/first/git\0" => candidate(DIR, true),
            b"/second/git\0" => candidate(FILE, true),
            _ => Candidate::Missing,
        };
        let mut out = PathBuf::new();
        assert_eq!(find(b"/first:/second", b"git", b"/", &mut out, fs), Found::Yes);
        assert_eq!(out.as_bytes(), b"/second/git");
        // Only the directory: glibc's exec fails with EACCES, not ENOENT.
        assert_eq!(find(b"/first", b"git", b"/", &mut out, fs), Found::NoPermission);
        assert_eq!(candidate(FILE, false), Candidate::NotRunnable);
        assert_eq!(candidate(0o020_666, true), Candidate::NotRunnable);
    }
}
