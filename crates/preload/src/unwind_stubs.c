/* A panic in librampart.so aborts the process (release: panic = "abort";
 * a panic while unwinding in a debug build ends here too). std still refers to
 * libgcc_s's unwinder (for backtraces and landing pads that never run when
 * a panic aborts), which makes every process load one more shared library
 * at start — in every exec'd child. These hidden stand-ins satisfy those
 * references inside librampart.so, so libgcc_s is not needed; they are not
 * exported and never replace the unwinder other code in the process uses. */

#include <stdlib.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* _URC_END_OF_STACK: "no frames", so a backtrace is simply empty. */
HIDDEN int _Unwind_Backtrace(void *trace, void *arg) {
    (void)trace;
    (void)arg;
    return 5;
}

/* Only reached while unwinding, which an aborting panic never starts. */
HIDDEN void _Unwind_Resume(void *exception) {
    (void)exception;
    abort();
}

HIDDEN unsigned long _Unwind_GetIP(void *ctx) {
    (void)ctx;
    abort();
}

HIDDEN unsigned long _Unwind_GetIPInfo(void *ctx, int *before) {
    (void)ctx;
    (void)before;
    abort();
}

HIDDEN unsigned long _Unwind_GetDataRelBase(void *ctx) {
    (void)ctx;
    abort();
}

HIDDEN unsigned long _Unwind_GetTextRelBase(void *ctx) {
    (void)ctx;
    abort();
}

HIDDEN unsigned long _Unwind_GetRegionStart(void *ctx) {
    (void)ctx;
    abort();
}

HIDDEN void *_Unwind_GetLanguageSpecificData(void *ctx) {
    (void)ctx;
    abort();
}

HIDDEN void _Unwind_SetGR(void *ctx, int index, unsigned long value) {
    (void)ctx;
    (void)index;
    (void)value;
    abort();
}

HIDDEN void _Unwind_SetIP(void *ctx, unsigned long value) {
    (void)ctx;
    (void)value;
    abort();
}
