/* The raw C entry points librampart.so hooks, one case per run:
 *
 *     cases CASE ROOT CDIR TCP_OK TCP_NO UDP_OK UDP_NO TCP6_OK TCP6_NO TAG
 *
 * ROOT is the sandbox (allowed/, secret/, ro/ as in
 * tests/src/runtimes_common.rs), CDIR the directory of the compiled
 * programs (bin/cases, bin/cstatic, deny/denied), the ports are the test's
 * loopback peers, TAG makes abstract socket names unique. The case prints
 * one JSON line on stdout: {"case":CASE,"pid":PID,...}; each call's outcome
 * is "ok" or the errno name it failed with (after checking that the return
 * value was the failure value: -1, NULL, or posix_spawn's error number).
 *
 * Programs this one execs (itself as `cases child ...`) print their own
 * line: {"case":"child",...}.
 *
 * Compiled with -O2 -D_FORTIFY_SOURCE=2: an open() without a mode and with
 * flags the compiler cannot see (VFLAGS) goes to glibc's fortified
 * __open_2 / __open64_2 / __openat_2 / __openat64_2; with a mode it goes
 * to the plain symbol. The test checks the imports with nm. */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *CASE, *ROOT, *CDIR, *TAG;
static int TCP_OK, TCP_NO, UDP_OK, UDP_NO, TCP6_OK, TCP6_NO;

/* ---- the result line ---------------------------------------------------- */

static char J[1 << 16];
static size_t JL;

static void jcat(const char *s) {
    size_t n = strlen(s);
    if (JL + n < sizeof J) {
        memcpy(J + JL, s, n);
        JL += n;
        J[JL] = 0;
    }
}

static void jfmt(const char *fmt, ...) {
    char b[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    jcat(b);
}

/* A JSON string literal (or null) appended to J. */
static void jstr(const char *s) {
    if (!s) {
        jcat("null");
        return;
    }
    jcat("\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char b[3] = {'\\', (char)*p, 0};
            jcat(b);
        } else if (*p < 0x20) {
            jfmt("\\u%04x", *p);
        } else {
            char b[2] = {(char)*p, 0};
            jcat(b);
        }
    }
    jcat("\"");
}

static void key(const char *k) {
    jcat(",");
    jstr(k);
    jcat(":");
}

static void put_str(const char *k, const char *v) {
    key(k);
    jstr(v);
}

static void put_int(const char *k, long v) {
    key(k);
    jfmt("%ld", v);
}

static const char *ename(int e) {
    switch (e) {
    case 0: return "ok";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ELOOP: return "ELOOP";
    case EINVAL: return "EINVAL";
    case EEXIST: return "EEXIST";
    case EBADF: return "EBADF";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case ENOSYS: return "ENOSYS";
    case ENOEXEC: return "ENOEXEC";
    case E2BIG: return "E2BIG";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EAGAIN: return "EAGAIN";
    case EINTR: return "EINTR";
    case EXDEV: return "EXDEV";
    case ENXIO: return "ENXIO";
    case ETXTBSY: return "ETXTBSY";
    case EDESTADDRREQ: return "EDESTADDRREQ";
    case ENOTCONN: return "ENOTCONN";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EMSGSIZE: return "EMSGSIZE";
    case 1234: return "E1234";
    default: {
        static char b[32];
        snprintf(b, sizeof b, "E%d", e);
        return b;
    }
    }
}

static void put_err(const char *k, int e) {
    put_str(k, ename(e));
}

static void finish(void) {
    printf("{\"case\":\"%s\",\"pid\":%d%s}\n", CASE, (int)getpid(), J);
    fflush(stdout);
}

static char *path(const char *rel) {
    char *p = NULL;
    if (asprintf(&p, "%s/%s", ROOT, rel) < 0) abort();
    return p;
}

static char *cpath(const char *rel) {
    char *p = NULL;
    if (asprintf(&p, "%s/%s", CDIR, rel) < 0) abort();
    return p;
}

/* Reads what is left on fd (at most 255 bytes). */
static void read_all(int fd, char *buf, size_t cap) {
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0) n += (size_t)r;
    buf[n] = 0;
}

/* An fd-returning call: "ok" and K_data (what it reads; "" for a
 * write-only descriptor), or the errno name; the fd is closed. */
static void fd_result(const char *k, int fd, int e) {
    char kd[128];
    if (fd >= 0) {
        char buf[256];
        int acc = fcntl(fd, F_GETFL) & O_ACCMODE;
        if (acc == O_WRONLY) buf[0] = 0;
        else read_all(fd, buf, sizeof buf);
        close(fd);
        put_str(k, "ok");
        snprintf(kd, sizeof kd, "%s_data", k);
        put_str(kd, buf);
    } else if (fd == -1) {
        put_err(k, e);
    } else {
        put_str(k, "bad return value");
    }
}

#define FD(k, expr)                                                                                                   \
    do {                                                                                                              \
        errno = 0;                                                                                                    \
        int fd_ = (expr);                                                                                             \
        int e_ = errno;                                                                                               \
        fd_result(k, fd_, e_);                                                                                        \
    } while (0)

/* A call returning -1 and errno on failure: "ok" and K_ret, or the errno. */
#define RET(k, expr)                                                                                                  \
    do {                                                                                                              \
        errno = 0;                                                                                                    \
        long r_ = (long)(expr);                                                                                       \
        int e_ = errno;                                                                                               \
        if (r_ == -1) put_err(k, e_);                                                                                 \
        else {                                                                                                        \
            put_str(k, "ok");                                                                                         \
            char kk_[128];                                                                                            \
            snprintf(kk_, sizeof kk_, "%s_ret", k);                                                                   \
            put_int(kk_, r_);                                                                                         \
        }                                                                                                             \
    } while (0)

/* The same for a stream (read from, unless opened for writing: then
 * "written\n" is written to it). */
static void file_result(const char *k, FILE *f, int e, int writing) {
    char kd[128];
    if (f) {
        char buf[256] = {0};
        if (writing) {
            fputs("written\n", f);
        } else {
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            buf[n] = 0;
        }
        fclose(f);
        put_str(k, "ok");
        snprintf(kd, sizeof kd, "%s_data", k);
        put_str(kd, buf);
    } else {
        put_err(k, e);
    }
}

#define STREAM(k, expr, writing)                                                                                      \
    do {                                                                                                              \
        errno = 0;                                                                                                    \
        FILE *f_ = (expr);                                                                                            \
        int e_ = errno;                                                                                               \
        file_result(k, f_, e_, writing);                                                                              \
    } while (0)

/* Flags the compiler cannot see: routes open() to the fortified variants. */
static volatile int VFLAGS;

static int vflags(int f) {
    VFLAGS = f;
    return VFLAGS;
}

/* ---- file cases --------------------------------------------------------- */

/* The same five calls for every open-shaped entry point: an allowed read,
 * a denied read, a denied truncating write, a denied create, a denied
 * read-write of a read-only file. */
static void open_family(const char *which) {
    const char *ok = path("allowed/data.txt"), *sx = path("secret/x"), *sn = path("secret/new"), *ro = path("ro/data.txt");
    int dfd = open(ROOT, O_RDONLY | O_DIRECTORY, 0); /* allowed: r ROOT */
    if (!strcmp(which, "open")) {
        FD("allowed", open(ok, O_RDONLY, 0));
        FD("denied_r", open(sx, O_RDONLY, 0));
        FD("denied_w", open(sx, O_WRONLY | O_TRUNC, 0));
        FD("denied_create", open(sn, O_WRONLY | O_CREAT | O_EXCL, 0600));
        FD("denied_rw", open(ro, O_RDWR, 0));
    } else if (!strcmp(which, "open64")) {
        FD("allowed", open64(ok, O_RDONLY, 0));
        FD("denied_r", open64(sx, O_RDONLY, 0));
        FD("denied_w", open64(sx, O_WRONLY | O_TRUNC, 0));
        FD("denied_create", open64(sn, O_WRONLY | O_CREAT | O_EXCL, 0600));
        FD("denied_rw", open64(ro, O_RDWR, 0));
    } else if (!strcmp(which, "openat")) {
        /* A real dirfd with relative paths, AT_FDCWD relative (cwd is ROOT). */
        FD("allowed", openat(dfd, "allowed/data.txt", O_RDONLY, 0));
        FD("denied_r", openat(AT_FDCWD, "secret/x", O_RDONLY, 0));
        FD("denied_w", openat(dfd, "secret/x", O_WRONLY | O_TRUNC, 0));
        FD("denied_create", openat(dfd, "secret/new", O_WRONLY | O_CREAT | O_EXCL, 0600));
        FD("denied_rw", openat(AT_FDCWD, ro, O_RDWR, 0));
    } else if (!strcmp(which, "openat64")) {
        FD("allowed", openat64(AT_FDCWD, "allowed/data.txt", O_RDONLY, 0));
        FD("denied_r", openat64(dfd, "secret/x", O_RDONLY, 0));
        FD("denied_w", openat64(AT_FDCWD, sx, O_WRONLY | O_TRUNC, 0));
        FD("denied_create", openat64(dfd, "secret/new", O_WRONLY | O_CREAT | O_EXCL, 0600));
        FD("denied_rw", openat64(dfd, "ro/data.txt", O_RDWR, 0));
    } else if (!strcmp(which, "open_2")) {
        /* No O_CREAT: the fortified variants abort on it without a mode. */
        FD("allowed", open(ok, vflags(O_RDONLY)));
        FD("denied_r", open(sx, vflags(O_RDONLY)));
        FD("denied_w", open(sx, vflags(O_WRONLY | O_TRUNC)));
        FD("denied_rw", open(ro, vflags(O_RDWR)));
    } else if (!strcmp(which, "open64_2")) {
        FD("allowed", open64(ok, vflags(O_RDONLY)));
        FD("denied_r", open64(sx, vflags(O_RDONLY)));
        FD("denied_w", open64(sx, vflags(O_WRONLY | O_TRUNC)));
        FD("denied_rw", open64(ro, vflags(O_RDWR)));
    } else if (!strcmp(which, "openat_2")) {
        FD("allowed", openat(dfd, "allowed/data.txt", vflags(O_RDONLY)));
        FD("denied_r", openat(AT_FDCWD, "secret/x", vflags(O_RDONLY)));
        FD("denied_w", openat(dfd, "secret/x", vflags(O_WRONLY | O_TRUNC)));
        FD("denied_rw", openat(dfd, "ro/data.txt", vflags(O_RDWR)));
    } else if (!strcmp(which, "openat64_2")) {
        FD("allowed", openat64(dfd, "allowed/data.txt", vflags(O_RDONLY)));
        FD("denied_r", openat64(AT_FDCWD, "secret/x", vflags(O_RDONLY)));
        FD("denied_w", openat64(dfd, "secret/x", vflags(O_WRONLY | O_TRUNC)));
        FD("denied_rw", openat64(dfd, "ro/data.txt", vflags(O_RDWR)));
    }
    close(dfd);
}

static void case_creat(int is64) {
    int (*c)(const char *, mode_t) = is64 ? creat64 : creat;
    char *made = path(is64 ? "allowed/creat64.txt" : "allowed/creat.txt");
    errno = 0;
    int fd = c(made, 0600);
    int e = errno;
    if (fd >= 0) {
        (void)!write(fd, "created\n", 8);
        close(fd);
    }
    put_err("allowed", fd >= 0 ? 0 : e);
    FD("denied_existing", c(path("secret/x"), 0600));
    FD("denied_new", c(path("secret/new"), 0600));
}

static void case_fopen(int is64) {
    FILE *(*fo)(const char *, const char *) = is64 ? fopen64 : fopen;
    STREAM("r_allowed", fo(path("allowed/data.txt"), "r"), 0);
    STREAM("w_allowed", fo(path(is64 ? "allowed/fopen64.txt" : "allowed/fopen.txt"), "w"), 1);
    STREAM("r", fo(path("secret/x"), "r"), 0);
    STREAM("w", fo(path("secret/x"), "w"), 1);
    STREAM("a", fo(path("secret/x"), "a"), 1);
    STREAM("r+", fo(path("secret/x"), "r+"), 0);
    STREAM("wx", fo(path("secret/new"), "wx"), 1);
    STREAM("r+_ro", fo(path("ro/data.txt"), "r+"), 0);
}

static void case_freopen(int is64) {
    FILE *(*fr)(const char *, const char *, FILE *) = is64 ? freopen64 : freopen;
    FILE *f = fopen(path("allowed/data.txt"), "r");
    STREAM("denied_r", fr(path("secret/x"), "r", f), 0);
    f = fopen(path("allowed/data.txt"), "r");
    STREAM("denied_w", fr(path("secret/x"), "w", f), 1);
    f = fopen(path("allowed/data.txt"), "r");
    STREAM("allowed", fr(path("ro/data.txt"), "r", f), 0);
}

static void dir_result(const char *k, DIR *d, int e) {
    if (!d) {
        put_err(k, e);
        return;
    }
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    put_str(k, "ok");
    char kd[128];
    snprintf(kd, sizeof kd, "%s_entries", k);
    put_int(kd, n);
}

#define DIRR(k, expr)                                                                                                 \
    do {                                                                                                              \
        errno = 0;                                                                                                    \
        DIR *d_ = (expr);                                                                                             \
        int e_ = errno;                                                                                               \
        dir_result(k, d_, e_);                                                                                        \
    } while (0)

static void case_opendir(void) {
    DIRR("allowed", opendir(path("allowed")));
    DIRR("denied", opendir(path("secret")));
    DIRR("denied_link", opendir("allowed/secretdir"));
}

/* ---- evasion ------------------------------------------------------------ */

static void case_symlink_denied(void) {
    int rootfd = open(ROOT, O_RDONLY | O_DIRECTORY, 0);
    FD("abs", open(path("allowed/link"), O_RDONLY, 0));
    FD("rel", open("allowed/link", O_RDONLY, 0));
    FD("at", openat(rootfd, "allowed/link", O_RDONLY, 0));
    STREAM("fopen_w", fopen(path("allowed/link"), "w"), 1);
    /* A link to a denied directory, then a file in it. */
    FD("dir", open("allowed/secretdir/x", O_RDONLY, 0));
    /* allowed/dangling -> ROOT/secret/new (made by the test): O_CREAT
     * through it would create the denied file. */
    FD("dangling_creat", open("allowed/dangling", O_WRONLY | O_CREAT, 0600));
    STREAM("dangling_fopen", fopen("allowed/dangling", "w"), 1);
    close(rootfd);
}

/* The name-level writes: unlink, rmdir, mkdir, rename (and their *at
 * forms) need `w` on the name; a link itself is removed, not followed. */
static void case_names(void) {
    int dfd = open(ROOT, O_RDONLY | O_DIRECTORY, 0);
    RET("unlink_denied", unlink(path("secret/x")));
    RET("unlinkat_denied", unlinkat(dfd, "secret/x", 0));
    RET("unlink_via_link", unlink(path("allowed/secretdir/x")));
    RET("rmdir_denied", rmdir(path("secret")));
    RET("mkdir_denied", mkdir(path("secret/d"), 0700));
    RET("mkdirat_denied", mkdirat(dfd, "secret/d", 0700));
    RET("rename_from_denied", rename(path("secret/x"), path("allowed/stolen")));
    RET("rename_to_denied", rename(path("allowed/data.txt"), path("secret/planted")));
    RET("renameat_denied", renameat(dfd, "allowed/data.txt", dfd, "ro/data.txt"));
    RET("renameat2_denied", renameat2(dfd, "secret/x", dfd, "allowed/stolen", RENAME_NOREPLACE));
    /* Allowed: in allowed/; unlinking allowed/link removes the link (its
     * target is the secret, which stays). */
    RET("mkdir", mkdir(path("allowed/d"), 0700));
    RET("mkdirat", mkdirat(dfd, "allowed/d2", 0700));
    RET("rename", rename(path("allowed/d"), path("allowed/e")));
    RET("renameat", renameat(dfd, "allowed/d2", dfd, "allowed/e2"));
    RET("renameat2", renameat2(dfd, "allowed/e2", dfd, "allowed/e3", RENAME_NOREPLACE));
    RET("rmdir", rmdir(path("allowed/e")));
    RET("unlinkat_dir", unlinkat(dfd, "allowed/e3", AT_REMOVEDIR));
    RET("unlink_link", unlink(path("allowed/link")));
    close(dfd);
}

/* A hard link gives a file a second name (both names need `w`, or an
 * allowed directory could reach a denied file); a symlink writes its own
 * name; truncate by name writes the file it names (links followed). The
 * allowed calls undo themselves, so the sandbox ends as it started. */
static void case_links(void) {
    int dfd = open(ROOT, O_RDONLY | O_DIRECTORY, 0);
    RET("link_from_denied", link(path("secret/x"), path("allowed/h")));
    RET("linkat_to_denied", linkat(dfd, "allowed/data.txt", dfd, "secret/h", 0));
    RET("symlink_denied", symlink("../allowed/data.txt", path("secret/sl")));
    RET("symlinkat_denied", symlinkat("x", dfd, "secret/sl2"));
    RET("truncate_denied", truncate(path("secret/x"), 0));
    RET("truncate_via_link", truncate(path("allowed/link"), 0));
    RET("link", link(path("allowed/data.txt"), path("allowed/h2")));
    RET("unlink_h2", unlink(path("allowed/h2")));
    RET("symlinkat", symlinkat("data.txt", dfd, "allowed/sl"));
    RET("unlink_sl", unlink(path("allowed/sl")));
    int fd = open(path("allowed/t"), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd >= 0) {
        if (write(fd, "abc", 3) != 3) put_str("write_t", "short");
        close(fd);
    }
    RET("truncate", truncate(path("allowed/t"), 1));
    struct stat st;
    stat(path("allowed/t"), &st);
    jfmt(",\"t_size\":%ld", (long)st.st_size);
    RET("unlink_t", unlink(path("allowed/t")));
    close(dfd);
}

/* Hooks run from a signal handler while the interrupted code is itself
 * inside a hook: the handler's opens are checked like any other (no lock,
 * no allocation to deadlock on). */
static volatile sig_atomic_t H_DENIED_OK, H_ALLOWED_OK, H_RUNS;
/* Made before the handler is installed: the handler itself must not
 * allocate (asprintf) any more than the hooks may. */
static const char *H_SECRET, *H_ALLOWED;
static void on_alarm(int sig) {
    (void)sig;
    int saved = errno;
    int fd = open(H_SECRET, O_RDONLY);
    if (fd < 0 && errno == EACCES) H_DENIED_OK++;
    else if (fd >= 0) close(fd);
    fd = open(H_ALLOWED, O_RDONLY);
    if (fd >= 0) {
        H_ALLOWED_OK++;
        close(fd);
    }
    H_RUNS++;
    errno = saved;
}

static void case_signals(void) {
    H_SECRET = path("secret/x");
    H_ALLOWED = path("allowed/data.txt");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 500}, {0, 500}};
    setitimer(ITIMER_REAL, &it, NULL);
    long main_ok = 0, main_denied = 0;
    while (H_RUNS < 200) {
        int fd = open(H_ALLOWED, O_RDONLY);
        if (fd >= 0) {
            main_ok++;
            close(fd);
        }
        fd = open(H_SECRET, O_RDONLY);
        if (fd < 0 && errno == EACCES) main_denied++;
        else if (fd >= 0) close(fd);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    signal(SIGALRM, SIG_IGN);
    int runs = H_RUNS;
    jfmt(",\"handler_runs\":%d,\"handler_denied\":%d,\"handler_allowed\":%d,\"main_all_allowed\":%s,\"main_all_denied\":%s",
         runs, (int)H_DENIED_OK, (int)H_ALLOWED_OK, main_ok > 0 ? "true" : "false",
         main_ok == main_denied ? "true" : "false");
}

/* O_TMPFILE makes an unnamed file in a directory: a write there. */
static void case_tmpfile(void) {
    FD("denied", open(path("secret"), O_TMPFILE | O_WRONLY, 0600));
    FD("allowed", open(path("allowed"), O_TMPFILE | O_RDWR, 0600));
}

static void case_symlink_allowed(void) {
    /* secret/goodlink -> ../allowed/data.txt (made by the test). */
    FD("via_secret", open(path("secret/goodlink"), O_RDONLY, 0));
    FD("via_allowed", open(path("allowed/goodlink"), O_RDONLY, 0));
    STREAM("fopen", fopen("secret/goodlink", "r"), 0);
}

static void case_dotdot(void) {
    FD("abs", open(path("allowed/../secret/x"), O_RDONLY, 0));
    FD("rel", open("allowed/../secret/x", O_RDONLY, 0));
    FD("deep", open("allowed/./../ro/../secret/./x", O_RDONLY, 0));
    /* Lexically ROOT/allowed/secret/x (allowed), really ROOT/secret/x:
     * `..` after a link is taken from where the link leads. */
    FD("after_link", open(path("allowed/secretdir/../secret/x"), O_RDONLY, 0));
    FD("allowed", open(path("secret/../allowed/data.txt"), O_RDONLY, 0));
    /* Lexically ROOT/allowed/allowed/data.txt, really ROOT/allowed/data.txt. */
    FD("allowed_after_link", open(path("allowed/secretdir/../allowed/data.txt"), O_RDONLY, 0));
}

static void case_slashes(void) {
    char *p = NULL;
    if (asprintf(&p, "%s//secret///x", ROOT) < 0) abort();
    FD("double", open(p, O_RDONLY, 0));
    if (asprintf(&p, "%s/./secret/./x", ROOT) < 0) abort();
    FD("dot", open(p, O_RDONLY, 0));
    if (asprintf(&p, "/%s//allowed//data.txt", ROOT) < 0) abort();
    FD("allowed", open(p, O_RDONLY, 0));
}

static void case_chdir(void) {
    if (chdir(path("allowed"))) abort();
    FD("allowed", open("data.txt", O_RDONLY, 0));
    FD("up", open("../secret/x", O_RDONLY, 0));
    if (chdir(path("secret"))) abort();
    FD("here", open("x", O_RDONLY, 0));
    STREAM("fopen", fopen("./x", "r"), 0);
    FD("back", open("../allowed/data.txt", O_RDONLY, 0));
}

/* A descriptor the library never saw (as if inherited from before
 * rampart): the system call instruction itself, which LD_PRELOAD cannot
 * see (libc's syscall() is hooked). */
static int unseen_open(const char *p, int flags) {
    long r;
#if defined(__x86_64__)
    register long r10 __asm__("r10") = 0;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"((long)SYS_openat), "D"((long)AT_FDCWD), "S"(p), "d"((long)flags), "r"(r10)
                     : "rcx", "r11", "memory");
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = SYS_openat;
    register long x0 __asm__("x0") = AT_FDCWD;
    register long x1 __asm__("x1") = (long)p;
    register long x2 __asm__("x2") = flags;
    register long x3 __asm__("x3") = 0;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    r = x0;
#else
#error "unseen_open: x86_64 or aarch64"
#endif
    return r < 0 ? -1 : (int)r;
}

static void case_dirfd_denied(void) {
    int dfd = unseen_open(path("secret"), O_RDONLY | O_DIRECTORY);
    put_int("setup", dfd >= 0);
    FD("denied", openat(dfd, "x", O_RDONLY, 0));
    FD("denied_fortified", openat(dfd, "x", vflags(O_RDONLY)));
    FD("allowed", openat(dfd, "../allowed/data.txt", O_RDONLY, 0));
}

static void case_proc_fd(void) {
    int sfd = unseen_open(path("secret/x"), O_PATH);
    int afd = unseen_open(path("allowed/data.txt"), O_PATH);
    put_int("setup", sfd >= 0 && afd >= 0);
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", sfd);
    FD("proc", open(p, O_RDONLY, 0));
    snprintf(p, sizeof p, "/dev/fd/%d", sfd);
    FD("devfd", open(p, O_RDONLY, 0));
    snprintf(p, sizeof p, "/proc/%d/fd/%d", (int)getpid(), sfd);
    FD("other_pid", open(p, O_RDONLY, 0));
    snprintf(p, sizeof p, "/proc/self/fd/%d", afd);
    FD("allowed", open(p, O_RDONLY, 0));
    /* A read-only descriptor of ro/data.txt (allowed) re-opened for writing. */
    int rofd = open(path("ro/data.txt"), O_RDONLY, 0);
    snprintf(p, sizeof p, "/proc/self/fd/%d", rofd);
    FD("upgrade", open(p, O_RDWR, 0));
    /* The root and the cwd through /proc (cwd is ROOT). */
    char *q = NULL;
    if (asprintf(&q, "/proc/self/root%s/secret/x", ROOT) < 0) abort();
    FD("root", open(q, O_RDONLY, 0));
    FD("cwd", open("/proc/self/cwd/secret/x", O_RDONLY, 0));
    FD("thread_cwd", open("/proc/thread-self/cwd/secret/x", O_RDONLY, 0));
    FD("cwd_allowed", open("/proc/self/cwd/allowed/data.txt", O_RDONLY, 0));
}

/* freopen(NULL, mode, f) re-opens f's file with a new mode. */
static void case_freopen_null(void) {
    FILE *f = fopen(path("ro/data.txt"), "r");
    put_str("setup", f ? "ok" : ename(errno));
    STREAM("upgrade", freopen(NULL, "r+", f), 0);
    f = fopen(path("ro/data.txt"), "r");
    STREAM("append", freopen(NULL, "a", f), 1);
    f = fopen(path("allowed/data.txt"), "r");
    STREAM("allowed", freopen(NULL, "r+", f), 0);
}

/* A thread flips allowed/flip between a link to the allowed file and one
 * to the secret file (rename over it: the name always exists) while this
 * thread opens and reads it; the secret content must never be read. */
static atomic_int flipping;
static int FLIPS;

static void *flipper(void *arg) {
    (void)arg;
    char *tmp = path("allowed/flip.tmp"), *link = path("allowed/flip");
    char *targets[2] = {path("allowed/data.txt"), path("secret/x")};
    for (int i = 0; i < FLIPS; i++) {
        unlink(tmp);
        if (symlink(targets[i & 1], tmp) || rename(tmp, link)) abort();
    }
    atomic_store(&flipping, 0);
    return NULL;
}

static void case_swap(int flips) {
    FLIPS = flips;
    char *link = path("allowed/flip");
    if (symlink(path("allowed/data.txt"), link)) abort();
    long ok = 0, denied = 0, secret = 0, other_data = 0, eloop = 0, other_err = 0, opens = 0;
    atomic_store(&flipping, 1);
    pthread_t t;
    pthread_create(&t, NULL, flipper, NULL);
    while (atomic_load(&flipping)) {
        opens++;
        int fd = open(link, O_RDONLY, 0);
        if (fd >= 0) {
            char buf[64];
            read_all(fd, buf, sizeof buf);
            close(fd);
            if (!strcmp(buf, "top secret\n")) secret++;
            else if (!strcmp(buf, "allowed data\n")) ok++;
            else other_data++;
        } else if (errno == EACCES) {
            denied++;
        } else if (errno == ELOOP) {
            eloop++;
        } else {
            other_err++;
        }
    }
    pthread_join(t, NULL);
    unlink(link);
    put_int("opens", opens);
    put_int("ok", ok);
    put_int("denied", denied);
    put_int("secret_read", secret);
    put_int("other_data", other_data);
    put_int("eloop", eloop);
    put_int("other_err", other_err);
}

/* ---- exec --------------------------------------------------------------- */

/* Runs `exec` in a fork child; the parent learns whether it failed (and
 * with which errno) through a close-on-exec pipe. K: "ok" when the program
 * was exec'd, else the errno; K_pid: the child; K_exit: its exit status. */
static void report_child(const char *k, pid_t pid, int e, int failed) {
    int st = 0;
    waitpid(pid, &st, 0);
    char kk[128];
    put_err(k, failed ? e : 0);
    snprintf(kk, sizeof kk, "%s_pid", k);
    put_int(kk, pid);
    snprintf(kk, sizeof kk, "%s_exit", k);
    put_int(kk, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

#define IN_CHILD(k, call)                                                                                             \
    do {                                                                                                              \
        int p_[2];                                                                                                    \
        if (pipe2(p_, O_CLOEXEC)) abort();                                                                            \
        fflush(stdout);                                                                                               \
        pid_t pid_ = fork();                                                                                          \
        if (pid_ == 0) {                                                                                              \
            close(p_[0]);                                                                                             \
            call;                                                                                                     \
            int e_ = errno;                                                                                           \
            (void)!write(p_[1], &e_, sizeof e_);                                                                      \
            _exit(127);                                                                                               \
        }                                                                                                             \
        close(p_[1]);                                                                                                 \
        int e_ = 0;                                                                                                   \
        ssize_t n_ = read(p_[0], &e_, sizeof e_);                                                                     \
        close(p_[0]);                                                                                                 \
        report_child(k, pid_, e_, n_ == (ssize_t)sizeof e_);                                                          \
    } while (0)

static void set_path(void) {
    char *p = NULL;
    if (asprintf(&p, "%s/bin:%s/deny:/usr/bin:/bin", CDIR, CDIR) < 0) abort();
    setenv("PATH", p, 1);
}

static void case_exec(const char *which) {
    char *ok = cpath("bin/cases"), *no = cpath("deny/denied");
    char *const av_ok[] = {"cases", "child", (char *)which, NULL};
    char *const av_no[] = {"denied", "child", (char *)which, NULL};
    char *const env[] = {"FOO=from-env", NULL};
    set_path();
    if (!strcmp(which, "execve")) {
        IN_CHILD("allowed", execve(ok, av_ok, environ));
        IN_CHILD("denied", execve(no, av_no, environ));
    } else if (!strcmp(which, "execv")) {
        IN_CHILD("allowed", execv(ok, av_ok));
        IN_CHILD("denied", execv(no, av_no));
    } else if (!strcmp(which, "execvp")) {
        IN_CHILD("allowed", execvp("cases", av_ok));
        IN_CHILD("denied", execvp("denied", av_no));
    } else if (!strcmp(which, "execvpe")) {
        IN_CHILD("allowed", execvpe("cases", av_ok, env));
        IN_CHILD("denied", execvpe("denied", av_no, env));
    } else if (!strcmp(which, "execl")) {
        /* More arguments than registers: some are on the stack. */
        IN_CHILD("allowed", execl(ok, "cases", "child", "execl", "a", "b c", "d", "e", "f", "g", "h", (char *)NULL));
        IN_CHILD("denied", execl(no, "denied", "child", "execl", "a", "b c", "d", "e", "f", "g", "h", (char *)NULL));
    } else if (!strcmp(which, "execle")) {
        IN_CHILD("allowed", execle(ok, "cases", "child", "execle", "a", "b", "c", "d", "e", (char *)NULL, env));
        IN_CHILD("denied", execle(no, "denied", "child", "execle", "a", "b", "c", "d", "e", (char *)NULL, env));
    } else if (!strcmp(which, "execlp")) {
        IN_CHILD("allowed", execlp("cases", "cases", "child", "execlp", "a", "b", "c", "d", "e", (char *)NULL));
        IN_CHILD("denied", execlp("denied", "denied", "child", "execlp", "a", "b", "c", "d", "e", (char *)NULL));
    } else if (!strcmp(which, "fexecve")) {
        int okfd = open(ok, O_RDONLY | O_CLOEXEC, 0), nofd = open(no, O_PATH | O_CLOEXEC, 0);
        IN_CHILD("allowed", fexecve(okfd, av_ok, environ));
        IN_CHILD("denied", fexecve(nofd, av_no, environ));
    } else if (!strcmp(which, "execveat")) {
        int bin = open(cpath("bin"), O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
        int deny = open(cpath("deny"), O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
        int okfd = open(ok, O_PATH | O_CLOEXEC, 0), nofd = open(no, O_PATH | O_CLOEXEC, 0);
        IN_CHILD("allowed", execveat(bin, "cases", av_ok, environ, 0));
        IN_CHILD("denied", execveat(deny, "denied", av_no, environ, 0));
        IN_CHILD("allowed_empty", execveat(okfd, "", av_ok, environ, AT_EMPTY_PATH));
        IN_CHILD("denied_empty", execveat(nofd, "", av_no, environ, AT_EMPTY_PATH));
    }
}

/* bin/alias -> ../deny/denied, deny/alias -> ../bin/cases: the program
 * that runs is decided on, not the name. */
static void case_exec_link(void) {
    char *const av_ok[] = {"alias", "child", "exec_link", NULL};
    char *const av_no[] = {"alias", "child", "exec_link", NULL};
    IN_CHILD("denied", execve(cpath("bin/alias"), av_no, environ));
    IN_CHILD("allowed", execve(cpath("deny/alias"), av_ok, environ));
    /* The program through a descriptor's /proc link. */
    int nofd = open(cpath("deny/denied"), O_PATH | O_CLOEXEC, 0);
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", nofd);
    IN_CHILD("proc", execve(p, av_no, environ));
    pid_t pid = 0;
    int r = posix_spawn(&pid, cpath("bin/alias"), NULL, NULL, av_no, environ);
    if (r) put_err("spawn_denied", r);
    else report_child("spawn_denied", pid, 0, 0);
}

static void spawn_result(const char *k, int r, pid_t pid) {
    if (r != 0) {
        put_err(k, r);
        return;
    }
    report_child(k, pid, 0, 0);
}

static void case_spawn(int p) {
    pid_t pid = 0;
    char *const av_ok[] = {"cases", "child", p ? "posix_spawnp" : "posix_spawn", NULL};
    char *const av_no[] = {"denied", "child", p ? "posix_spawnp" : "posix_spawn", NULL};
    set_path();
    fflush(stdout);
    if (p) {
        int r = posix_spawnp(&pid, "cases", NULL, NULL, av_ok, environ);
        spawn_result("allowed", r, pid);
        r = posix_spawnp(&pid, "denied", NULL, NULL, av_no, environ);
        spawn_result("denied", r, pid);
    } else {
        int r = posix_spawn(&pid, cpath("bin/cases"), NULL, NULL, av_ok, environ);
        spawn_result("allowed", r, pid);
        r = posix_spawn(&pid, cpath("deny/denied"), NULL, NULL, av_no, environ);
        spawn_result("denied", r, pid);
    }
}

static void status_result(const char *k, int r, int e) {
    char kk[128];
    if (r == -1) {
        put_err(k, e);
        return;
    }
    put_str(k, "ok");
    snprintf(kk, sizeof kk, "%s_exit", k);
    put_int(kk, WIFEXITED(r) ? WEXITSTATUS(r) : 128 + WTERMSIG(r));
}

/* system and popen: `ARG` is the command (run by /bin/sh). */
static void case_system(const char *cmd) {
    fflush(stdout);
    errno = 0;
    int r = system(cmd);
    int e = errno;
    status_result("system", r, e);
}

static void case_popen(const char *cmd) {
    fflush(stdout);
    errno = 0;
    FILE *f = popen(cmd, "r");
    int e = errno;
    if (!f) {
        put_err("popen", e);
        return;
    }
    char buf[1024] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    int r = pclose(f);
    put_str("popen", "ok");
    put_str("popen_output", buf);
    put_int("popen_exit", WIFEXITED(r) ? WEXITSTATUS(r) : 128 + WTERMSIG(r));
}

/* The environment a child is given drops rampart's variables: it is
 * still covered, with the parent's configuration. */
static void case_env_scrub(void) {
    char *ok = cpath("bin/cases");
    char *const av[] = {"cases", "child-open", path("secret/x"), NULL};
    char *const empty[] = {NULL};
    char *const bogus[] = {"LD_PRELOAD=/bogus.so", "RAMPART_MODE=off", "RAMPART_POLICY=/nonexistent.json", "FOO=kept",
                           NULL};
    IN_CHILD("empty", execve(ok, av, empty));
    IN_CHILD("bogus", execve(ok, av, bogus));
    pid_t pid = 0;
    int r = posix_spawn(&pid, ok, NULL, NULL, av, bogus);
    spawn_result("spawn", r, pid);
}

/* system() after the process itself removed its protection from environ. */
static void case_env_system(void) {
    unsetenv("LD_PRELOAD");
    setenv("RAMPART_MODE", "off", 1);
    setenv("RAMPART_EXTRA", "1", 1);
    char *cmd = NULL;
    if (asprintf(&cmd, "exec %s/bin/cases child-open %s/secret/x", CDIR, ROOT) < 0) abort();
    case_system(cmd);
}

static void case_static(void) {
    char *const av[] = {"cstatic", "arg", NULL};
    IN_CHILD("exec", execve(cpath("bin/cstatic"), av, environ));
}

/* vfork children share the parent's memory: an exec (allowed or denied)
 * from one must leave the parent's hooks working. */
static volatile int vfork_errno;

static void case_vfork(void) {
    char *const av_ok[] = {"cases", "child", "vfork", NULL};
    char *const av_no[] = {"denied", "child", "vfork", NULL};
    char *ok = cpath("bin/cases"), *no = cpath("deny/denied");
    fflush(stdout);
    pid_t pid = vfork();
    if (pid == 0) {
        execve(ok, av_ok, environ);
        vfork_errno = errno;
        _exit(127);
    }
    report_child("allowed", pid, vfork_errno, vfork_errno != 0);
    vfork_errno = 0;
    pid = vfork();
    if (pid == 0) {
        execve(no, av_no, environ);
        vfork_errno = errno;
        _exit(126);
    }
    report_child("denied", pid, vfork_errno, vfork_errno != 0);
    FD("after_denied", open(path("secret/x"), O_RDONLY, 0));
    FD("after_allowed", open(path("allowed/data.txt"), O_RDONLY, 0));
}

/* fork children of a parent whose threads are inside hooked opens. */
static atomic_int busy;

static void *opener(void *arg) {
    const char *p = arg;
    while (atomic_load(&busy)) {
        int fd = open(p, O_RDONLY, 0);
        if (fd >= 0) close(fd);
        else abort();
    }
    return NULL;
}

static void case_fork_mt(int forks) {
    pthread_t t[4];
    atomic_store(&busy, 1);
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, opener, path("allowed/data.txt"));
    char *ok = cpath("bin/cases");
    char *sx = path("secret/x"), *ax = path("allowed/data.txt");
    int good = 0;
    key("pids");
    jcat("[");
    for (int i = 0; i < forks; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            int code = 0;
            int fd = open(ax, O_RDONLY, 0);
            if (fd < 0) code |= 1;
            else close(fd);
            errno = 0;
            fd = open(sx, O_RDONLY, 0);
            if (fd != -1 || errno != EACCES) code |= 2;
            char *const av[] = {"cases", "child-quiet", NULL};
            if (code == 0) execv(ok, av);
            _exit(code | 4);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) good++;
        jfmt("%s%d", i ? "," : "", (int)pid);
    }
    jcat("]");
    atomic_store(&busy, 0);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    put_int("forks", forks);
    put_int("good", good);
}

/* errno is the caller's after a call that succeeded. */
#define KEEPS(k, expr, cleanup)                                                                                       \
    do {                                                                                                              \
        errno = 1234;                                                                                                 \
        long r_ = (long)(expr);                                                                                       \
        int e_ = errno;                                                                                               \
        put_int(k, r_ == -1 || r_ == 0 ? -1 : e_);                                                                    \
        cleanup;                                                                                                      \
    } while (0)

static void case_errno(void) {
    char *ok = path("allowed/data.txt");
    long r = 0;
    KEEPS("open", r = open(ok, O_RDONLY, 0) + 1, close((int)r - 1));
    KEEPS("open64", r = open64(ok, O_RDONLY, 0) + 1, close((int)r - 1));
    KEEPS("openat", r = openat(AT_FDCWD, "allowed/data.txt", O_RDONLY, 0) + 1, close((int)r - 1));
    KEEPS("__open_2", r = open(ok, vflags(O_RDONLY)) + 1, close((int)r - 1));
    KEEPS("creat", r = creat(path("allowed/errno.txt"), 0600) + 1, close((int)r - 1));
    /* Through a link: the slow path. */
    KEEPS("open_link", r = open(path("allowed/goodlink"), O_RDONLY, 0) + 1, close((int)r - 1));
    FILE *f = NULL;
    KEEPS("fopen", f = fopen(ok, "r"), fclose(f));
    DIR *d = NULL;
    KEEPS("opendir", d = opendir(path("allowed")), closedir(d));
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(TCP_OK), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    KEEPS("connect", connect(s, (struct sockaddr *)&a, sizeof a) + 1, close(s));
    s = socket(AF_INET, SOCK_DGRAM, 0);
    a.sin_port = htons(UDP_OK);
    KEEPS("sendto", sendto(s, "errno", 5, 0, (struct sockaddr *)&a, sizeof a), close(s));
    pid_t pid;
    char *const av[] = {"cases", "child-quiet", NULL};
    KEEPS("posix_spawn", posix_spawn(&pid, cpath("bin/cases"), NULL, NULL, av, environ) == 0 ? 1 : 0,
          waitpid(pid, NULL, 0));
}

/* ---- network ------------------------------------------------------------ */

static int connect_to(int family, int type, const char *ip, int port) {
    int s = socket(family, type, 0);
    int r;
    if (family == AF_INET6) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
        inet_pton(AF_INET6, ip, &a.sin6_addr);
        r = connect(s, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        inet_pton(AF_INET, ip, &a.sin_addr);
        r = connect(s, (struct sockaddr *)&a, sizeof a);
    }
    int e = errno;
    close(s);
    errno = e;
    return r;
}


static void case_tcp(void) {
    RET("v4_allowed", connect_to(AF_INET, SOCK_STREAM, "127.0.0.1", TCP_OK));
    RET("v4_denied", connect_to(AF_INET, SOCK_STREAM, "127.0.0.1", TCP_NO));
    RET("v6_allowed", connect_to(AF_INET6, SOCK_STREAM, "::1", TCP6_OK));
    RET("v6_denied", connect_to(AF_INET6, SOCK_STREAM, "::1", TCP6_NO));
    /* IPv4-mapped IPv6: the IPv4 peer and its rule. */
    RET("mapped_allowed", connect_to(AF_INET6, SOCK_STREAM, "::ffff:127.0.0.1", TCP_OK));
    RET("mapped_denied", connect_to(AF_INET6, SOCK_STREAM, "::ffff:127.0.0.1", TCP_NO));
}

static struct sockaddr_in lo4(int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return a;
}

static void case_udp(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ok = lo4(UDP_OK), no = lo4(UDP_NO);
    RET("sendto_allowed", sendto(s, "sendto-ok", 9, 0, (struct sockaddr *)&ok, sizeof ok));
    RET("sendto_denied", sendto(s, "sendto-no", 9, 0, (struct sockaddr *)&no, sizeof no));

    struct iovec iov = {.iov_base = "sendmsg-ok", .iov_len = 10};
    struct msghdr m = {.msg_name = &ok, .msg_namelen = sizeof ok, .msg_iov = &iov, .msg_iovlen = 1};
    RET("sendmsg_allowed", sendmsg(s, &m, 0));
    iov.iov_base = "sendmsg-no";
    m.msg_name = &no;
    RET("sendmsg_denied", sendmsg(s, &m, 0));

    /* One allowed and one denied message: the allowed one is sent and
     * counted (1), as the kernel counts the messages before a failure. */
    struct iovec iv[2] = {{.iov_base = "mmsg-ok", .iov_len = 7}, {.iov_base = "mmsg-no", .iov_len = 7}};
    struct mmsghdr mm[2] = {
        {.msg_hdr = {.msg_name = &ok, .msg_namelen = sizeof ok, .msg_iov = &iv[0], .msg_iovlen = 1}},
        {.msg_hdr = {.msg_name = &no, .msg_namelen = sizeof no, .msg_iov = &iv[1], .msg_iovlen = 1}},
    };
    RET("sendmmsg_mixed", sendmmsg(s, mm, 2, 0));
    iv[0].iov_base = "mmsg-ok2";
    iv[0].iov_len = 8;
    RET("sendmmsg_allowed", sendmmsg(s, mm, 1, 0));
    close(s);

    /* A connected UDP socket is checked at connect. */
    RET("connect_denied", connect_to(AF_INET, SOCK_DGRAM, "127.0.0.1", UDP_NO));
}

/* A name resolved with getaddrinfo names the peer. */
static void case_gai(void) {
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int r = getaddrinfo("localhost", NULL, &hints, &res);
    put_int("gai", r);
    if (r) return;
    struct sockaddr_in a = *(struct sockaddr_in *)res->ai_addr;
    freeaddrinfo(res);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_port = htons(TCP_OK);
    RET("allowed", connect(s, (struct sockaddr *)&a, sizeof a));
    close(s);
    s = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_port = htons(TCP_NO);
    RET("denied", connect(s, (struct sockaddr *)&a, sizeof a));
    close(s);
}

static int unix_listener(const struct sockaddr_un *a, socklen_t len) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(s, (const struct sockaddr *)a, len) || listen(s, 4)) abort();
    return s;
}

static int unix_connect(const struct sockaddr_un *a, socklen_t len) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    int r = connect(s, (const struct sockaddr *)a, len);
    int e = errno;
    close(s);
    errno = e;
    return r;
}

static void case_unix(void) {
    struct sockaddr_un ok = {.sun_family = AF_UNIX}, no = {.sun_family = AF_UNIX}, rel = {.sun_family = AF_UNIX};
    /* In allowed/: removing them afterwards is a write there. */
    snprintf(ok.sun_path, sizeof ok.sun_path, "%s/allowed/ok.sock", ROOT);
    snprintf(no.sun_path, sizeof no.sun_path, "%s/allowed/no.sock", ROOT);
    snprintf(rel.sun_path, sizeof rel.sun_path, "allowed/no.sock");
    int l1 = unix_listener(&ok, sizeof ok), l2 = unix_listener(&no, sizeof no);
    RET("path_allowed", unix_connect(&ok, sizeof ok));
    RET("path_denied", unix_connect(&no, sizeof no));
    RET("path_relative", unix_connect(&rel, sizeof rel));

    struct sockaddr_un aok = {.sun_family = AF_UNIX}, ano = {.sun_family = AF_UNIX};
    int nok = snprintf(aok.sun_path + 1, sizeof aok.sun_path - 1, "%s-ok", TAG);
    int nno = snprintf(ano.sun_path + 1, sizeof ano.sun_path - 1, "%s-no", TAG);
    socklen_t lok = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + nok);
    socklen_t lno = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + nno);
    int l3 = unix_listener(&aok, lok), l4 = unix_listener(&ano, lno);
    RET("abstract_allowed", unix_connect(&aok, lok));
    RET("abstract_denied", unix_connect(&ano, lno));
    close(l1);
    close(l2);
    close(l3);
    close(l4);
    RET("unlink_ok", unlink(ok.sun_path));
    RET("unlink_no", unlink(no.sun_path));
}

/* ---- modes -------------------------------------------------------------- */

/* N reads of the allowed and of the secret file, N datagrams to the denied
 * UDP peer: how many succeeded. */
static void case_repeat(int n) {
    char *ok = path("allowed/data.txt"), *sx = path("secret/x");
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in no = lo4(UDP_NO);
    long okn = 0, secn = 0, secret_read = 0, sent = 0;
    for (int i = 0; i < n; i++) {
        int fd = open(ok, O_RDONLY, 0);
        if (fd >= 0) {
            okn++;
            close(fd);
        }
        fd = open(sx, O_RDONLY, 0);
        if (fd >= 0) {
            char buf[64];
            read_all(fd, buf, sizeof buf);
            close(fd);
            secn++;
            if (!strcmp(buf, "top secret\n")) secret_read++;
        }
        if (sendto(s, "r", 1, 0, (struct sockaddr *)&no, sizeof no) == 1) sent++;
    }
    close(s);
    put_int("allowed_opened", okn);
    put_int("secret_opened", secn);
    put_int("secret_read", secret_read);
    put_int("sent", sent);
}

/* ---- what exec'd children print ----------------------------------------- */

static void child_env(void) {
    put_int("ppid", getppid());
    put_str("LD_PRELOAD", getenv("LD_PRELOAD"));
    put_str("RAMPART_MODE", getenv("RAMPART_MODE"));
    put_str("RAMPART_POLICY", getenv("RAMPART_POLICY"));
    put_str("RAMPART_CHILD", getenv("RAMPART_CHILD"));
    put_str("RAMPART_EXTRA", getenv("RAMPART_EXTRA"));
    put_str("FOO", getenv("FOO"));
}

static int child_main(int argc, char **argv) {
    CASE = argv[1];
    if (!strcmp(CASE, "child-quiet")) return 0;
    if (!strcmp(CASE, "child")) {
        key("argv");
        jcat("[");
        for (int i = 0; i < argc; i++) {
            if (i) jcat(",");
            jstr(argv[i]);
        }
        jcat("]");
        child_env();
    } else if (!strcmp(CASE, "child-open") && argc > 2) {
        FD("open", open(argv[2], O_RDONLY, 0));
        child_env();
    } else {
        return 2;
    }
    finish();
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strncmp(argv[1], "child", 5)) return child_main(argc, argv);
    if (argc < 11) {
        fprintf(stderr, "usage: cases CASE ROOT CDIR TCP_OK TCP_NO UDP_OK UDP_NO TCP6_OK TCP6_NO TAG [ARG]\n");
        return 2;
    }
    CASE = argv[1];
    ROOT = argv[2];
    CDIR = argv[3];
    TCP_OK = atoi(argv[4]);
    TCP_NO = atoi(argv[5]);
    UDP_OK = atoi(argv[6]);
    UDP_NO = atoi(argv[7]);
    TCP6_OK = atoi(argv[8]);
    TCP6_NO = atoi(argv[9]);
    TAG = argv[10];
    const char *arg = argc > 11 ? argv[11] : "";
    const char *c = CASE;

    if (!strncmp(c, "open", 4) && strcmp(c, "opendir")) open_family(c);
    else if (!strcmp(c, "creat")) case_creat(0);
    else if (!strcmp(c, "creat64")) case_creat(1);
    else if (!strcmp(c, "fopen")) case_fopen(0);
    else if (!strcmp(c, "fopen64")) case_fopen(1);
    else if (!strcmp(c, "freopen")) case_freopen(0);
    else if (!strcmp(c, "freopen64")) case_freopen(1);
    else if (!strcmp(c, "opendir")) case_opendir();
    else if (!strcmp(c, "symlink_denied")) case_symlink_denied();
    else if (!strcmp(c, "symlink_allowed")) case_symlink_allowed();
    else if (!strcmp(c, "dotdot")) case_dotdot();
    else if (!strcmp(c, "tmpfile")) case_tmpfile();
    else if (!strcmp(c, "names")) case_names();
    else if (!strcmp(c, "links")) case_links();
    else if (!strcmp(c, "signals")) case_signals();
    else if (!strcmp(c, "freopen_null")) case_freopen_null();
    else if (!strcmp(c, "exec_link")) case_exec_link();
    else if (!strcmp(c, "slashes")) case_slashes();
    else if (!strcmp(c, "chdir")) case_chdir();
    else if (!strcmp(c, "dirfd_denied")) case_dirfd_denied();
    else if (!strcmp(c, "proc_fd")) case_proc_fd();
    else if (!strcmp(c, "swap")) case_swap(atoi(arg));
    else if (!strncmp(c, "exec", 4) || !strcmp(c, "fexecve")) case_exec(c);
    else if (!strcmp(c, "posix_spawn")) case_spawn(0);
    else if (!strcmp(c, "posix_spawnp")) case_spawn(1);
    else if (!strcmp(c, "system")) case_system(arg);
    else if (!strcmp(c, "popen")) case_popen(arg);
    else if (!strcmp(c, "env_scrub")) case_env_scrub();
    else if (!strcmp(c, "env_system")) case_env_system();
    else if (!strcmp(c, "static_exec")) case_static();
    else if (!strcmp(c, "vfork")) case_vfork();
    else if (!strcmp(c, "fork_mt")) case_fork_mt(atoi(arg));
    else if (!strcmp(c, "errno")) case_errno();
    else if (!strcmp(c, "tcp")) case_tcp();
    else if (!strcmp(c, "udp")) case_udp();
    else if (!strcmp(c, "gai")) case_gai();
    else if (!strcmp(c, "unix")) case_unix();
    else if (!strcmp(c, "repeat")) case_repeat(atoi(arg));
    else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    finish();
    return 0;
}
