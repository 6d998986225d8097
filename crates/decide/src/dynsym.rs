//! Reading a loaded object's dynamic symbol table, the pure parts: the two
//! ELF hash functions, which symbol-table entry is a lookup's answer, and
//! which objects are the C library.
//!
//! The preload library looks symbols up itself in two places where
//! `dlsym` cannot serve it: the real `dlsym` behind its own exported one,
//! and "does librampart export this name as a hook?" for lookups through
//! a handle.

/// `DT_GNU_HASH`'s hash of a symbol name (as the GNU toolchain computes it).
pub fn gnu_hash(name: &[u8]) -> u32 {
    name.iter().fold(5381u32, |h, &c| h.wrapping_mul(33).wrapping_add(u32::from(c)))
}

/// `DT_HASH`'s (System V) hash of a symbol name.
pub fn sysv_hash(name: &[u8]) -> u32 {
    let mut h = 0u32;
    for &c in name {
        h = (h << 4).wrapping_add(u32::from(c));
        let g = h & 0xf000_0000;
        if g != 0 {
            h ^= g >> 24;
        }
        h &= !g;
    }
    h
}

/// `SHN_UNDEF`: an entry that names a symbol the object needs, not one it
/// defines.
pub const SHN_UNDEF: u16 = 0;
/// The `DT_VERSYM` bit of a version that only explicit versioned lookups
/// reach (`dlsym@GLIBC_2.2.5` beside the default `dlsym@@GLIBC_2.34`).
pub const VERSYM_HIDDEN: u16 = 0x8000;

const STT_FUNC: u8 = 2;

/// Whether a symbol-table entry is the default definition of a plain
/// function: what `dlsym` (no version) would answer for its name in that
/// object, callable at its address. `versym` is the entry's `DT_VERSYM`
/// value (`None` when the object has no versions). An IFUNC's address is
/// its resolver, not the function: none of the symbols looked up this way
/// is one, and a resolver is never handed out as the function.
pub fn is_default_function(st_info: u8, st_shndx: u16, st_value: u64, versym: Option<u16>) -> bool {
    st_shndx != SHN_UNDEF && st_value != 0 && st_info & 0xf == STT_FUNC && versym.is_none_or(|v| v & VERSYM_HIDDEN == 0)
}

/// Whether a loaded object's name (`dli_fname`, `l_name`: a path or a
/// bare soname) is one of glibc's libraries whose functions the hooks
/// stand in for: libc itself, and libpthread and libdl, which before
/// glibc 2.34 define their own `open`, `connect`, `dlsym`, ... Matched on
/// the file name: `libc.so.6`, or the `libc-2.26.so` it links to.
pub fn is_c_library(object_name: &[u8]) -> bool {
    let base = object_name.rsplit(|&b| b == b'/').next().unwrap_or(object_name);
    ["libc", "libpthread", "libdl"].iter().any(|lib| {
        base.strip_prefix(lib.as_bytes())
            .is_some_and(|rest| rest.starts_with(b".so.") || (rest.starts_with(b"-2.") && rest.ends_with(b".so")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gnu_hash_matches_the_toolchain() {
        // Computed independently (a Python rendering of the same formula).
        assert_eq!(gnu_hash(b""), 0x0000_1505);
        assert_eq!(gnu_hash(b"printf"), 0x156b_2bb8);
        assert_eq!(gnu_hash(b"exit"), 0x7c96_7e3f);
        assert_eq!(gnu_hash(b"syscall"), 0xbac2_12a0);
    }

    #[test]
    fn sysv_hash_matches_the_abi() {
        // Computed independently, as above.
        assert_eq!(sysv_hash(b""), 0);
        assert_eq!(sysv_hash(b"printf"), 0x0779_05a6);
        assert_eq!(sysv_hash(b"exit"), 0x0006_cf04);
    }

    #[test]
    fn the_default_definition_of_a_function() {
        let func = 0x12; // STB_GLOBAL, STT_FUNC
        assert!(is_default_function(func, 14, 0x1000, None));
        assert!(is_default_function(func, 14, 0x1000, Some(1)));
        assert!(is_default_function(func, 14, 0x1000, Some(5)));
        assert!(!is_default_function(func, 14, 0x1000, Some(VERSYM_HIDDEN | 4)), "compat version");
        assert!(!is_default_function(func, SHN_UNDEF, 0, Some(1)), "a reference, not a definition");
        assert!(!is_default_function(0x11, 14, 0x1000, None), "an object, not a function");
        assert!(!is_default_function(0x1a, 14, 0x1000, None), "an IFUNC: its address is the resolver");
    }

    #[test]
    fn the_c_libraries_by_name() {
        for yes in [
            &b"libc.so.6"[..],
            b"/lib64/libc.so.6",
            b"/lib/x86_64-linux-gnu/libc.so.6",
            b"/lib64/libc-2.26.so",
            b"/lib64/libpthread.so.0",
            b"/lib64/libpthread-2.26.so",
            b"libdl.so.2",
        ] {
            assert!(is_c_library(yes), "{}", core::str::from_utf8(yes).unwrap_or("?"));
        }
        for no in [
            &b""[..],
            b"/opt/rampart/librampart.so",
            b"/usr/lib/libc-client.so.2007",
            b"/usr/lib/libcrypto.so.3",
            b"/usr/lib/libcap.so.2",
            b"/tmp/libc.so.6/evil.so",
            b"libdlfcn.so",
        ] {
            assert!(!is_c_library(no), "{}", core::str::from_utf8(no).unwrap_or("?"));
        }
    }
}
