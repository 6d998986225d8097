/* A library that wraps mkdir and unlink the two usual ways, preloaded
 * AFTER librampart, twice (evasion_loader.rs builds it as "a" and "b"):
 * mkdir finds the function it wraps with dlsym(RTLD_NEXT), unlink with
 * dlsym on a handle of libc. Each call writes "WRAP <tag> <name>" to
 * stderr, so a test sees which wrappers stayed in the chain.
 * librampart's hooks for these call the next definition, which is a
 * wrapper's: were either lookup here handed librampart's hook, the hook
 * and the wrappers would call each other until the stack ran out. */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef WRAP_TAG
#define WRAP_TAG "a"
#endif

static void note(const char *what) {
    char line[64] = "WRAP " WRAP_TAG " ";
    strncat(line, what, sizeof line - strlen(line) - 2);
    strcat(line, "\n");
    ssize_t ignored = write(2, line, strlen(line));
    (void)ignored;
}

int mkdir(const char *path, mode_t mode) {
    static int (*next)(const char *, mode_t);
    if (!next) {
        next = (int (*)(const char *, mode_t))dlsym(RTLD_NEXT, "mkdir");
    }
    note("mkdir");
    return next(path, mode);
}

int unlink(const char *path) {
    static int (*next)(const char *);
    if (!next) {
        void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
        next = (int (*)(const char *))dlsym(libc, "unlink");
    }
    note("unlink");
    return next(path);
}
