//! Checked program launches. The program that runs is the one decided
//! on, whatever happens to its path in between: the path (captured once
//! by the hook) is resolved, the real file opened without following any
//! link, the decision taken on what is open, and the exec done through
//! that descriptor (`execveat(AT_EMPTY_PATH)`; `/proc/self/fd/N` for
//! `posix_spawn`, which execs from inside libc). A script's `#!`
//! interpreter is checked and run the same way, with the argv the kernel
//! would have built. All on the stack: these run in vfork children.

use std::ffi::{c_char, c_int};

use rampart_decide::childenv::is_replaced;
use rampart_decide::elf::{self, classify};
use rampart_decide::paths::{PathBuf, ResolveError, Resolved, resolve, resolve_from};
use rampart_decide::search::{self, Candidate, DEFAULT_PATH, Found};
use rampart_decide::shebang::{self, Script};
use rampart_decide::spawn::{self, Action};
use rampart_decide::text::StackText;
use rampart_policy::{Category, PATH_MAX};

use crate::ops::file::resolve_at;
use crate::ops::{Outcome, settle};
use crate::report::{self, Activity};
use crate::state::State;
use crate::sys::{self, RealLinks};

/// The most environment entries a child can be given (a Lambda function
/// has a few dozen); more fails the exec with `E2BIG`.
pub const ENV_MAX: usize = 2048;
/// The most arguments written in an event line.
const ARGV_MAX: usize = 64;
/// How many times a link swapped in between resolving and opening is
/// retried before the exec fails with `ELOOP`.
const SWAP_RETRIES: usize = 3;
/// The bytes of a program read to classify it (the program headers of
/// ordinary binaries are in their first 4 KiB; a `#!` line in 256).
const HEAD_LEN: usize = 4096;

/// Which program an exec-family call runs.
pub enum Program<'a> {
    /// A path, relative to `dirfd` (or the cwd).
    At { dirfd: c_int, path: &'a [u8], follow: bool },
    /// A name searched in `PATH` (or a path, if it has a `/`). With
    /// `shell_fallback` (the `execvp` family, not `posix_spawnp`), a file
    /// that is neither ELF nor `#!` is run by `/bin/sh`, as glibc does
    /// when the kernel answers `ENOEXEC`.
    Search { file: &'a [u8], shell_fallback: bool },
    /// An open descriptor (`fexecve`, `execveat` with `AT_EMPTY_PATH`).
    Fd(c_int),
}

/// Where relative paths start: the caller's `dirfd` (or cwd), or, for a
/// spawn whose file actions change directory, that directory.
#[derive(Clone, Copy)]
enum Base<'a> {
    Dirfd(c_int),
    Dir(&'a [u8]),
}

/// A program file opened for exec.
struct Opened {
    fd: c_int,
    /// The descriptor is ours to close (not the caller's `fexecve` fd).
    owned: bool,
}

impl Opened {
    fn close(&self) {
        if self.owned {
            // SAFETY: a descriptor this module opened and nobody else uses.
            unsafe { libc::close(self.fd) };
        }
    }

    /// The first bytes of the file; `None` when it cannot be read (an
    /// `O_PATH` descriptor: a program the caller may run but not read).
    fn head<'b>(&self, buf: &'b mut [u8; HEAD_LEN]) -> Option<&'b [u8]> {
        // SAFETY: buf is writable for its length; pread leaves the
        // descriptor's offset alone (it may be the caller's).
        let n = unsafe { libc::pread(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        buf.get(..usize::try_from(n).ok()?)
    }
}

/// The name the kernel gives a script's interpreter as the script's
/// path (`bprm->filename`): the caller's spelling, or `/dev/fd/N[/path]`.
type FileName = StackText<{ PATH_MAX + 32 }>;

/// Finds, opens and decides on the program (and, for a script, on its
/// interpreters), then calls `run` with the descriptor to exec and the
/// argv to exec it with. `Err(errno)`: denied (`EACCES`, its line
/// written) or failed the way the kernel fails such an exec.
pub fn prepare<R>(
    st: &State,
    op: &'static str,
    program: Program<'_>,
    spawn_cwd: Option<&[u8]>,
    argv: *const *const c_char,
    run: impl FnOnce(c_int, *const *const c_char) -> Result<R, c_int>,
) -> Result<R, c_int> {
    let base = spawn_cwd.map_or(Base::Dirfd(libc::AT_FDCWD), Base::Dir);
    let mut real = PathBuf::new();
    let mut filename = FileName::new();
    let mut opened = match program {
        Program::At { path: b"", .. } => return Err(libc::ENOENT),
        Program::At { dirfd, path, follow } => {
            let base = if dirfd == libc::AT_FDCWD { base } else { Base::Dirfd(dirfd) };
            if dirfd != libc::AT_FDCWD && path.first() != Some(&b'/') {
                let _ = std::fmt::Write::write_fmt(&mut filename, format_args!("/dev/fd/{dirfd}/"));
            }
            filename.push(path);
            open_program(base, path, follow, &mut real)?
        }
        Program::Search { file, .. } if file.contains(&b'/') => {
            filename.push(file);
            open_program(base, file, true, &mut real)?
        }
        Program::Search { file, .. } => {
            let mut found = PathBuf::new();
            search_path(file, spawn_cwd, &mut found)?;
            filename.push(found.as_bytes());
            open_program(Base::Dirfd(libc::AT_FDCWD), found.as_bytes(), true, &mut real)?
        }
        Program::Fd(fd) => {
            let _ = std::fmt::Write::write_fmt(&mut filename, format_args!("/dev/fd/{fd}"));
            descriptor_program(fd, &mut real)?
        }
    };
    let caller_args = CallerArgs::new(argv);
    let how = Chain {
        base,
        caller_fd: named_through_fd(&program),
        shell_fallback: matches!(program, Program::Search { shell_fallback: true, .. }),
    };
    let result = decide_chain(st, op, &mut opened, &mut real, &filename, &caller_args, how, run);
    opened.close();
    result
}

/// The descriptor a script's name goes through (`/dev/fd/N[/path]`),
/// which its interpreter must still find open after the exec.
fn named_through_fd(p: &Program<'_>) -> Option<c_int> {
    match *p {
        Program::Fd(fd) => Some(fd),
        Program::At { dirfd, path, .. } if dirfd != libc::AT_FDCWD && path.first() != Some(&b'/') => Some(dirfd),
        _ => None,
    }
}

/// The interpreters of a script, as written in their `#!` lines (each
/// level's name and optional argument), in the order they were found:
/// the script's own interpreter first.
struct Interpreters {
    names: [[u8; shebang::LINE_MAX + 1]; shebang::MAX_DEPTH],
    args: [[u8; shebang::LINE_MAX + 1]; shebang::MAX_DEPTH],
    has_arg: [bool; shebang::MAX_DEPTH],
    depth: usize,
}

/// `bytes` into `slot`, NUL-terminated (a `#!` line always fits).
fn store<'s>(slot: &'s mut [u8; shebang::LINE_MAX + 1], bytes: &[u8]) -> &'s [u8] {
    let n = bytes.len().min(shebang::LINE_MAX);
    if let (Some(dst), Some(src)) = (slot.get_mut(..n), bytes.get(..n)) {
        dst.copy_from_slice(src);
    }
    if let Some(nul) = slot.get_mut(n) {
        *nul = 0;
    }
    slot.get(..n).unwrap_or(&[])
}

/// How a program's `#!` chain is followed.
#[derive(Clone, Copy)]
struct Chain<'a> {
    /// Where a relative interpreter path starts.
    base: Base<'a>,
    /// The caller's descriptor the script's name goes through, if any.
    caller_fd: Option<c_int>,
    /// A file that is neither ELF nor `#!` runs under `/bin/sh`.
    shell_fallback: bool,
}

/// Decides on the opened program, follows its `#!` lines (each
/// interpreter decided on and opened in turn), and runs the last one.
#[allow(clippy::too_many_arguments)]
fn decide_chain<R>(
    st: &State,
    op: &'static str,
    opened: &mut Opened,
    real: &mut PathBuf,
    filename: &FileName,
    caller: &CallerArgs,
    how: Chain<'_>,
    run: impl FnOnce(c_int, *const *const c_char) -> Result<R, c_int>,
) -> Result<R, c_int> {
    let Chain { base, caller_fd, shell_fallback } = how;
    let mut head_buf = [0u8; HEAD_LEN];
    let mut interps = Interpreters {
        names: [[0; shebang::LINE_MAX + 1]; shebang::MAX_DEPTH],
        args: [[0; shebang::LINE_MAX + 1]; shebang::MAX_DEPTH],
        has_arg: [false; shebang::MAX_DEPTH],
        depth: 0,
    };
    let mut is_static = false;
    loop {
        let mut line_args: [&[u8]; ARGV_MAX] = [&[]; ARGV_MAX];
        let n = interps.line_argv(filename.as_bytes(), caller, &mut line_args);
        let a = Activity {
            cat: Category::Process,
            op,
            target: real.as_bytes(),
            access: None,
            argv: Some(line_args.get(..n).unwrap_or(&[])),
            api: None,
        };
        if let Outcome::Deny(e) = settle(st, st.matcher().allows_process(real.as_bytes()), &a) {
            return Err(e);
        }
        // Unreadable: not a script (an interpreter could not read it).
        let Some(head) = opened.head(&mut head_buf) else { break };
        is_static = classify(head) == elf::Program::Static;
        let line = match shebang::parse(head) {
            // glibc's execvp runs what the kernel refuses with ENOEXEC as
            // a shell script: `/bin/sh FILE ARGS...`, the shape of a `#!`
            // line without argument.
            Script::No if shell_fallback && interps.depth == 0 && !head.starts_with(b"\x7fELF") => {
                shebang::Shebang { interpreter: b"/bin/sh", arg: None }
            }
            Script::No => break,
            Script::Invalid => return Err(libc::ENOEXEC),
            Script::Yes(line) => line,
        };
        if interps.depth == 0
            && let Some(fd) = caller_fd
            && fd_is_cloexec(fd)
        {
            // The kernel's answer for a script named through a
            // close-on-exec descriptor: its interpreter could not open
            // /dev/fd/N[/path] once the descriptor is closed.
            return Err(libc::ENOENT);
        }
        let Some((name_slot, arg_slot)) = interps.names.get_mut(interps.depth).zip(interps.args.get_mut(interps.depth))
        else {
            return Err(libc::ELOOP);
        };
        let name = store(name_slot, line.interpreter);
        store(arg_slot, line.arg.unwrap_or(&[]));
        if let Some(has) = interps.has_arg.get_mut(interps.depth) {
            *has = line.arg.is_some();
        }
        interps.depth += 1;
        let next = open_program(base, name, true, real)?;
        opened.close();
        *opened = next;
    }
    if is_static {
        report::note_once(
            st,
            Category::Process,
            real.as_bytes(),
            "static executable: rampart cannot see its file, network or process calls",
        );
    }
    if interps.depth == 0 {
        return run(opened.fd, caller.argv);
    }
    let mut built = ArgvBuf::new();
    interps.build_argv(filename.as_bytes(), caller, &mut built)?;
    run(opened.fd, built.as_ptr())
}

impl Interpreters {
    /// The NUL-terminated name of level `i` and its argument, if any.
    fn level(&self, i: usize) -> (Option<&[u8; shebang::LINE_MAX + 1]>, Option<&[u8; shebang::LINE_MAX + 1]>) {
        let arg = self.has_arg.get(i).copied().unwrap_or(false).then(|| self.args.get(i)).flatten();
        (self.names.get(i), arg)
    }

    /// The argv the kernel gives the last interpreter: each level's name
    /// and argument (the last found first), the script's name as the
    /// caller gave it, then the caller's arguments after its argv[0].
    fn build_argv(&self, filename: &[u8], caller: &CallerArgs, out: &mut ArgvBuf) -> Result<(), c_int> {
        // The script's name, NUL-terminated in the buffer's own storage
        // (which lives until the exec).
        out.filename.push(filename);
        out.filename.push(b"\0");
        let name_ptr = out.filename.as_bytes().as_ptr().cast::<c_char>();
        let total = self.depth * 2 + 1 + caller.len.saturating_sub(1) + 1;
        out.reserve(total)?;
        for i in (0..self.depth).rev() {
            let (name, arg) = self.level(i);
            if let Some(name) = name {
                out.push(name.as_ptr().cast());
            }
            if let Some(arg) = arg {
                out.push(arg.as_ptr().cast());
            }
        }
        out.push(name_ptr);
        for i in 1..caller.len {
            out.push(caller.get(i));
        }
        out.push(std::ptr::null());
        Ok(())
    }

    /// The same, as byte strings for an event line.
    fn line_argv<'a>(&'a self, filename: &'a [u8], caller: &CallerArgs, out: &mut [&'a [u8]; ARGV_MAX]) -> usize {
        if self.depth == 0 {
            return caller.collect(0, out, 0);
        }
        let mut n = 0;
        let mut put = |b: &'a [u8], n: &mut usize| {
            if let Some(slot) = out.get_mut(*n) {
                *slot = b;
                *n += 1;
            }
        };
        for i in (0..self.depth).rev() {
            let (name, arg) = self.level(i);
            put(until_nul(name.map_or(b"".as_slice(), |l| l.as_slice())), &mut n);
            if let Some(arg) = arg {
                put(until_nul(arg), &mut n);
            }
        }
        put(filename, &mut n);
        caller.collect(1, out, n)
    }
}

fn until_nul(b: &[u8]) -> &[u8] {
    b.get(..b.iter().position(|&c| c == 0).unwrap_or(b.len())).unwrap_or(&[])
}

fn fd_is_cloexec(fd: c_int) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    flags >= 0 && flags & libc::FD_CLOEXEC != 0
}

/// Resolves `path` from `base`, opens the real file without following
/// any link, and leaves the real path in `real`. A link swapped in after
/// resolving fails the open (`ELOOP`) and the resolution is done again.
fn open_program(base: Base<'_>, path: &[u8], follow: bool, real: &mut PathBuf) -> Result<Opened, c_int> {
    for _ in 0..SWAP_RETRIES {
        let resolved = match base {
            Base::Dirfd(dirfd) => resolve_at(dirfd, path, follow, real),
            Base::Dir(dir) => Some(resolve_from(dir, path, follow, &mut RealLinks, real)),
        };
        let links_allowed = match resolved {
            None => return Err(libc::EBADF),
            Some(Err(ResolveError::TooManyLinks)) => return Err(libc::ELOOP),
            Some(Err(ResolveError::TooLong)) => return Err(libc::ENAMETOOLONG),
            Some(Ok(Resolved::Real)) => false,
            // Kernel links (/proc/self/...): nobody can swap them.
            Some(Ok(Resolved::ProcSelf | Resolved::Magic)) => true,
        };
        match open_resolved(real, links_allowed) {
            Err(libc::ELOOP) if !links_allowed => continue,
            other => return other,
        }
    }
    Err(libc::ELOOP)
}

/// Opens `real` for reading its head, or, when only execute permission
/// is granted (exec needs no more), as an `O_PATH` descriptor, which
/// `execveat` runs too.
fn open_resolved(real: &PathBuf, links_allowed: bool) -> Result<Opened, c_int> {
    // O_NONBLOCK: a FIFO at the path must not hang the exec (the kernel
    // fails it with EACCES).
    let readable = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK;
    let path_only = libc::O_PATH | libc::O_CLOEXEC;
    let open = |flags: c_int| -> Result<c_int, c_int> {
        if !links_allowed && sys::has_openat2() {
            match sys::open_no_symlinks(libc::AT_FDCWD, real.with_nul().as_ptr().cast(), flags, 0) {
                Err(libc::ENOSYS) => {}
                r => return r,
            }
        }
        // SAFETY: a NUL-terminated path; the raw call, not the hooked open.
        let fd = unsafe { crate::sys::raw_syscall!(libc::SYS_openat, libc::AT_FDCWD, real.with_nul().as_ptr(), flags) }
            as c_int;
        if fd < 0 {
            return Err(sys::errno());
        }
        if !links_allowed && !is_at(fd, real.as_bytes()) {
            // Without openat2: a link swapped in is seen after the open.
            // SAFETY: our own descriptor.
            unsafe { libc::close(fd) };
            return Err(libc::ELOOP);
        }
        Ok(fd)
    };
    let fd = match open(readable) {
        Err(libc::EACCES) => open(path_only)?,
        other => other?,
    };
    let opened = Opened { fd, owned: true };
    if let Err(e) = runnable(fd) {
        opened.close();
        return Err(e);
    }
    Ok(opened)
}

/// What the kernel refuses to run whatever the policy says (a directory,
/// a file without any execute bit) fails with its `EACCES` and no line:
/// glibc's and CPython's `PATH` searches try such names and go on.
fn runnable(fd: c_int) -> Result<(), c_int> {
    // SAFETY: st is written by fstat on an open descriptor.
    let mode = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            return Ok(());
        }
        st.st_mode
    };
    if mode & libc::S_IFMT == libc::S_IFREG && mode & 0o111 != 0 { Ok(()) } else { Err(libc::EACCES) }
}

fn is_at(fd: c_int, path: &[u8]) -> bool {
    let mut link = [0u8; PATH_MAX];
    sys::fd_path(fd, &mut link).and_then(|n| link.get(..n)) == Some(path)
}

/// `fexecve` and `execveat(AT_EMPTY_PATH)`: the caller's descriptor is
/// what runs; its current path is what is decided on.
fn descriptor_program(fd: c_int, real: &mut PathBuf) -> Result<Opened, c_int> {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(libc::EBADF);
    }
    runnable(fd)?;
    let mut link = [0u8; PATH_MAX];
    let named = match sys::fd_path(fd, &mut link) {
        Some(n) => {
            let mut abs = PathBuf::new();
            abs.set(link.get(..n).unwrap_or(b"/")).map_err(|_| libc::ENAMETOOLONG)?;
            match resolve(abs.as_bytes(), true, &mut RealLinks, real) {
                Ok(Resolved::Real | Resolved::ProcSelf) => true,
                _ => real.set(abs.as_bytes()).is_ok(),
            }
        }
        None => false,
    };
    if !named {
        // Not a path at all: named by its descriptor, which no rule allows
        // unless it names it.
        let mut text = StackText::<32>::new();
        let _ = std::fmt::Write::write_fmt(&mut text, format_args!("/proc/self/fd/{fd}"));
        real.set(text.as_bytes()).map_err(|_| libc::ENAMETOOLONG)?;
    }
    Ok(Opened { fd, owned: false })
}

/// glibc's `PATH` search: the first regular file the caller may execute.
fn search_path(file: &[u8], spawn_cwd: Option<&[u8]>, out: &mut PathBuf) -> Result<(), c_int> {
    let path_var = getenv(c"PATH").unwrap_or(DEFAULT_PATH);
    let mut cwd = PathBuf::new();
    match spawn_cwd {
        Some(dir) => cwd.set(dir).map_err(|_| libc::ENAMETOOLONG)?,
        None => {
            let _ = sys::cwd(&mut cwd);
        }
    }
    let probe = |p: &[u8]| {
        // SAFETY: p is NUL-terminated (PathBuf::with_nul); st is written
        // by stat.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::stat(p.as_ptr().cast(), &mut st) != 0 {
                return Candidate::Missing;
            }
            search::candidate(st.st_mode, libc::access(p.as_ptr().cast(), libc::X_OK) == 0)
        }
    };
    match search::find(path_var, file, cwd.as_bytes(), out, probe) {
        Found::Yes => Ok(()),
        Found::No => Err(libc::ENOENT),
        Found::NoPermission => Err(libc::EACCES),
    }
}

/// The caller's argv: NULL-terminated, or null (no arguments).
struct CallerArgs {
    argv: *const *const c_char,
    len: usize,
}

impl CallerArgs {
    fn new(argv: *const *const c_char) -> CallerArgs {
        let mut len = 0;
        if !argv.is_null() {
            // SAFETY: a NULL-terminated array (exec's contract); we stop at
            // the NULL.
            while !unsafe { *argv.add(len) }.is_null() {
                len += 1;
            }
        }
        CallerArgs { argv, len }
    }

    fn get(&self, i: usize) -> *const c_char {
        if i >= self.len {
            return std::ptr::null();
        }
        // SAFETY: i is below the array's length.
        unsafe { *self.argv.add(i) }
    }

    /// Arguments from `from` on into `out` from `at`; returns the count.
    fn collect(&self, from: usize, out: &mut [&[u8]; ARGV_MAX], at: usize) -> usize {
        let mut n = at;
        for i in from..self.len {
            let Some(slot) = out.get_mut(n) else { break };
            // SAFETY: each element is a NUL-terminated string that lives
            // until the exec.
            *slot = unsafe { sys::c_bytes(self.get(i)) };
            n += 1;
        }
        n
    }
}

/// An argv built for an interpreter: on the stack when short, in an
/// anonymous mapping when long (no allocator: vfork children).
struct ArgvBuf {
    stack: [*const c_char; 256],
    mapped: *mut *const c_char,
    mapped_len: usize,
    len: usize,
    filename: FileName,
}

impl ArgvBuf {
    fn new() -> ArgvBuf {
        ArgvBuf {
            stack: [std::ptr::null(); 256],
            mapped: std::ptr::null_mut(),
            mapped_len: 0,
            len: 0,
            filename: FileName::new(),
        }
    }

    fn reserve(&mut self, n: usize) -> Result<(), c_int> {
        if n <= self.stack.len() {
            return Ok(());
        }
        let bytes = n.checked_mul(size_of::<*const c_char>()).ok_or(libc::E2BIG)?;
        // SAFETY: a fresh private anonymous mapping, unmapped on drop.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(libc::E2BIG);
        }
        self.mapped = p.cast();
        self.mapped_len = n;
        Ok(())
    }

    fn push(&mut self, p: *const c_char) {
        if self.mapped.is_null() {
            if let Some(slot) = self.stack.get_mut(self.len) {
                *slot = p;
                self.len += 1;
            }
        } else if self.len < self.mapped_len {
            // SAFETY: within the mapping reserved for mapped_len pointers.
            unsafe { *self.mapped.add(self.len) = p };
            self.len += 1;
        }
    }

    fn as_ptr(&self) -> *const *const c_char {
        if self.mapped.is_null() { self.stack.as_ptr() } else { self.mapped.cast_const() }
    }
}

impl Drop for ArgvBuf {
    fn drop(&mut self) {
        if !self.mapped.is_null() {
            // SAFETY: the mapping made in reserve, of this size.
            unsafe { libc::munmap(self.mapped.cast(), self.mapped_len * size_of::<*const c_char>()) };
        }
    }
}

/// Runs `fd` with `argv` and `envp`; returns only on failure (-1, errno).
pub fn exec_fd(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    // SAFETY: an open descriptor, NULL-terminated arrays of C strings; the
    // raw system call (glibc before 2.34 has no execveat).
    let r = unsafe { crate::sys::raw_syscall!(libc::SYS_execveat, fd, c"".as_ptr(), argv, envp, libc::AT_EMPTY_PATH) }
        as c_int;
    if r < 0 && sys::errno() == libc::ENOSYS {
        let path = proc_fd_path(fd);
        // SAFETY: as above, through the kernel's link to the same file.
        return unsafe { crate::sys::raw_syscall!(libc::SYS_execve, path.as_bytes().as_ptr(), argv, envp) } as c_int;
    }
    r
}

/// `/proc/self/fd/N` with its NUL: a path to exactly the open file.
pub fn proc_fd_path(fd: c_int) -> StackText<32> {
    let mut text = StackText::<32>::new();
    let _ = std::fmt::Write::write_fmt(&mut text, format_args!("/proc/self/fd/{fd}\0"));
    text
}

/// In a process started through a descriptor (`execveat`, or
/// `/proc/self/fd/N` by `posix_spawn`), the kernel named it after the
/// descriptor's number (`/proc/PID/comm`, what `ps` and `top` show;
/// kernels before 6.14 for `execveat`, every kernel for the
/// `/proc/self/fd/N` path). The name is put back from argv[0], as an exec
/// by path would have given it. Called once, from the constructor.
pub fn restore_name(argv: *const *const c_char) {
    // SAFETY: getauxval only reads the auxiliary vector.
    let execfn = unsafe { libc::getauxval(libc::AT_EXECFN) } as *const c_char;
    if execfn.is_null() || argv.is_null() {
        return;
    }
    // SAFETY: AT_EXECFN points to a NUL-terminated string on the stack
    // the kernel set up.
    let name = unsafe { sys::c_bytes(execfn) };
    if !(name.starts_with(b"/dev/fd/") || name.starts_with(b"/proc/self/fd/")) {
        return;
    }
    // SAFETY: argv is the array the loader passed to the constructor.
    let arg0 = unsafe { *argv };
    if arg0.is_null() {
        return;
    }
    // SAFETY: a C string.
    let bytes = unsafe { sys::c_bytes(arg0) };
    let base = bytes.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    if base >= bytes.len() {
        return;
    }
    // SAFETY: the basename is the tail of a NUL-terminated string; the
    // kernel copies at most 15 bytes of it.
    unsafe { libc::prctl(libc::PR_SET_NAME, arg0.add(base)) };
}

/// A `posix_spawn` call's file actions, read and checked: the directory
/// relative paths start from in the child, and the descriptor numbers
/// the exec descriptor may take.
pub struct SpawnPlan {
    pub cwd: Option<PathBuf>,
    pub exec_fds: spawn::ExecFdRange,
    /// The actions with each checked `OPEN` replaced (see
    /// [`CheckedActions`]); `None` when there was nothing to replace.
    checked: Option<CheckedActions>,
}

impl SpawnPlan {
    /// The file actions to hand to the real `posix_spawn`.
    pub fn actions(&self, caller: *const libc::posix_spawn_file_actions_t) -> *const libc::posix_spawn_file_actions_t {
        self.checked.as_ref().map_or(caller, |c| (&raw const c.header).cast())
    }
}

/// glibc's `posix_spawn_file_actions_t` (see `rampart_decide::spawn`).
#[repr(C)]
struct ActionsHeader {
    allocated: c_int,
    used: c_int,
    actions: *mut u8,
    pad: [c_int; 16],
}

/// A copy of the caller's file actions in which each checked `OPEN` is a
/// `DUP2` from a descriptor the library opened on the file it checked
/// (without following links): the child gets that file, whatever happens
/// to the path after the check. In an anonymous mapping (no allocator),
/// unmapped and the descriptors closed after the spawn.
struct CheckedActions {
    header: ActionsHeader,
    map: *mut u8,
    map_len: usize,
    /// Our descriptors, after the actions in the mapping.
    fds: *mut c_int,
    fd_count: usize,
}

impl CheckedActions {
    /// Copies the `count` actions at `list`.
    fn copy(list: *const u8, count: usize) -> Result<CheckedActions, c_int> {
        let actions_len = count * spawn::ACTION_SIZE;
        let map_len = actions_len + count * size_of::<c_int>();
        // SAFETY: a fresh private anonymous mapping, unmapped on drop.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(libc::ENOMEM);
        }
        let map = map.cast::<u8>();
        // SAFETY: `count` actions are readable at `list` (glibc's array);
        // the mapping holds them, then `count` descriptors.
        let fds = unsafe {
            std::ptr::copy_nonoverlapping(list, map, actions_len);
            map.add(actions_len).cast::<c_int>()
        };
        let used = c_int::try_from(count).map_err(|_| libc::EINVAL)?;
        let header = ActionsHeader { allocated: used, used, actions: map, pad: [0; 16] };
        Ok(CheckedActions { header, map, map_len, fds, fd_count: 0 })
    }

    /// Action `i` becomes `dup2(ours, fd)`; `ours` is closed with the copy.
    fn dup_into(&mut self, i: usize, ours: c_int, fd: c_int) {
        let mut raw = [0u8; spawn::ACTION_SIZE];
        for (at, bytes) in [(0, spawn::TAG_DUP2.to_ne_bytes()), (8, ours.to_ne_bytes()), (12, fd.to_ne_bytes())] {
            if let Some(dst) = raw.get_mut(at..at + 4) {
                dst.copy_from_slice(&bytes);
            }
        }
        // SAFETY: i < the count copied; fd_count < count (one per action).
        unsafe {
            std::ptr::copy_nonoverlapping(raw.as_ptr(), self.map.add(i * spawn::ACTION_SIZE), raw.len());
            *self.fds.add(self.fd_count) = ours;
        }
        self.fd_count += 1;
    }
}

impl Drop for CheckedActions {
    fn drop(&mut self) {
        // SAFETY: our own descriptors and mapping.
        unsafe {
            for i in 0..self.fd_count {
                libc::close(*self.fds.add(i));
            }
            libc::munmap(self.map.cast(), self.map_len);
        }
    }
}

/// Opens the file a spawn's `OPEN` action names, as checked: `real`
/// (resolved, decided on) without following links unless they are the
/// kernel's own, with the caller's flags, close-on-exec in this process,
/// numbered from `low` up (above every descriptor the actions touch).
fn open_for_child(real: &PathBuf, links_allowed: bool, oflag: c_int, mode: u32, low: c_int) -> Result<c_int, c_int> {
    let flags = oflag | libc::O_CLOEXEC;
    let path = real.with_nul().as_ptr().cast::<c_char>();
    let fd = if !links_allowed && sys::has_openat2() {
        match sys::open_no_symlinks(libc::AT_FDCWD, path, flags, mode) {
            Err(libc::ENOSYS) => None,
            r => Some(r?),
        }
    } else {
        None
    };
    let fd = match fd {
        Some(fd) => fd,
        None => {
            // SAFETY: a NUL-terminated path; the raw call, not the hooked open.
            let fd = unsafe { crate::sys::raw_syscall!(libc::SYS_openat, libc::AT_FDCWD, path, flags, mode) } as c_int;
            if fd < 0 {
                return Err(sys::errno());
            }
            if !links_allowed && !is_at(fd, real.as_bytes()) {
                // SAFETY: our own descriptor.
                unsafe { libc::close(fd) };
                return Err(libc::ELOOP);
            }
            fd
        }
    };
    // SAFETY: fcntl and close on our own descriptor.
    let high = unsafe {
        let high = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, low.max(sys::HIGH_FD));
        let high = if high < 0 { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, low) } else { high };
        libc::close(fd);
        high
    };
    if high < 0 { Err(libc::EMFILE) } else { Ok(high) }
}

/// What a pass over a spawn's file actions does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ActionsPass {
    /// Before the program is decided on: where the child's relative
    /// paths start, which descriptor numbers are free, and whether every
    /// action can be read. Nothing is opened.
    Layout,
    /// Once the program is allowed: each `OPEN` decided on and opened for
    /// the child (so a denied spawn creates or truncates nothing).
    Opens,
}

/// Reads the file actions (glibc's layout: `rampart_decide::spawn`),
/// follows `CHDIR`/`FCHDIR`, and, in the [`ActionsPass::Opens`] pass,
/// decides on each `OPEN` as the open it is; an action it cannot read is
/// denied in block mode (with a line naming the program).
pub fn check_spawn_actions(
    st: &State,
    op: &'static str,
    program: &[u8],
    actions: *const libc::posix_spawn_file_actions_t,
    argv: *const *const c_char,
    pass: ActionsPass,
) -> Result<SpawnPlan, c_int> {
    let mut plan = SpawnPlan { cwd: None, exec_fds: spawn::ExecFdRange::from(3), checked: None };
    if actions.is_null() {
        return Ok(plan);
    }
    let base = actions.cast::<u8>();
    // SAFETY: a posix_spawn_file_actions_t initialised by glibc (the
    // caller's contract); its first fields are __allocated, __used and
    // the __actions pointer (glibc 2.17 to today).
    let (used, list) = unsafe {
        (
            base.add(spawn::USED_OFFSET).cast::<c_int>().read_unaligned(),
            base.add(spawn::ACTIONS_OFFSET).cast::<*const u8>().read_unaligned(),
        )
    };
    let count = usize::try_from(used).unwrap_or(usize::MAX);
    let unreadable = |st: &State| -> Result<(), c_int> {
        let mut args: [&[u8]; ARGV_MAX] = [&[]; ARGV_MAX];
        let n = CallerArgs::new(argv).collect(0, &mut args, 0);
        let a = Activity {
            cat: Category::Process,
            op,
            target: program,
            access: None,
            argv: Some(args.get(..n).unwrap_or(&[])),
            api: None,
        };
        match settle(st, false, &a) {
            Outcome::Deny(e) => Err(e),
            _ => Ok(()),
        }
    };
    if count > spawn::MAX_ACTIONS || (count > 0 && list.is_null()) {
        if pass == ActionsPass::Layout {
            unreadable(st)?;
        }
        return Ok(plan);
    }
    let read = |i: usize| -> Action {
        let mut raw = [0u8; spawn::ACTION_SIZE];
        // SAFETY: i < __used, within glibc's array of actions.
        unsafe { std::ptr::copy_nonoverlapping(list.add(i * spawn::ACTION_SIZE), raw.as_mut_ptr(), raw.len()) };
        spawn::parse(&raw)
    };
    for i in 0..count {
        plan.exec_fds.see(&read(i));
    }
    let mut cwd = PathBuf::new();
    let mut moved = false;
    let mut real = PathBuf::new();
    for i in 0..count {
        match read(i) {
            Action::Open { fd, path, oflag, mode } if pass == ActionsPass::Opens => {
                // SAFETY: glibc keeps the action's path as a C string.
                let path = unsafe { sys::c_bytes(path as *const c_char) };
                let links_allowed =
                    spawn_resolve(moved.then_some(cwd.as_bytes()), path, oflag & libc::O_NOFOLLOW == 0, &mut real)?;
                let access = rampart_decide::flags::open_access(oflag);
                // As any open: the layer's shims and process memory are
                // refused for writing whatever the rules say (a spawned
                // child shares its parent's memory until it execs, so its
                // /proc/self/mem is the parent's).
                if let Outcome::Deny(e) = crate::ops::file::decide(st, op, real.as_bytes(), access) {
                    return Err(e);
                }
                // An O_CLOEXEC open reaches nothing past the exec; a dup2
                // would keep it open there. Those keep their OPEN.
                if oflag & libc::O_CLOEXEC == 0 && plan.exec_fds.is_open() {
                    let ours = open_for_child(&real, links_allowed, oflag, mode, plan.exec_fds.low)?;
                    if ours >= plan.exec_fds.high {
                        // SAFETY: our own descriptor.
                        unsafe { libc::close(ours) };
                    } else {
                        if plan.checked.is_none() {
                            plan.checked = Some(CheckedActions::copy(list, count)?);
                        }
                        if let Some(checked) = plan.checked.as_mut() {
                            checked.dup_into(i, ours, fd);
                        }
                    }
                }
            }
            Action::Chdir { path } => {
                // SAFETY: as above.
                let path = unsafe { sys::c_bytes(path as *const c_char) };
                spawn_resolve(moved.then_some(cwd.as_bytes()), path, true, &mut real)?;
                cwd.set(real.as_bytes()).map_err(|_| libc::ENAMETOOLONG)?;
                moved = true;
            }
            Action::Fchdir { fd } => {
                // A directory opened by an earlier action, or one of the
                // caller's descriptors.
                let mut from_action = false;
                for j in (0..i).rev() {
                    if let Action::Open { fd: opened, path, .. } = read(j)
                        && opened == fd
                    {
                        // SAFETY: as above.
                        let path = unsafe { sys::c_bytes(path as *const c_char) };
                        spawn_resolve(moved.then_some(cwd.as_bytes()), path, true, &mut real)?;
                        from_action = true;
                        break;
                    }
                }
                if !from_action {
                    let mut link = [0u8; PATH_MAX];
                    let n = sys::fd_path(fd, &mut link).ok_or(libc::EBADF)?;
                    real.set(link.get(..n).unwrap_or(b"/")).map_err(|_| libc::ENAMETOOLONG)?;
                }
                cwd.set(real.as_bytes()).map_err(|_| libc::ENAMETOOLONG)?;
                moved = true;
            }
            Action::Close { .. } | Action::Dup2 { .. } | Action::Closefrom { .. } | Action::Tcsetpgrp { .. } => {}
            Action::Unknown(_) if pass == ActionsPass::Layout => unreadable(st)?,
            Action::Open { .. } | Action::Unknown(_) => {}
        }
    }
    if moved {
        plan.cwd = Some(cwd);
    }
    Ok(plan)
}

/// `path` resolved as the spawned child will see it: from the directory
/// the actions moved to, or the caller's cwd. `Ok(true)`: it goes through
/// the kernel's own links (`/proc/self/...`), which may be followed.
fn spawn_resolve(cwd: Option<&[u8]>, path: &[u8], follow: bool, out: &mut PathBuf) -> Result<bool, c_int> {
    let r = match cwd {
        Some(dir) => Some(resolve_from(dir, path, follow, &mut RealLinks, out)),
        None => resolve_at(libc::AT_FDCWD, path, follow, out),
    };
    match r {
        Some(Ok(resolved)) => Ok(resolved != Resolved::Real),
        Some(Err(ResolveError::TooManyLinks)) => Err(libc::ELOOP),
        _ => Err(libc::ENAMETOOLONG),
    }
}

/// `getenv` from the process environment, without allocating.
pub fn getenv(name: &std::ffi::CStr) -> Option<&'static [u8]> {
    // SAFETY: getenv returns null or a NUL-terminated string in environ.
    let p = unsafe { libc::getenv(name.as_ptr()) };
    // SAFETY: as above; environ strings live as long as they are not unset.
    (!p.is_null()).then(|| unsafe { sys::c_bytes(p) })
}

/// A child's environment: the caller's entries minus those the parent's
/// configuration replaces, plus the parent's. Pointers only: the strings
/// stay the caller's and the state's.
pub struct ChildEnv {
    ptrs: [*const c_char; ENV_MAX + 1],
}

impl ChildEnv {
    /// Builds it; `Err(E2BIG)` when it does not fit.
    /// `in_place`: the exec replaces the root process itself.
    pub fn new(st: &State, envp: *const *const c_char, in_place: bool) -> Result<ChildEnv, c_int> {
        let mut env = ChildEnv { ptrs: [std::ptr::null(); ENV_MAX + 1] };
        let mut n = 0usize;
        let mut push = |p: *const c_char| -> Result<(), c_int> {
            let slot = env.ptrs.get_mut(n).filter(|_| n < ENV_MAX).ok_or(libc::E2BIG)?;
            *slot = p;
            n += 1;
            Ok(())
        };
        if !envp.is_null() {
            let mut i = 0;
            loop {
                // SAFETY: envp is a NULL-terminated array of C strings.
                let p = unsafe { *envp.add(i) };
                if p.is_null() {
                    break;
                }
                // SAFETY: as above.
                let entry = unsafe { sys::c_bytes(p) };
                let overridden = in_place
                    && st.in_place_env.iter().any(|e| {
                        rampart_decide::childenv::name_of(e.to_bytes()) == rampart_decide::childenv::name_of(entry)
                    });
                if !is_replaced(entry) && !overridden {
                    push(p)?;
                }
                i += 1;
            }
        }
        for entry in &st.child_env {
            push(entry.as_ptr())?;
        }
        if in_place {
            for entry in &st.in_place_env {
                push(entry.as_ptr())?;
            }
        }
        Ok(env)
    }

    pub fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }
}

/// Puts this process's protection back into its own environment (for
/// `system` and `popen`, which pass `environ` to the shell from inside
/// libc): the inherited variables get the parent's values again, and other
/// `RAMPART_*` entries the code added are removed.
pub fn restore_environ(st: &State) {
    for entry in &st.child_env {
        let bytes = entry.to_bytes();
        let Some(eq) = bytes.iter().position(|&b| b == b'=') else { continue };
        let mut name = [0u8; 64];
        let (Some(dst), Some(src)) = (name.get_mut(..eq), bytes.get(..eq)) else { continue };
        dst.copy_from_slice(src);
        let name = std::ffi::CStr::from_bytes_until_nul(&name).unwrap_or(c"");
        let value = bytes.get(eq + 1..).unwrap_or(&[]);
        if getenv(name) != Some(value) {
            // SAFETY: both are NUL-terminated (the value is the tail of a CString).
            unsafe { libc::setenv(name.as_ptr(), entry.as_ptr().add(eq + 1), 1) };
        }
    }
    // Unset stray RAMPART_* entries, one at a time (unsetenv moves the array).
    for _ in 0..64 {
        let mut name = [0u8; 128];
        if !first_stray(st, &mut name) {
            break;
        }
        // SAFETY: name is NUL-terminated.
        unsafe { libc::unsetenv(name.as_ptr().cast()) };
    }
}

/// Finds an environment entry the parent's configuration replaces but does
/// not set, and copies its name (NUL-terminated) into `out`.
fn first_stray(st: &State, out: &mut [u8; 128]) -> bool {
    unsafe extern "C" {
        static environ: *const *const c_char;
    }
    // SAFETY: environ is libc's NULL-terminated array of C strings.
    let mut p = unsafe { environ };
    if p.is_null() {
        return false;
    }
    loop {
        // SAFETY: as above; stops at the NULL.
        let e = unsafe { *p };
        if e.is_null() {
            return false;
        }
        // SAFETY: a C string in environ.
        let entry = unsafe { sys::c_bytes(e) };
        let name = rampart_decide::childenv::name_of(entry);
        let ours = st.child_env.iter().any(|c| rampart_decide::childenv::name_of(c.to_bytes()) == name);
        if is_replaced(entry) && !ours && name.len() < out.len() {
            if let Some(dst) = out.get_mut(..name.len()) {
                dst.copy_from_slice(name);
            }
            if let Some(nul) = out.get_mut(name.len()) {
                *nul = 0;
            }
            return true;
        }
        // SAFETY: not past the NULL terminator.
        p = unsafe { p.add(1) };
    }
}
