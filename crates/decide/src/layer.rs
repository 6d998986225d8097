//! The layer's own files. The wrapper puts the language shims
//! (`/opt/rampart/python`, `/opt/rampart/node`) on the runtime's path, so
//! the runtime reads them at start; like the library's other own needs
//! (DESIGN.md: they never need rules) those reads are allowed without a
//! rule and without a line. Nothing there may be written, in any mode and
//! whatever a rule allows: a write (Python trying to cache the shim's
//! bytecode) is refused, silently too, so no function code can replace a
//! shim where the layer is writable.
//!
//! The layer's root is found from the library's own path, which must have
//! the layer's shape, `ROOT/rampart/lib/ARCH/librampart.so`; a library
//! anywhere else (`rampart run` next to the binary) has no shim
//! directories.

/// The directories under the layer's root that hold the shims.
const SHIM_DIRS: [&[u8]; 2] = [b"python/", b"node/"];

/// `ROOT/rampart/` (with its slash) for a library at
/// `ROOT/rampart/lib/ARCH/librampart.so`, else `None`.
pub fn layer_root(lib_path: &[u8]) -> Option<&[u8]> {
    let dir = parent(lib_path)?; // ROOT/rampart/lib/ARCH
    if lib_path.get(dir.len()..)? != b"/librampart.so" {
        return None;
    }
    let lib = parent(dir)?; // ROOT/rampart/lib
    if dir.len() - lib.len() < 2 || !lib.ends_with(b"/lib") {
        return None;
    }
    let root = lib.get(..lib.len() - b"lib".len())?; // ROOT/rampart/
    (root.first() == Some(&b'/') && root.ends_with(b"/rampart/")).then_some(root)
}

/// `path` without its last component and the slash before it.
fn parent(path: &[u8]) -> Option<&[u8]> {
    let slash = path.iter().rposition(|&b| b == b'/')?;
    path.get(..slash)
}

/// Whether the absolute, normalised `path` is a shim file or directory of
/// the layer at `root` (from [`layer_root`]).
pub fn is_shim_path(root: &[u8], path: &[u8]) -> bool {
    let Some(rest) = path.strip_prefix(root) else { return false };
    SHIM_DIRS.iter().any(|d| rest.starts_with(d) || Some(rest) == d.strip_suffix(b"/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_found_only_in_the_layers_shape() {
        assert_eq!(layer_root(b"/opt/rampart/lib/x86_64/librampart.so"), Some(&b"/opt/rampart/"[..]));
        assert_eq!(layer_root(b"/tmp/t1/opt/rampart/lib/aarch64/librampart.so"), Some(&b"/tmp/t1/opt/rampart/"[..]));
        for other in [
            &b"/work/target/debug/librampart.so"[..],
            b"/opt/rampart/lib/librampart.so",
            b"/opt/other/lib/x86_64/librampart.so",
            b"/opt/rampart/lib/x86_64/libother.so",
            b"/opt/rampart/lib//librampart.so",
            b"rampart/lib/x86_64/librampart.so",
            b"librampart.so",
            b"",
        ] {
            assert_eq!(layer_root(other), None, "{:?}", core::str::from_utf8(other));
        }
    }

    #[test]
    fn only_the_shim_directories_are_the_layers_own() {
        let root = b"/opt/rampart/";
        for own in
            [&b"/opt/rampart/python"[..], b"/opt/rampart/python/sitecustomize.py", b"/opt/rampart/node/rampart.js"]
        {
            assert!(is_shim_path(root, own));
        }
        for other in [
            &b"/opt/rampart/wrapper"[..],
            b"/opt/rampart/pythonx/a.py",
            b"/opt/rampart/lib/x86_64/librampart.so",
            b"/opt/python/x.py",
            b"/var/task/opt/rampart/python/x.py",
        ] {
            assert!(!is_shim_path(root, other));
        }
    }
}
