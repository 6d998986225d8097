/* execl, execle and execlp are truly variadic, and stable Rust cannot
 * define a C-variadic function: these collect their arguments into an
 * array (as glibc does) and hand it to the checked exec in Rust. They are hidden: the
 * exported execl* are naked Rust trampolines (hooks/variadic.rs) that jump
 * here, because a cdylib only exports Rust items. */

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

extern char **environ;

/* In hooks/exec.rs: the checked exec, told which entry point was called
 * (0 execl, 1 execle, 2 execlp) so its event line names it. */
int rampart_exec_from_shim(int which, const char *path, char *const argv[], char *const envp[]);

/* The most arguments accepted (glibc has no limit but the stack's). */
#define RAMPART_MAX_ARGS 65536

static size_t count_args(va_list ap) {
    size_t n = 1; /* arg0 */
    va_list c;
    va_copy(c, ap);
    while (va_arg(c, const char *) != NULL && n <= RAMPART_MAX_ARGS) {
        n++;
    }
    va_end(c);
    return n;
}

/* Collects arg0 and the NULL-terminated arguments after it from `ap` into
 * an array on this frame (execle's envp follows the NULL) and execs. */
static int exec_collected(int which, const char *path, const char *arg, va_list ap) {
    size_t n = count_args(ap);
    if (n > RAMPART_MAX_ARGS) {
        errno = E2BIG;
        return -1;
    }
    const char *argv[n + 1];
    argv[0] = arg;
    for (size_t i = 1; i <= n; i++) {
        argv[i] = va_arg(ap, const char *);
    }
    char *const *envp = which == 1 ? va_arg(ap, char *const *) : environ;
    return rampart_exec_from_shim(which, path, (char *const *)argv, envp);
}

__attribute__((visibility("hidden"))) int rampart_execl(const char *path, const char *arg, ...) {
    va_list ap;
    va_start(ap, arg);
    int r = exec_collected(0, path, arg, ap);
    va_end(ap);
    return r;
}

__attribute__((visibility("hidden"))) int rampart_execle(const char *path, const char *arg, ...) {
    va_list ap;
    va_start(ap, arg);
    int r = exec_collected(1, path, arg, ap);
    va_end(ap);
    return r;
}

__attribute__((visibility("hidden"))) int rampart_execlp(const char *file, const char *arg, ...) {
    va_list ap;
    va_start(ap, arg);
    int r = exec_collected(2, file, arg, ap);
    va_end(ap);
    return r;
}
