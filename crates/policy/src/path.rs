//! Lexical path normalisation into a caller's buffer (no allocation), so the
//! matcher sees one spelling of each path.

/// The longest path the matcher handles (Linux's `PATH_MAX`). Longer paths
/// are never allowed by a rule.
pub const PATH_MAX: usize = 4096;

/// Normalises an absolute path lexically into `out`: collapses `//`, drops
/// `.` segments and a trailing `/`, and resolves `..` against the segments
/// before it (`/..` is `/`, as the kernel treats it). Returns the length
/// written, or `None` when the path is relative or does not fit in `out`.
///
/// This does not resolve symlinks: a caller deciding on a real open must
/// also know that no symlink lies on the way (see DESIGN.md).
pub fn normalize_path(path: &[u8], out: &mut [u8]) -> Option<usize> {
    if path.first() != Some(&b'/') {
        return None;
    }
    let mut len = 0usize;
    for seg in path.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                // Drop the last segment, if any: back up to its `/`.
                while len > 0 {
                    len -= 1;
                    if out.get(len) == Some(&b'/') {
                        break;
                    }
                }
            }
            _ => {
                let end = len.checked_add(1 + seg.len())?;
                let dst = out.get_mut(len..end)?;
                let (slash, body) = dst.split_first_mut()?;
                *slash = b'/';
                body.copy_from_slice(seg);
                len = end;
            }
        }
    }
    if len == 0 {
        *out.first_mut()? = b'/';
        len = 1;
    }
    Some(len)
}

/// True when `path` is already in the form [`normalize_path`] produces. The
/// matcher checks this as it walks a path (`GlobIndex::walk`); this plain
/// form is what its tests compare with.
#[cfg(test)]
pub(crate) fn is_normalized(path: &[u8]) -> bool {
    if path == b"/" {
        return true;
    }
    if path.first() != Some(&b'/') || path.last() == Some(&b'/') {
        return false;
    }
    // Every segment after a `/` must be non-empty and not `.` or `..`.
    path[1..].split(|&b| b == b'/').all(|seg| !seg.is_empty() && seg != b"." && seg != b"..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Option<String> {
        let mut buf = [0u8; 64];
        normalize_path(p.as_bytes(), &mut buf).map(|n| String::from_utf8(buf[..n].to_vec()).unwrap())
    }

    #[test]
    fn normalises() {
        assert_eq!(norm("/").as_deref(), Some("/"));
        assert_eq!(norm("//").as_deref(), Some("/"));
        assert_eq!(norm("/a//b/").as_deref(), Some("/a/b"));
        assert_eq!(norm("/a/./b/.").as_deref(), Some("/a/b"));
        assert_eq!(norm("/a/b/../c").as_deref(), Some("/a/c"));
        assert_eq!(norm("/var/task/../../etc/shadow").as_deref(), Some("/etc/shadow"));
        assert_eq!(norm("/../../etc").as_deref(), Some("/etc"));
        assert_eq!(norm("/a/..").as_deref(), Some("/"));
        assert_eq!(norm("/a/...").as_deref(), Some("/a/..."));
        assert_eq!(norm("relative/x"), None);
        assert_eq!(norm(""), None);
        assert_eq!(norm(&format!("/{}", "x".repeat(64))), None);
        assert_eq!(norm(&format!("/{}", "x".repeat(63))).map(|s| s.len()), Some(64));
    }

    #[test]
    fn detects_normal_form() {
        for p in ["/", "/a", "/a/b", "/a/...", "/.x"] {
            assert!(is_normalized(p.as_bytes()), "{p}");
        }
        for p in ["", "a", "//", "/a/", "/a//b", "/a/./b", "/a/..", "/."] {
            assert!(!is_normalized(p.as_bytes()), "{p}");
        }
    }
}
