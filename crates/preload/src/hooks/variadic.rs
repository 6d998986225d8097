//! `execl`, `execle`, `execlp`: exported names for the C shim's variadic
//! implementations (`shim.c`).
//!
//! rustc's version script for a cdylib exports only Rust items, so symbols
//! from a linked C object stay local. Each export here is a naked function
//! that tail-jumps to the C function: no register or stack slot is touched,
//! so the variadic arguments (and `%al` on x86_64) arrive as the caller
//! passed them.

unsafe extern "C" {
    fn rampart_execl();
    fn rampart_execle();
    fn rampart_execlp();
}

macro_rules! trampoline {
    ($name:ident => $target:ident) => {
        /// # Safety
        /// As the libc function of the same name.
        #[unsafe(naked)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name() {
            #[cfg(target_arch = "x86_64")]
            core::arch::naked_asm!("jmp {0}", sym $target);
            #[cfg(target_arch = "aarch64")]
            core::arch::naked_asm!("b {0}", sym $target);
        }
    };
}

trampoline!(execl => rampart_execl);
trampoline!(execle => rampart_execle);
trampoline!(execlp => rampart_execlp);
