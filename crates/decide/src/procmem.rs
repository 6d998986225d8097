//! `/proc/PID/mem`: a file through which a process's memory is written
//! without `ptrace`. Opened for writing it rewrites the library's state
//! (the policy pointer, the hooks' resolved functions) from any language
//! that can open a file — Node.js included, which has no FFI. No function
//! needs it, so a write open is refused whatever the rules allow.

use core::fmt::Write;

use crate::text::StackText;

/// Whether `path` (absolute, normalised, as the resolver leaves it: a
/// process's own `/proc/PID` is written `/proc/self`) is the memory file
/// of a process or thread: `/proc/P/mem` or `/proc/P/task/T/mem`, P being
/// `self`, `thread-self` or a number, T a number.
pub fn is_process_memory(path: &[u8]) -> bool {
    let Some(rest) = path.strip_prefix(b"/proc/") else { return false };
    let mut parts = rest.split(|&b| b == b'/');
    let (Some(process), Some(next)) = (parts.next(), parts.next()) else { return false };
    if !(process == b"self" || process == b"thread-self" || is_number(process)) {
        return false;
    }
    match (next, parts.next(), parts.next(), parts.next()) {
        (b"mem", None, None, None) => true,
        (b"task", Some(thread), Some(b"mem"), None) => is_number(thread),
        _ => false,
    }
}

/// The memory file a `process_vm_writev` to `pid` writes through by
/// another door, as an event target: `/proc/self/mem` for the caller's own
/// pid (as the resolver says it), else `/proc/PID/mem`.
pub fn memory_file<const N: usize>(out: &mut StackText<N>, pid: i32, own_pid: i32) {
    if pid == own_pid {
        out.push(b"/proc/self/mem");
    } else {
        let _ = write!(out, "/proc/{pid}/mem");
    }
}

fn is_number(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_memory_file() {
        for mem in [
            &b"/proc/self/mem"[..],
            b"/proc/thread-self/mem",
            b"/proc/1/mem",
            b"/proc/4242/mem",
            b"/proc/self/task/4243/mem",
            b"/proc/4242/task/4242/mem",
        ] {
            assert!(is_process_memory(mem), "{:?}", core::str::from_utf8(mem));
        }
    }

    #[test]
    fn the_memory_file_of_a_pid() {
        let text = |pid, own| {
            let mut t = StackText::<32>::new();
            memory_file(&mut t, pid, own);
            std::string::String::from_utf8(t.as_bytes().to_vec()).unwrap()
        };
        assert_eq!(text(42, 42), "/proc/self/mem");
        assert_eq!(text(43, 42), "/proc/43/mem");
        assert_eq!(text(-1, 42), "/proc/-1/mem");
        assert!(is_process_memory(text(43, 42).as_bytes()) && is_process_memory(text(7, 7).as_bytes()));
    }

    #[test]
    fn other_proc_files_and_look_alikes_are_not() {
        for other in [
            &b"/proc/self/maps"[..],
            b"/proc/self/environ",
            b"/proc/self/fd/3",
            b"/proc/self/task/4243/maps",
            b"/proc/self/task/mem",
            b"/proc/self/task/x/mem",
            b"/proc/meminfo",
            b"/proc/mem",
            b"/proc/x1/mem",
            b"/proc//mem",
            b"/proc/self/mem/x",
            b"/proc/self/memx",
            b"/tmp/proc/self/mem",
            b"proc/self/mem",
            b"/proc/self/root/proc/self/mem",
        ] {
            assert!(!is_process_memory(other), "{:?}", core::str::from_utf8(other));
        }
    }
}
