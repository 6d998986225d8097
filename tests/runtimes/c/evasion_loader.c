/* Row 8 from native code (evasion_loader.rs): libc's functions reached
 * through a handle of libc (dlsym, dlvsym) and libc's syscall(), against
 * the secret; plus what must not change: pseudo-handle lookups, a failed
 * lookup's dlerror, an unchecked system call. Built natively and, for
 * the aarch64 layer library under qemu, with zig cc.
 *
 * Usage: evasion_loader SECRET ALLOWED_FILE
 * Prints "HIT <how>" for every way that read the secret, and "ok <what>"
 * or "BAD <what>" for each thing that must hold with or without the
 * library. */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__aarch64__)
#define BASE_VERSION "GLIBC_2.17"
#else
#define BASE_VERSION "GLIBC_2.2.5"
#endif

typedef int (*open_fn)(const char *, int, ...);

static void reads(const char *how, int fd) {
    char buf[64] = {0};
    if (fd >= 0 && read(fd, buf, sizeof buf - 1) > 0) {
        buf[strcspn(buf, "\n")] = 0;
        printf("HIT %s %s\n", how, buf);
    } else {
        printf("no %s %s\n", how, strerror(errno));
    }
    if (fd >= 0) close(fd);
}

static void check(const char *what, int holds) {
    printf("%s %s\n", holds ? "ok" : "BAD", what);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *secret = argv[1], *allowed = argv[2];
    setvbuf(stdout, NULL, _IONBF, 0);
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    if (!libc) return 3;

    open_fn by_handle = (open_fn)dlsym(libc, "open");
    open_fn by_version = (open_fn)dlvsym(libc, "open", BASE_VERSION);
    open_fn by_default = (open_fn)dlsym(RTLD_DEFAULT, "open");
    reads("dlsym-handle", by_handle(secret, O_RDONLY));
    reads("dlvsym-handle", by_version(secret, O_RDONLY));
    reads("dlsym-default", by_default(secret, O_RDONLY));
    reads("syscall-openat", (int)syscall(SYS_openat, AT_FDCWD, secret, O_RDONLY, 0));

    int fd = by_handle(allowed, O_RDONLY);
    check("allowed-through-handle", fd >= 0);
    if (fd >= 0) close(fd);
    fd = (int)syscall(SYS_openat, AT_FDCWD, allowed, O_RDONLY, 0);
    check("allowed-through-syscall", fd >= 0);
    if (fd >= 0) close(fd);
    check("unchecked-syscall", syscall(SYS_getppid) == getppid());
    check("handle-and-default-agree", by_handle == by_default);
    check("unhooked-name-unchanged", dlsym(libc, "malloc") == dlsym(RTLD_DEFAULT, "malloc"));
    dlerror();
    check("missing-name", dlsym(libc, "rampart_no_such_symbol") == NULL && dlerror() != NULL);
    check("missing-version", dlvsym(libc, "open", "GLIBC_0.0") == NULL && dlerror() != NULL);
    check("next-found", dlsym(RTLD_NEXT, "read") != NULL);
    /* Answered by the library itself with the layer (the pseudo-handle
     * path's own answer), by libc without: the same function either way. */
    void *sys = dlsym(RTLD_DEFAULT, "system");
    check("private-alias-default", dlsym(RTLD_DEFAULT, "__libc_system") == sys);
    check("private-alias-versioned", dlvsym(RTLD_DEFAULT, "__libc_system", "GLIBC_PRIVATE") == sys);
    return 0;
}
