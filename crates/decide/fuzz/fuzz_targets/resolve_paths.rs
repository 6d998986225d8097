//! Symlink resolution over a made-up file system: never panics, always
//! yields a normalised absolute path, agrees with lexical normalisation
//! when there are no links, and never leaves a link it should have
//! followed in the part of the path that exists.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rampart_decide::paths::{LinkRead, Links, PathBuf, Resolved, resolve};

#[derive(Arbitrary, Debug)]
struct Input {
    links: Vec<(String, String)>,
    missing: Vec<String>,
    path: String,
    follow_last: bool,
}

struct Fake<'a>(&'a Input);

impl Links for Fake<'_> {
    fn read_link(&mut self, path_nul: &[u8], target: &mut [u8]) -> LinkRead {
        let path = &path_nul[..path_nul.len() - 1];
        if self.0.missing.iter().any(|m| m.as_bytes() == path) {
            return LinkRead::Missing;
        }
        match self.0.links.iter().find(|(from, _)| from.as_bytes() == path) {
            Some((_, to)) => {
                let n = to.len().min(target.len());
                target[..n].copy_from_slice(&to.as_bytes()[..n]);
                LinkRead::Link(n)
            }
            None => LinkRead::NotLink,
        }
    }
}

/// Kept unresolved on purpose (see `Resolved::ProcSelf`).
fn kernel_link(p: &[u8]) -> bool {
    p == b"/proc/self" || p == b"/proc/thread-self"
}

fn normalised(p: &[u8]) -> bool {
    p == b"/"
        || (p.starts_with(b"/")
            && !p.ends_with(b"/")
            && p[1..].split(|&b| b == b'/').all(|s| !s.is_empty() && s != b"." && s != b".."))
}

fuzz_target!(|input: Input| {
    let path = format!("/{}", input.path);
    let mut out = PathBuf::new();
    let result = resolve(path.as_bytes(), input.follow_last, &mut Fake(&input), &mut out);
    assert!(normalised(out.as_bytes()), "{:?}", String::from_utf8_lossy(out.as_bytes()));
    assert_eq!(out.with_nul().last(), Some(&0));
    if input.links.is_empty() {
        let mut lexical = PathBuf::new();
        if lexical.set(path.as_bytes()).is_ok() {
            // `/proc/self` is kept as it is (the kernel's own link).
            assert!(matches!(result, Ok(Resolved::Real | Resolved::ProcSelf)), "{result:?}");
            assert_eq!(out.as_bytes(), lexical.as_bytes());
        }
    }
    if matches!(result, Ok(Resolved::Real | Resolved::ProcSelf)) && input.follow_last && input.missing.is_empty() {
        // Every prefix of the answer exists and none is a link.
        let bytes = out.as_bytes();
        for (i, &b) in bytes.iter().enumerate().skip(1) {
            if b == b'/' {
                let prefix = &bytes[..i];
                let left = !kernel_link(prefix) && input.links.iter().any(|(f, _)| f.as_bytes() == prefix);
                assert!(!left, "link left in {prefix:?}");
            }
        }
        if bytes != b"/" && !kernel_link(bytes) {
            assert!(!input.links.iter().any(|(f, _)| f.as_bytes() == bytes), "link left at the end");
        }
    }
});
