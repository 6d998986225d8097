//! Checked program launches: find the program that will really run
//! (`PATH` search, dirfd, descriptor, symlinks), decide, report static
//! binaries LD_PRELOAD cannot cover, and hand the child an environment
//! with this process's protection re-injected — all on the stack, since
//! these run in vfork children.

use std::ffi::{c_char, c_int};

use rampart_decide::childenv::is_replaced;
use rampart_decide::elf::{self, classify};
use rampart_decide::paths::{PathBuf, Resolved, resolve};
use rampart_decide::search::{DEFAULT_PATH, find};
use rampart_policy::{Category, PATH_MAX, Verdict};

use crate::ops::file::{absolute, resolve_at};
use crate::report::{self, Activity};
use crate::state::State;
use crate::sys::{self, RealLinks};

/// The most environment entries a child can be given (a Lambda function
/// has a few dozen); more fails the exec with `E2BIG`.
pub const ENV_MAX: usize = 2048;
/// The most arguments written in an event line.
const ARGV_MAX: usize = 64;

/// Which program an exec-family call runs.
pub enum Program<'a> {
    /// A path, relative to `dirfd` (or the cwd).
    At { dirfd: c_int, path: &'a [u8], follow: bool },
    /// A name searched in `PATH` (or a path, if it has a `/`).
    Search(&'a [u8]),
    /// An open descriptor (`fexecve`, `execveat` with `AT_EMPTY_PATH`).
    Fd(c_int),
}

/// Decides on a launch; `Err(errno)` when it is denied. `argv` is the
/// caller's NULL-terminated array (or null).
pub fn check(st: &State, op: &'static str, program: Program<'_>, argv: *const *const c_char) -> Result<(), c_int> {
    let mut path = PathBuf::new();
    // SAFETY: path is NUL-terminated.
    if !locate(program, &mut path) || unsafe { libc::access(path.with_nul().as_ptr().cast(), libc::F_OK) } != 0 {
        // Nothing to run (ENOENT and the like): the real call says so, as
        // it would without rampart (shells try each PATH entry this way).
        return Ok(());
    }
    let allowed = st.matcher().allows_process(path.as_bytes());
    let v = st.verdict(Category::Process, allowed);
    if v != Verdict::Allow {
        let mut args: [&[u8]; ARGV_MAX] = [&[]; ARGV_MAX];
        let n = collect_args(argv, &mut args);
        let a = Activity {
            cat: Category::Process,
            op,
            target: path.as_bytes(),
            access: None,
            argv: Some(args.get(..n).unwrap_or(&[])),
            api: None,
        };
        report::verdict(st, v, &a);
    }
    if v == Verdict::Block {
        return Err(libc::EACCES);
    }
    if is_static(&path) {
        report::note_once(
            st,
            Category::Process,
            path.as_bytes(),
            "static executable: rampart cannot see its file, network or process calls",
        );
    }
    Ok(())
}

/// Finds the program's real path (symlinks resolved) into `out`.
fn locate(program: Program<'_>, out: &mut PathBuf) -> bool {
    let mut abs = PathBuf::new();
    let resolved = match program {
        Program::At { path: b"", .. } => return false,
        Program::At { dirfd, path, follow } => {
            if absolute(dirfd, path, &mut abs) != Ok(true) {
                return false;
            }
            resolve_at(dirfd, path, follow, out)
        }
        Program::Search(file) if file.contains(&b'/') => {
            if absolute(libc::AT_FDCWD, file, &mut abs) != Ok(true) {
                return false;
            }
            resolve_at(libc::AT_FDCWD, file, true, out)
        }
        Program::Search(file) => {
            let path_var = getenv(c"PATH").unwrap_or(DEFAULT_PATH);
            let mut cwd = PathBuf::new();
            let _ = sys::cwd(&mut cwd);
            let executable = |p: &[u8]| {
                // SAFETY: p is NUL-terminated (PathBuf::with_nul).
                unsafe { libc::access(p.as_ptr().cast(), libc::X_OK) == 0 }
            };
            if !find(path_var, file, cwd.as_bytes(), &mut abs, executable) {
                return false;
            }
            Some(resolve(abs.as_bytes(), true, &mut RealLinks, out))
        }
        Program::Fd(fd) => {
            let mut link = [0u8; PATH_MAX];
            let Some(n) = sys::fd_path(fd, &mut link) else { return false };
            if abs.set(link.get(..n).unwrap_or(b"/")).is_err() {
                return false;
            }
            Some(resolve(abs.as_bytes(), true, &mut RealLinks, out))
        }
    };
    match resolved {
        Some(Ok(Resolved::Real | Resolved::ProcSelf)) => true,
        _ => out.set(abs.as_bytes()).is_ok(),
    }
}

/// Reads the program's first 4 KiB (raw calls: not the hooked open).
fn is_static(path: &PathBuf) -> bool {
    let mut head = [0u8; 4096];
    // SAFETY: path is NUL-terminated; head is writable for its length; fd
    // is closed before returning.
    let n = unsafe {
        let fd = crate::sys::raw_syscall!(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path.with_nul().as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC
        ) as c_int;
        if fd < 0 {
            return false;
        }
        let n = libc::read(fd, head.as_mut_ptr().cast(), head.len());
        libc::close(fd);
        n
    };
    usize::try_from(n).ok().is_some_and(|n| classify(head.get(..n).unwrap_or(&[])) == elf::Program::Static)
}

fn collect_args(argv: *const *const c_char, out: &mut [&[u8]; ARGV_MAX]) -> usize {
    if argv.is_null() {
        return 0;
    }
    let mut n = 0;
    while n < ARGV_MAX {
        // SAFETY: argv is a NULL-terminated array (exec's contract); we
        // stop at the NULL.
        let p = unsafe { *argv.add(n) };
        if p.is_null() {
            break;
        }
        if let Some(slot) = out.get_mut(n) {
            // SAFETY: each element is a NUL-terminated string that lives
            // until the exec.
            *slot = unsafe { sys::c_bytes(p) };
        }
        n += 1;
    }
    n
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
