//! The exec family, `posix_spawn*`, `system`, `popen` (and libio's
//! `_IO_proc_open` under it) and `wordexp` as libc exports them. `execl*` are in `shim.c` and land in `rampart_exec_from_shim`
//! here. Every path is captured once on entry; what runs is the
//! descriptor `ops::exec::prepare` decided on, never the caller's path.

use std::ffi::{c_char, c_int};

use rampart_decide::spawn::ExecFdRange;
use rampart_decide::text::StackText;
use rampart_policy::PATH_MAX;

use crate::capture::CapturedPath;
use crate::ops::exec::{self, ActionsPass, ChildEnv, Program};
use crate::real::{self, call_real};
use crate::state::{self, State};
use crate::sys;

type ExecveFn = unsafe extern "C" fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
type FexecveFn = unsafe extern "C" fn(c_int, *const *const c_char, *const *const c_char) -> c_int;
type ExecveatFn =
    unsafe extern "C" fn(c_int, *const c_char, *const *const c_char, *const *const c_char, c_int) -> c_int;
type SpawnFn = unsafe extern "C" fn(
    *mut libc::pid_t,
    *const c_char,
    *const libc::posix_spawn_file_actions_t,
    *const libc::posix_spawnattr_t,
    *const *const c_char,
    *const *const c_char,
) -> c_int;
type SystemFn = unsafe extern "C" fn(*const c_char) -> c_int;
type PopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE;
type ProcOpenFn = unsafe extern "C" fn(*mut libc::FILE, *const c_char, *const c_char) -> *mut libc::FILE;
type WordexpFn = unsafe extern "C" fn(*const c_char, *mut libc::c_void, c_int) -> c_int;

unsafe extern "C" {
    static environ: *const *const c_char;
}

fn process_env() -> *const *const c_char {
    // SAFETY: reading the pointer value of libc's environ.
    unsafe { environ }
}

/// The caller's path, captured once; `Err(errno)` as the kernel fails a
/// null (`EFAULT`) or over-long (`ENAMETOOLONG`) one.
fn captured(path: *const c_char) -> Result<CapturedPath, c_int> {
    if path.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: a non-null C string (exec's contract).
    unsafe { CapturedPath::capture(path) }.map_err(|_| libc::ENAMETOOLONG)
}

/// The exec family: decides on the program (see `ops::exec::prepare`)
/// and runs the descriptor decided on, with the child's environment;
/// -1 with errno. `unchecked` is the real call for when the library is
/// not active (before the constructor, mode off, its own threads).
fn exec_checked(
    op: &'static str,
    path: Option<*const c_char>,
    program: Names,
    argv: *const *const c_char,
    envp: *const *const c_char,
    unchecked: impl FnOnce() -> c_int,
) -> c_int {
    let Some(st) = state::checked() else { return unchecked() };
    let saved = sys::errno();
    let in_place = crate::control::is_root_process();
    let run = |fd: c_int, argv: *const *const c_char| -> Result<(), c_int> {
        let env = ChildEnv::new(st, envp, in_place)?;
        sys::set_errno(saved);
        let kept = crate::control::keep_across_exec();
        exec::exec_fd(fd, argv, env.as_ptr());
        let e = sys::errno();
        crate::control::exec_failed(kept);
        Err(e)
    };
    let result = match path {
        Some(p) => match captured(p) {
            Ok(copy) => exec::prepare(st, op, program.of(copy.as_bytes()), None, argv, run),
            Err(e) => Err(e),
        },
        None => exec::prepare(st, op, program.of(b""), None, argv, run),
    };
    sys::set_errno(result.err().unwrap_or(libc::EINVAL));
    -1
}

fn at_cwd(path: &[u8]) -> Program<'_> {
    Program::At { dirfd: libc::AT_FDCWD, path, follow: true }
}

/// How an exec-family call names its program, before its path is
/// captured.
#[derive(Clone, Copy)]
enum Names {
    /// A path from the cwd.
    Path,
    /// A name searched in `PATH`, as `execvp` does.
    Search,
    /// A descriptor.
    Fd(c_int),
    /// `execveat`'s: a path from `dirfd`, or `dirfd` itself with
    /// `AT_EMPTY_PATH` and an empty path.
    At { dirfd: c_int, flags: c_int },
}

impl Names {
    fn of(self, path: &[u8]) -> Program<'_> {
        match self {
            Names::Path => at_cwd(path),
            Names::Search => Program::Search { file: path, shell_fallback: true },
            Names::Fd(fd) => Program::Fd(fd),
            Names::At { dirfd, flags } if path.is_empty() && flags & libc::AT_EMPTY_PATH != 0 => Program::Fd(dirfd),
            Names::At { dirfd, flags } => Program::At { dirfd, path, follow: flags & libc::AT_SYMLINK_NOFOLLOW == 0 },
        }
    }
}

/// # Safety
/// As execve(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    exec_checked("execve", Some(path), Names::Path, argv, envp, || {
        call_real!(real::EXECVE, ExecveFn, -1, (path, argv, envp))
    })
}

/// # Safety
/// As execv(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    let envp = process_env();
    exec_checked("execv", Some(path), Names::Path, argv, envp, || {
        call_real!(real::EXECVE, ExecveFn, -1, (path, argv, envp))
    })
}

/// # Safety
/// As execvp(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    let envp = process_env();
    exec_checked("execvp", Some(file), Names::Search, argv, envp, || {
        call_real!(real::EXECVPE, ExecveFn, -1, (file, argv, envp))
    })
}

/// # Safety
/// As execvpe(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    exec_checked("execvpe", Some(file), Names::Search, argv, envp, || {
        call_real!(real::EXECVPE, ExecveFn, -1, (file, argv, envp))
    })
}

/// The C shim's way in (`shim.c`): `execl` (0), `execle` (1) or `execlp`
/// (2) with their arguments collected into arrays.
///
/// # Safety
/// As execve(2) (execvpe(3) for 2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rampart_exec_from_shim(
    which: c_int,
    file: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    match which {
        0 => exec_checked("execl", Some(file), Names::Path, argv, envp, || {
            call_real!(real::EXECVE, ExecveFn, -1, (file, argv, envp))
        }),
        1 => exec_checked("execle", Some(file), Names::Path, argv, envp, || {
            call_real!(real::EXECVE, ExecveFn, -1, (file, argv, envp))
        }),
        _ => exec_checked("execlp", Some(file), Names::Search, argv, envp, || {
            call_real!(real::EXECVPE, ExecveFn, -1, (file, argv, envp))
        }),
    }
}

/// # Safety
/// As fexecve(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    exec_checked("fexecve", None, Names::Fd(fd), argv, envp, || {
        call_real!(real::FEXECVE, FexecveFn, -1, (fd, argv, envp))
    })
}

/// # Safety
/// As execveat(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execveat(
    dirfd: c_int,
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    flags: c_int,
) -> c_int {
    exec_checked("execveat", Some(path), Names::At { dirfd, flags }, argv, envp, || {
        if real::EXECVEAT.get().is_null() {
            // glibc before 2.34 has no wrapper.
            // SAFETY: the caller's arguments.
            unsafe { crate::sys::raw_syscall!(libc::SYS_execveat, dirfd, path, argv, envp, flags) as c_int }
        } else {
            call_real!(real::EXECVEAT, ExecveatFn, -1, (dirfd, path, argv, envp, flags))
        }
    })
}

/// posix_spawn and posix_spawnp: the file actions are checked, then the
/// program decided on is spawned as `/proc/self/fd/N` (glibc execs by
/// path from inside libc) with N above every descriptor the actions
/// touch, closed in the parent after the spawn. Returns the error, and
/// sets errno to it too: the JDK reads errno after a failed spawn (and
/// would report a stale value, EINVAL).
#[allow(clippy::too_many_arguments)]
fn spawn_checked(
    op: &'static str,
    search: bool,
    pid: *mut libc::pid_t,
    path: *const c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *const c_char,
    envp: *const *const c_char,
    unchecked: impl FnOnce() -> c_int,
) -> c_int {
    let Some(st) = state::checked() else { return unchecked() };
    let saved = sys::errno();
    let result = captured(path).and_then(|copy| {
        let layout = exec::check_spawn_actions(st, op, copy.as_bytes(), actions, argv, ActionsPass::Layout)?;
        let program = if search {
            // glibc's posix_spawnp has not run ENOEXEC files with /bin/sh
            // since 2.15.
            Program::Search { file: copy.as_bytes(), shell_fallback: false }
        } else {
            at_cwd(copy.as_bytes())
        };
        let cwd = layout.cwd.as_ref().map(|c| c.as_bytes());
        exec::prepare(st, op, program, cwd, argv, |fd, argv| {
            let plan = exec::check_spawn_actions(st, op, copy.as_bytes(), actions, argv, ActionsPass::Opens)?;
            let env = ChildEnv::new(st, envp, false)?;
            let (via, dup) = spawn_path(fd, plan.exec_fds);
            sys::set_errno(saved);
            let r = call_real!(
                real::POSIX_SPAWN,
                SpawnFn,
                libc::ENOSYS,
                (pid, via.as_bytes().as_ptr().cast(), plan.actions(actions), attr, argv, env.as_ptr())
            );
            if let Some(dup) = dup {
                // SAFETY: the duplicate made for this spawn.
                unsafe { libc::close(dup) };
            }
            Ok(r)
        })
    });
    match result {
        Ok(0) => {
            sys::set_errno(saved);
            0
        }
        Ok(e) | Err(e) => {
            sys::set_errno(e);
            e
        }
    }
}

/// A close-on-exec duplicate of `fd` numbered within `range` (the
/// child's exec reaches the file through it before it is closed), from
/// the library's high numbers when the limit allows.
fn spawn_fd(fd: c_int, range: ExecFdRange) -> Option<c_int> {
    for start in [range.low.max(sys::HIGH_FD), range.low] {
        // SAFETY: F_DUPFD_CLOEXEC on our own descriptor.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, start) };
        if dup < 0 {
            continue;
        }
        if dup < range.high {
            return Some(dup);
        }
        // SAFETY: the duplicate just made.
        unsafe { libc::close(dup) };
    }
    None
}

/// What the spawned child execs: `/proc/self/fd/N` of a duplicate of the
/// descriptor decided on, or, when the file actions leave no number for
/// one (a `closefrom` below every free descriptor), the real path that
/// was decided on, with no link in it (a directory renamed into a link
/// after this point is the one race left there).
fn spawn_path(fd: c_int, range: ExecFdRange) -> (StackText<{ PATH_MAX + 1 }>, Option<c_int>) {
    let mut text = StackText::new();
    if let Some(dup) = spawn_fd(fd, range) {
        text.push(exec::proc_fd_path(dup).as_bytes());
        return (text, Some(dup));
    }
    let mut link = [0u8; PATH_MAX];
    if let Some(n) = sys::fd_path(fd, &mut link) {
        text.push(link.get(..n).unwrap_or(b""));
    }
    text.push(b"\0");
    (text, None)
}

/// # Safety
/// As posix_spawn(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut libc::pid_t,
    path: *const c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    spawn_checked("posix_spawn", false, pid, path, actions, attr, argv, envp, || {
        call_real!(real::POSIX_SPAWN, SpawnFn, libc::ENOSYS, (pid, path, actions, attr, argv, envp))
    })
}

/// # Safety
/// As posix_spawnp(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut libc::pid_t,
    file: *const c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    spawn_checked("posix_spawnp", true, pid, file, actions, attr, argv, envp, || {
        call_real!(real::POSIX_SPAWNP, SpawnFn, libc::ENOSYS, (pid, file, actions, attr, argv, envp))
    })
}

/// `system` and `popen` run `/bin/sh -c CMD` from inside libc with the
/// process environment: the shell is checked here, and the environment
/// gets this process's protection back if the code removed it.
fn shell(st: &State, op: &'static str, cmd: *const c_char) -> Result<(), c_int> {
    let argv = [c"sh".as_ptr(), c"-c".as_ptr(), cmd, std::ptr::null()];
    let saved = sys::errno();
    exec::prepare(st, op, at_cwd(b"/bin/sh"), None, argv.as_ptr(), |_, _| Ok(()))?;
    exec::restore_environ(st);
    sys::set_errno(saved);
    Ok(())
}

/// # Safety
/// As system(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn system(cmd: *const c_char) -> c_int {
    if let Some(st) = state::checked().filter(|_| !cmd.is_null())
        && let Err(e) = shell(st, "system", cmd)
    {
        sys::set_errno(e);
        return -1;
    }
    call_real!(real::SYSTEM, SystemFn, -1, (cmd))
}

/// # Safety
/// As popen(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn popen(cmd: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    if let Some(st) = state::checked().filter(|_| !cmd.is_null())
        && let Err(e) = shell(st, "popen", cmd)
    {
        sys::set_errno(e);
        return std::ptr::null_mut();
    }
    call_real!(real::POPEN, PopenFn, std::ptr::null_mut(), (cmd, mode))
}

/// libio's `popen` on a stream the caller allocated, exported as well:
/// it runs the shell the same way. Refused, it fails as it does when the
/// spawn fails (NULL, the stream left to its caller).
///
/// # Safety
/// As glibc's `_IO_proc_open(fp, command, mode)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _IO_proc_open(
    fp: *mut libc::FILE,
    cmd: *const c_char,
    mode: *const c_char,
) -> *mut libc::FILE {
    if let Some(st) = state::checked().filter(|_| !cmd.is_null())
        && let Err(e) = shell(st, "_IO_proc_open", cmd)
    {
        sys::set_errno(e);
        return std::ptr::null_mut();
    }
    call_real!(real::IO_PROC_OPEN, ProcOpenFn, std::ptr::null_mut(), (fp, cmd, mode))
}

/// wordexp(3) runs `/bin/sh -c` for each command substitution, from
/// inside libc (see `rampart_decide::shellwords`). Words that may hold one
/// get the shell checked and the environment's protection back, as
/// `system` does; a refused shell is glibc's own refusal: the real call
/// with `WRDE_NOCMD` (`WRDE_CMDSUB`, the words left as glibc leaves them
/// then), errno `EACCES`. Every other call is made with `WRDE_NOCMD`, so
/// words another thread rewrites after the check start no shell.
///
/// # Safety
/// As wordexp(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wordexp(words: *const c_char, result: *mut libc::c_void, flags: c_int) -> c_int {
    use rampart_decide::shellwords::{WRDE_NOCMD, may_run_shell};
    let real = |flags: c_int| {
        call_real!(real::WORDEXP, WordexpFn, rampart_decide::shellwords::WRDE_CMDSUB, (words, result, flags))
    };
    let Some(st) = state::checked().filter(|_| !words.is_null()) else { return real(flags) };
    // SAFETY: a non-null C string (wordexp's contract); read to decide,
    // never handed on (the real call reads the caller's words itself).
    let text = unsafe { std::ffi::CStr::from_ptr(words) }.to_bytes();
    if !may_run_shell(text, flags) {
        return real(flags | WRDE_NOCMD);
    }
    if let Err(e) = shell(st, "wordexp", words) {
        let refused = real(flags | WRDE_NOCMD);
        sys::set_errno(e);
        return refused;
    }
    real(flags)
}
