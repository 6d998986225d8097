//! `dlsym` and `dlvsym`: a lookup through a handle of libc (ctypes'
//! `CDLL('libc.so.6').open`, `dlopen("libc.so.6")` in native code) or
//! with `RTLD_NEXT` from code loaded after librampart (ctypes' libffi)
//! would otherwise hand out libc's own `open`, which no hook sees.
//!
//! A lookup of a name librampart exports as a hook is answered with the
//! hook, through a real handle when the object's answer is the C
//! library's function or the one the hook itself calls next, and with
//! `RTLD_NEXT` always — unless the caller defines that name itself: an
//! interposer asking for the function it wraps gets it, as before, or the
//! hook would call it again, forever.
//!
//! The pseudo-handles (`RTLD_DEFAULT`, `RTLD_NEXT`) mean "from the
//! caller's place in the search order", and glibc finds the caller by the
//! return address: the export is a naked trampoline that asks
//! `pseudo_answer` (given the return address) and, when it has nothing to
//! say, jumps to the real function with the arguments and the return
//! address untouched — the answer is the one the caller always got.
//!
//! The real `dlsym` is found by reading the loaded objects' symbol tables
//! (crate::loader), not by asking `dlsym`.
//!
//! libc also exports some hooked functions under second names
//! (`__open64`, `_IO_fopen`, `__libc_system`, ...): the public ones are
//! exported here as the hooks, the `GLIBC_PRIVATE` ones answered through
//! lookups only (see `private_alias`).

use std::ffi::{CStr, c_char, c_void};

use rampart_decide::dynsym::is_c_library;

use crate::loader;

type DlsymFn = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void;
type DlvsymFn = unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char) -> *mut c_void;

/// What the trampoline does with a pseudo-handle lookup: return `answer`
/// when it is not 0, else jump to `real` (the real dlsym or dlvsym).
/// Two words: returned in rax:rdx (x86_64) or x0:x1 (aarch64).
#[repr(C)]
struct PseudoAnswer {
    answer: usize,
    real: usize,
}

extern "C" fn dlsym_pseudo(handle: *mut c_void, name: *const c_char, caller: usize) -> PseudoAnswer {
    PseudoAnswer { answer: pseudo_answer(handle, name, caller), real: loader::real_dlsym() }
}

extern "C" fn dlvsym_pseudo(
    handle: *mut c_void,
    name: *const c_char,
    _version: *const c_char,
    caller: usize,
) -> PseudoAnswer {
    PseudoAnswer { answer: pseudo_answer(handle, name, caller), real: loader::real_dlvsym() }
}

/// Our hook for a pseudo-handle lookup of `name` from `caller`, or 0 for
/// the real answer. `RTLD_DEFAULT` already finds our exports first (the
/// preload comes first in the search order): only the private second
/// names need answering. `RTLD_NEXT` from an object after librampart
/// (libffi, when ctypes calls dlsym) would find libc's function.
fn pseudo_answer(handle: *mut c_void, name: *const c_char, caller: usize) -> usize {
    if name.is_null() {
        return 0;
    }
    // SAFETY: a C string (dlsym's contract; the real dlsym reads it too).
    let name_bytes = unsafe { CStr::from_ptr(name) }.to_bytes();
    if handle == libc::RTLD_DEFAULT {
        return private_alias(name_bytes).and_then(loader::own_export).unwrap_or(0);
    }
    let Some(hook) = loader::own_export(name_bytes).or_else(|| private_alias(name_bytes).and_then(loader::own_export))
    else {
        return 0;
    };
    if loader::is_own(caller) || loader::object_defines(caller, name_bytes) {
        return 0;
    }
    hook
}

fn call_real_dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void {
    let p = loader::real_dlsym();
    // SAFETY: p is glibc's dlsym (or a stand-in of the same type).
    let f = unsafe { std::mem::transmute::<usize, DlsymFn>(p) };
    // SAFETY: the caller's arguments, as dlsym takes them.
    unsafe { f(handle, name) }
}

fn call_real_dlvsym(handle: *mut c_void, name: *const c_char, version: *const c_char) -> *mut c_void {
    let p = loader::real_dlvsym();
    // SAFETY: p is glibc's dlvsym (or a stand-in of the same type).
    let f = unsafe { std::mem::transmute::<usize, DlvsymFn>(p) };
    // SAFETY: the caller's arguments, as dlvsym takes them.
    unsafe { f(handle, name, version) }
}

/// `dlsym` through a real handle, entered from the trampoline with the
/// caller's return address.
extern "C" fn dlsym_through_handle(handle: *mut c_void, name: *const c_char, caller: usize) -> *mut c_void {
    let found = call_real_dlsym(handle, name);
    hook_instead(found, name, caller)
}

extern "C" fn dlvsym_through_handle(
    handle: *mut c_void,
    name: *const c_char,
    version: *const c_char,
    caller: usize,
) -> *mut c_void {
    let found = call_real_dlvsym(handle, name, version);
    hook_instead(found, name, caller)
}

/// The answer to give for `name`, which the handle's object answered with
/// `found`: our hook when `found` is what the hook stands in for.
fn hook_instead(found: *mut c_void, name: *const c_char, caller: usize) -> *mut c_void {
    if found.is_null() {
        return found;
    }
    // SAFETY: dlsym found a symbol by this name, so it is a C string.
    let name_bytes = unsafe { CStr::from_ptr(name) }.to_bytes();
    let Some(hook) = loader::own_export(name_bytes).or_else(|| private_alias(name_bytes).and_then(loader::own_export))
    else {
        return found;
    };
    if hook == found as usize {
        return found;
    }
    // What the hook calls next: a lookup from librampart's own place.
    let next = call_real_dlsym(libc::RTLD_NEXT, name);
    // Another library's function of the same name is its own business
    // (it may not be the C library's at all); the C library's, or the one
    // our hook forwards to, is what the hook is for.
    if found != next && !object_name(found as usize).is_some_and(is_c_library) {
        return found;
    }
    // A wrapper that asks a handle for the function it wraps would be
    // handed our hook, which may call it again: it gets its own answer.
    if loader::object_defines(caller, name_bytes) {
        return found;
    }
    hook as *mut c_void
}

/// Names glibc exports at version `GLIBC_PRIVATE` for a function the
/// hooks stand in for, and that function's name. Only answered through a
/// handle (`CDLL(None).__libc_system` would run the shell past the check
/// that puts the library back into its environment): librampart must not
/// export them, because glibc's own libraries bind to them — before 2.34,
/// libpthread's `system` calls `__libc_system`, which would be our hook
/// calling libpthread's `system` again.
fn private_alias(name: &[u8]) -> Option<&'static [u8]> {
    match name {
        b"__libc_system" => Some(b"system"),
        b"__sendmmsg" => Some(b"sendmmsg"),
        _ => None,
    }
}

/// The public second names libc gives functions the hooks stand in for
/// (`__open64` is `open64`, ...): exported as the hooks themselves, so a
/// lookup by that name from anywhere finds the hook. Each is a jump, the
/// arguments untouched.
macro_rules! alias {
    ($alias:ident => $hook:path) => {
        /// # Safety
        /// As the libc function of the same name.
        #[unsafe(naked)]
        #[unsafe(no_mangle)]
        #[allow(non_snake_case)]
        pub unsafe extern "C" fn $alias() {
            #[cfg(target_arch = "x86_64")]
            core::arch::naked_asm!("jmp {0}", sym $hook);
            #[cfg(target_arch = "aarch64")]
            core::arch::naked_asm!("b {0}", sym $hook);
        }
    };
}

alias!(__open => crate::hooks::file::open);
alias!(__open64 => crate::hooks::file::open64);
alias!(__connect => crate::hooks::net::connect);
alias!(_IO_fopen => crate::hooks::file::fopen);
alias!(_IO_popen => crate::hooks::exec::popen);

fn object_name(addr: usize) -> Option<&'static [u8]> {
    loader::object_containing(addr).map(|(_, name)| name)
}

/// # Safety
/// As dlsym(3).
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void {
    // Pseudo-handle (0 or -1): ask dlsym_pseudo (with the caller's return
    // address); return its answer, or restore the arguments and jump to
    // the real dlsym with the return address untouched. Real handle: on
    // to dlsym_through_handle, with the return address as a third
    // argument.
    #[cfg(target_arch = "x86_64")]
    core::arch::naked_asm!(
        "test rdi, rdi",
        "jz 2f",
        "cmp rdi, -1",
        "je 2f",
        "mov rdx, [rsp]",
        "jmp {through_handle}",
        "2:",
        // Entry rsp is 8 mod 16: two pushes and 8 more align the call.
        "push rdi",
        "push rsi",
        "sub rsp, 8",
        "mov rdx, [rsp + 24]",
        "call {pseudo}",
        "mov r11, rdx",
        "add rsp, 8",
        "pop rsi",
        "pop rdi",
        "test rax, rax",
        "jnz 3f",
        "jmp r11",
        "3:",
        "ret",
        through_handle = sym dlsym_through_handle,
        pseudo = sym dlsym_pseudo,
    );
    #[cfg(target_arch = "aarch64")]
    core::arch::naked_asm!(
        "cbz x0, 2f",
        "cmn x0, #1",
        "b.eq 2f",
        "mov x2, x30",
        "b {through_handle}",
        "2:",
        "stp x29, x30, [sp, #-32]!",
        "mov x29, sp",
        "stp x0, x1, [sp, #16]",
        "mov x2, x30",
        "bl {pseudo}",
        "mov x16, x1",
        "mov x17, x0",
        "ldp x0, x1, [sp, #16]",
        "ldp x29, x30, [sp], #32",
        "cbnz x17, 3f",
        "br x16",
        "3:",
        "mov x0, x17",
        "ret",
        through_handle = sym dlsym_through_handle,
        pseudo = sym dlsym_pseudo,
    );
}

/// # Safety
/// As dlvsym(3).
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlvsym(handle: *mut c_void, name: *const c_char, version: *const c_char) -> *mut c_void {
    // As dlsym, with a third argument to keep.
    #[cfg(target_arch = "x86_64")]
    core::arch::naked_asm!(
        "test rdi, rdi",
        "jz 2f",
        "cmp rdi, -1",
        "je 2f",
        "mov rcx, [rsp]",
        "jmp {through_handle}",
        "2:",
        // Entry rsp is 8 mod 16: three pushes align the call.
        "push rdi",
        "push rsi",
        "push rdx",
        "mov rcx, [rsp + 24]",
        "call {pseudo}",
        "mov r11, rdx",
        "pop rdx",
        "pop rsi",
        "pop rdi",
        "test rax, rax",
        "jnz 3f",
        "jmp r11",
        "3:",
        "ret",
        through_handle = sym dlvsym_through_handle,
        pseudo = sym dlvsym_pseudo,
    );
    #[cfg(target_arch = "aarch64")]
    core::arch::naked_asm!(
        "cbz x0, 2f",
        "cmn x0, #1",
        "b.eq 2f",
        "mov x3, x30",
        "b {through_handle}",
        "2:",
        "stp x29, x30, [sp, #-48]!",
        "mov x29, sp",
        "stp x0, x1, [sp, #16]",
        "str x2, [sp, #32]",
        "mov x3, x30",
        "bl {pseudo}",
        "mov x16, x1",
        "mov x17, x0",
        "ldr x2, [sp, #32]",
        "ldp x0, x1, [sp, #16]",
        "ldp x29, x30, [sp], #48",
        "cbnz x17, 3f",
        "br x16",
        "3:",
        "mov x0, x17",
        "ret",
        through_handle = sym dlvsym_through_handle,
        pseudo = sym dlvsym_pseudo,
    );
}
