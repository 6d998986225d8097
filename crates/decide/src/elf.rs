//! Is a program a static ELF? LD_PRELOAD cannot cover a program with no
//! `PT_INTERP` (no dynamic loader runs), so its exec is reported.

const PT_INTERP: u32 = 3;

/// What the first bytes of a program say about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// An ELF with a dynamic loader: covered.
    Dynamic,
    /// An ELF without one (static, or static-pie): not covered.
    Static,
    /// Not ELF (a script, whose interpreter is checked when it runs), or
    /// program headers beyond the bytes read.
    Unknown,
}

/// Reads the ELF header and program headers from `head`, the file's first
/// bytes (4 KiB covers the program headers of ordinary binaries).
pub fn classify(head: &[u8]) -> Program {
    if head.get(..4) != Some(b"\x7fELF") {
        return Program::Unknown;
    }
    let wide = match head.get(4) {
        Some(1) => false,
        Some(2) => true,
        _ => return Program::Unknown,
    };
    let big = head.get(5) == Some(&2);
    let u16_at =
        |at: usize| field::<2>(head, at).map(|b| if big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) });
    let u32_at =
        |at: usize| field::<4>(head, at).map(|b| if big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) });
    let u64_at =
        |at: usize| field::<8>(head, at).map(|b| if big { u64::from_be_bytes(b) } else { u64::from_le_bytes(b) });
    let (phoff, phentsize, phnum) =
        if wide { (u64_at(32), u16_at(54), u16_at(56)) } else { (u32_at(28).map(u64::from), u16_at(42), u16_at(44)) };
    let (Some(phoff), Some(size), Some(num)) = (phoff, phentsize, phnum) else { return Program::Unknown };
    let Ok(phoff) = usize::try_from(phoff) else { return Program::Unknown };
    for i in 0..usize::from(num) {
        let Some(at) = i.checked_mul(usize::from(size)).and_then(|off| phoff.checked_add(off)) else {
            return Program::Unknown;
        };
        match u32_at(at) {
            Some(PT_INTERP) => return Program::Dynamic,
            Some(_) => {}
            None => return Program::Unknown,
        }
    }
    Program::Static
}

fn field<const N: usize>(head: &[u8], at: usize) -> Option<[u8; N]> {
    head.get(at..at.checked_add(N)?)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(path: &str) -> std::vec::Vec<u8> {
        let mut b = std::fs::read(path).unwrap();
        b.truncate(4096);
        b
    }

    #[test]
    fn real_programs() {
        assert_eq!(classify(&head("/bin/sh")), Program::Dynamic);
        assert_eq!(classify(b"#!/bin/sh\necho hi\n"), Program::Unknown);
        assert_eq!(classify(b"\x7fELF"), Program::Unknown);
        assert_eq!(classify(&[]), Program::Unknown);
    }

    #[test]
    fn headers_without_interp_are_static() {
        // A minimal 64-bit little-endian header with one PT_LOAD.
        let mut h = [0u8; 64 + 56];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[32..40].copy_from_slice(&64u64.to_le_bytes());
        h[54..56].copy_from_slice(&56u16.to_le_bytes());
        h[56..58].copy_from_slice(&1u16.to_le_bytes());
        h[64..68].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(classify(&h), Program::Static);
        h[64..68].copy_from_slice(&PT_INTERP.to_le_bytes());
        assert_eq!(classify(&h), Program::Dynamic);
        // Headers cut off: unknown, not static.
        assert_eq!(classify(&h[..66]), Program::Unknown);
    }
}
