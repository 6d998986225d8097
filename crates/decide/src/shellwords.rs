//! `wordexp(3)`: glibc runs `/bin/sh -c` from inside libc (an internal
//! `posix_spawn` no hook sees) for every command substitution in the
//! words, with the process's `environ`. The library checks the shell as
//! a program before such a call, and makes every other call with
//! `WRDE_NOCMD`, so that words another thread rewrites after the check
//! cannot start a shell that was never checked.

/// `WRDE_NOCMD`: the caller forbids command substitution.
pub const WRDE_NOCMD: i32 = 1 << 2;

/// glibc's answer to a command substitution it may not perform (the
/// answer a refused one gets too).
pub const WRDE_CMDSUB: i32 = 4;

/// Whether `wordexp(words, .., flags)` may run a shell: command
/// substitution is allowed and the words hold `$(` or a backquote.
/// Quoting is not parsed: a `$(` inside single quotes or after a
/// backslash counts too (an unneeded check of the shell, never a
/// missed one), and so does arithmetic `$((`.
pub fn may_run_shell(words: &[u8], flags: i32) -> bool {
    flags & WRDE_NOCMD == 0 && (words.contains(&b'`') || words.windows(2).any(|w| w == b"$("))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_substitution_may_run_a_shell() {
        for words in [&b"$(id)"[..], b"`id`", b"a $(b) c", b"${X:-$(id)}", b"\"$(id)\"", b"$((1+2))", b"'$(id)'"] {
            assert!(may_run_shell(words, 0), "{:?}", core::str::from_utf8(words));
            assert!(may_run_shell(words, 0b11_1011), "the other flags change nothing");
        }
    }

    #[test]
    fn plain_words_or_nocmd_never_do() {
        for words in [&b""[..], b"a b c", b"$HOME ~/x *.txt", b"${HOME}", b"$", b"($)", b"$ (id)"] {
            assert!(!may_run_shell(words, 0), "{:?}", core::str::from_utf8(words));
        }
        assert!(!may_run_shell(b"$(id) `id`", WRDE_NOCMD));
    }
}
