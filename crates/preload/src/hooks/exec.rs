//! The exec family, `posix_spawn*`, `system` and `popen` as libc exports
//! them. `execl*` are in `shim.c` and land in `execve`/`execvp` here.

use std::ffi::{c_char, c_int};

use crate::ops::exec::{self, ChildEnv, Program};
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

unsafe extern "C" {
    static environ: *const *const c_char;
}

fn process_env() -> *const *const c_char {
    // SAFETY: reading the pointer value of libc's environ.
    unsafe { environ }
}

/// Checks, builds the child's environment, and runs `real` with it; a
/// denial is turned into the call's own failure by `denied`.
fn launch<R>(
    op: &'static str,
    program: Program<'_>,
    argv: *const *const c_char,
    envp: *const *const c_char,
    in_place: bool,
    real: impl FnOnce(*const *const c_char) -> R,
    denied: impl FnOnce(c_int) -> R,
) -> R {
    let Some(st) = state::checked() else { return real(envp) };
    match checked_env(st, op, program, argv, envp, in_place) {
        Ok(env) => real(env.as_ptr()),
        Err(e) => denied(e),
    }
}

/// The exec family: -1 with errno.
fn exec_with(
    op: &'static str,
    program: Program<'_>,
    argv: *const *const c_char,
    envp: *const *const c_char,
    real: impl FnOnce(*const *const c_char) -> c_int,
) -> c_int {
    let in_place = crate::control::is_root_process();
    let exec_in_place = |env| {
        let kept = crate::control::keep_across_exec();
        let r = real(env);
        let saved = sys::errno();
        crate::control::exec_failed(kept);
        sys::set_errno(saved);
        r
    };
    launch(op, program, argv, envp, in_place, exec_in_place, |e| {
        sys::set_errno(e);
        -1
    })
}

fn checked_env(
    st: &State,
    op: &'static str,
    program: Program<'_>,
    argv: *const *const c_char,
    envp: *const *const c_char,
    in_place: bool,
) -> Result<ChildEnv, c_int> {
    let saved = sys::errno();
    exec::check(st, op, program, argv)?;
    let env = ChildEnv::new(st, envp, in_place)?;
    sys::set_errno(saved);
    Ok(env)
}

/// # Safety
/// As execve(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    // SAFETY: path is null or a C string (execve's contract).
    let program = Program::At { dirfd: libc::AT_FDCWD, path: unsafe { sys::c_bytes(path) }, follow: true };
    exec_with("execve", program, argv, envp, |env| call_real!(real::EXECVE, ExecveFn, -1, (path, argv, env)))
}

/// # Safety
/// As execv(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: as execve.
    let program = Program::At { dirfd: libc::AT_FDCWD, path: unsafe { sys::c_bytes(path) }, follow: true };
    exec_with("execv", program, argv, process_env(), |env| call_real!(real::EXECVE, ExecveFn, -1, (path, argv, env)))
}

/// # Safety
/// As execvp(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: file is a C string (execvp's contract).
    let program = Program::Search(unsafe { sys::c_bytes(file) });
    exec_with("execvp", program, argv, process_env(), |env| call_real!(real::EXECVPE, ExecveFn, -1, (file, argv, env)))
}

/// # Safety
/// As execvpe(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    // SAFETY: as execvp.
    let program = Program::Search(unsafe { sys::c_bytes(file) });
    exec_with("execvpe", program, argv, envp, |env| call_real!(real::EXECVPE, ExecveFn, -1, (file, argv, env)))
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
    // SAFETY: file is a C string (exec's contract).
    let bytes = unsafe { sys::c_bytes(file) };
    let (op, program) = match which {
        0 => ("execl", Program::At { dirfd: libc::AT_FDCWD, path: bytes, follow: true }),
        1 => ("execle", Program::At { dirfd: libc::AT_FDCWD, path: bytes, follow: true }),
        _ => ("execlp", Program::Search(bytes)),
    };
    if which == 2 {
        exec_with(op, program, argv, envp, |env| call_real!(real::EXECVPE, ExecveFn, -1, (file, argv, env)))
    } else {
        exec_with(op, program, argv, envp, |env| call_real!(real::EXECVE, ExecveFn, -1, (file, argv, env)))
    }
}

/// # Safety
/// As fexecve(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    exec_with("fexecve", Program::Fd(fd), argv, envp, |env| call_real!(real::FEXECVE, FexecveFn, -1, (fd, argv, env)))
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
    // SAFETY: as execve.
    let p = unsafe { sys::c_bytes(path) };
    let program = if p.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
        Program::Fd(dirfd)
    } else {
        Program::At { dirfd, path: p, follow: flags & libc::AT_SYMLINK_NOFOLLOW == 0 }
    };
    exec_with("execveat", program, argv, envp, |env| {
        if real::EXECVEAT.get().is_null() {
            // glibc before 2.34 has no wrapper.
            // SAFETY: the caller's arguments with our environment.
            unsafe { crate::sys::raw_syscall!(libc::SYS_execveat, dirfd, path, argv, env, flags) as c_int }
        } else {
            call_real!(real::EXECVEAT, ExecveatFn, -1, (dirfd, path, argv, env, flags))
        }
    })
}

/// posix_spawn returns the error. errno is set to it too: the JDK reads
/// errno after a failed spawn (and would report a stale value, EINVAL).
fn spawn_with(
    op: &'static str,
    program: Program<'_>,
    argv: *const *const c_char,
    envp: *const *const c_char,
    real: impl FnOnce(*const *const c_char) -> c_int,
) -> c_int {
    launch(op, program, argv, envp, false, real, |e| {
        sys::set_errno(e);
        e
    })
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
    // SAFETY: path is a C string (posix_spawn's contract).
    let program = Program::At { dirfd: libc::AT_FDCWD, path: unsafe { sys::c_bytes(path) }, follow: true };
    spawn_with("posix_spawn", program, argv, envp, |env| {
        call_real!(real::POSIX_SPAWN, SpawnFn, libc::ENOSYS, (pid, path, actions, attr, argv, env))
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
    // SAFETY: file is a C string (posix_spawnp's contract).
    let program = Program::Search(unsafe { sys::c_bytes(file) });
    spawn_with("posix_spawnp", program, argv, envp, |env| {
        call_real!(real::POSIX_SPAWNP, SpawnFn, libc::ENOSYS, (pid, file, actions, attr, argv, env))
    })
}

/// `system` and `popen` run `/bin/sh -c CMD` from inside libc with the
/// process environment: the shell is checked here, and the environment
/// gets this process's protection back if the code removed it.
fn shell(st: &State, op: &'static str, cmd: *const c_char) -> Result<(), c_int> {
    let argv = [c"sh".as_ptr(), c"-c".as_ptr(), cmd, std::ptr::null()];
    let saved = sys::errno();
    exec::check(st, op, Program::At { dirfd: libc::AT_FDCWD, path: b"/bin/sh", follow: true }, argv.as_ptr())?;
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
