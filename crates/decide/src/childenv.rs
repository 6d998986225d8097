//! Which entries of a child's environment come from the parent's
//! configuration: code inside the function cannot turn protection down
//! for a child by editing or dropping `LD_PRELOAD` or `RAMPART_*` (see
//! DESIGN.md, "Children").

/// Variables the parent hands down (its own values, re-injected at every
/// exec). `UV_USE_IO_URING=0` keeps a Node child's file I/O visible. The
/// refresh interval and the signing key matter to a root that replaces
/// itself by exec (it carries on fetching), and the key must not be
/// droppable by the function.
pub const INHERITED: [&[u8]; 6] = [
    b"LD_PRELOAD",
    b"RAMPART_POLICY",
    b"RAMPART_MODE",
    b"RAMPART_REFRESH_SECS",
    b"RAMPART_POLICY_KEY",
    b"UV_USE_IO_URING",
];

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
    name.starts_with(b"RAMPART_") || INHERITED.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
