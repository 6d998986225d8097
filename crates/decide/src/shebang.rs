//! The `#!` line of a script, read the way the kernel reads it
//! (fs/binfmt_script.c), so the library can check the interpreter and run
//! the one it checked instead of letting the kernel look it up by name
//! after the check.

/// The kernel reads this many bytes of a file for its `#!` line
/// (`BINPRM_BUF_SIZE`); a longer line is cut there.
pub const LINE_MAX: usize = 256;

/// How many `#!` levels the library follows: older kernels stop at 4
/// (`BINPRM_MAX_RECURSION`) with `ELOOP`, newer ones at 5; the lower
/// limit fails the same calls everywhere.
pub const MAX_DEPTH: usize = 4;

/// A parsed `#!` line: borrowed from the bytes read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shebang<'a> {
    /// The interpreter, as written (relative paths are relative to the cwd).
    pub interpreter: &'a [u8],
    /// Everything after it, as one argument (the kernel does not split it).
    pub arg: Option<&'a [u8]>,
}

/// What the first bytes of a file say about it as a script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script<'a> {
    /// Not a `#!` file.
    No,
    /// A `#!` line the kernel refuses (`ENOEXEC`): nothing after `#!`, or
    /// an interpreter name cut by the end of the buffer.
    Invalid,
    Yes(Shebang<'a>),
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Parses `head`, the file's first bytes (at least [`LINE_MAX`] of them
/// when the file is that long).
pub fn parse(head: &[u8]) -> Script<'_> {
    let Some(rest) = head.strip_prefix(b"#!") else { return Script::No };
    let buf = head.get(..head.len().min(LINE_MAX)).unwrap_or(&[]);
    let line_end = buf.iter().position(|&b| b == b'\n');
    let body = match line_end {
        Some(end) => rest.get(..end.saturating_sub(2)).unwrap_or(&[]),
        None => rest.get(..buf.len().saturating_sub(2)).unwrap_or(&[]),
    };
    // A NUL ends the line too: the kernel works on C strings.
    let body = body.get(..body.iter().position(|&b| b == 0).unwrap_or(body.len())).unwrap_or(&[]);
    let start = body.iter().position(|&b| !is_blank(b)).unwrap_or(body.len());
    let body = body.get(start..).unwrap_or(&[]);
    let end = body.iter().rposition(|&b| !is_blank(b)).map_or(0, |i| i + 1);
    let body = body.get(..end).unwrap_or(&[]);
    if body.is_empty() {
        return Script::Invalid;
    }
    let name_len = body.iter().position(|&b| is_blank(b)).unwrap_or(body.len());
    // Without a newline in the buffer, the kernel only accepts the line
    // when the interpreter's name ends before the buffer does: a name cut
    // off could run some other program.
    if line_end.is_none() && name_len == body.len() && head.len() >= LINE_MAX {
        return Script::Invalid;
    }
    let interpreter = body.get(..name_len).unwrap_or(&[]);
    let after = body.get(name_len..).unwrap_or(&[]);
    let arg_start = after.iter().position(|&b| !is_blank(b)).unwrap_or(after.len());
    let arg = after.get(arg_start..).filter(|a| !a.is_empty());
    Script::Yes(Shebang { interpreter, arg })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yes(i: &[u8], a: Option<&[u8]>) -> Script<'static> {
        // The tests only compare: leak nothing, copy into statics.
        let i: &'static [u8] = std::boxed::Box::leak(i.to_vec().into_boxed_slice());
        let a = a.map(|a| &*std::boxed::Box::leak(a.to_vec().into_boxed_slice()));
        Script::Yes(Shebang { interpreter: i, arg: a })
    }

    #[test]
    fn interpreter_and_one_argument() {
        assert_eq!(parse(b"#!/bin/sh\necho hi\n"), yes(b"/bin/sh", None));
        assert_eq!(parse(b"#! /usr/bin/env  python3 -u \nprint()\n"), yes(b"/usr/bin/env", Some(b"python3 -u")));
        assert_eq!(parse(b"#!/bin/sh -e\t\n"), yes(b"/bin/sh", Some(b"-e")));
        assert_eq!(parse(b"#!./rel/interp"), yes(b"./rel/interp", None));
    }

    #[test]
    fn not_scripts_and_refused_lines() {
        assert_eq!(parse(b"\x7fELF"), Script::No);
        assert_eq!(parse(b"echo hi\n"), Script::No);
        assert_eq!(parse(b"#!\n"), Script::Invalid);
        assert_eq!(parse(b"#!   \t\nx"), Script::Invalid);
        // A NUL ends the line.
        assert_eq!(parse(b"#!/bin/sh\0 -x\n"), yes(b"/bin/sh", None));
    }

    #[test]
    fn the_line_is_cut_at_the_kernels_buffer() {
        let mut long = std::vec::Vec::from(&b"#!/bin/sh "[..]);
        long.resize(400, b'a');
        // The name ended within the buffer: the argument is cut.
        let Script::Yes(s) = parse(&long) else { panic!("{:?}", parse(&long)) };
        assert_eq!(s.interpreter, b"/bin/sh");
        assert_eq!(s.arg.map(<[u8]>::len), Some(LINE_MAX - 10));
        // The name itself runs past the buffer: refused.
        let mut name = std::vec::Vec::from(&b"#!/"[..]);
        name.resize(400, b'b');
        assert_eq!(parse(&name), Script::Invalid);
    }
}
