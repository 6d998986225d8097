//! The `PATH` search of `execvp`, `execvpe` and `posix_spawnp`, done before
//! the real call so the program that will run is the one checked.

use crate::paths::PathBuf;

/// glibc's search path when `PATH` is unset.
pub const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// Finds `file` (no `/` in it) in `path_var`'s directories: the first
/// candidate for which `executable` (given the path with its NUL) is true
/// is left in `out`. Empty or relative entries are taken from `cwd`.
pub fn find(
    path_var: &[u8],
    file: &[u8],
    cwd: &[u8],
    out: &mut PathBuf,
    mut executable: impl FnMut(&[u8]) -> bool,
) -> bool {
    if file.is_empty() {
        return false;
    }
    for dir in path_var.split(|&b| b == b':') {
        let ok = if dir.first() == Some(&b'/') { out.set(dir) } else { out.set(cwd).and_then(|()| out.push(dir)) };
        if ok.is_err() || out.push(file).is_err() {
            continue;
        }
        if executable(out.with_nul()) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_executable_wins() {
        let mut out = PathBuf::new();
        let exists = |p: &[u8]| p == b"/usr/bin/git\0" || p == b"/opt/bin/git\0" || p == b"/work/bin/tool\0";
        assert!(find(b"/bin:/usr/bin:/opt/bin", b"git", b"/", &mut out, exists));
        assert_eq!(out.as_bytes(), b"/usr/bin/git");
        assert!(find(b"bin::/x", b"tool", b"/work", &mut out, exists));
        assert_eq!(out.as_bytes(), b"/work/bin/tool");
        assert!(!find(DEFAULT_PATH, b"nothere", b"/", &mut out, exists));
        assert!(!find(DEFAULT_PATH, b"", b"/", &mut out, |_| true));
    }
}
