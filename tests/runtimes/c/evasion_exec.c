/* Exec attacks that need C: a thread rewriting the program path after the
 * check (vfork and posix_spawn share the parent's memory), spawn file
 * actions Python cannot express, and libc's execvp itself.
 *
 *   evasion_exec buffer ENTRY OK DENIED  races (HIT per success): a thread
 *                                        rewrites the path buffer between OK
 *                                        and DENIED, run through one entry
 *   evasion_exec link ENTRY DIR OK DENIED  DIR/link swapped between OK and
 *                                        DENIED, run through one entry
 *     ENTRY: execve execv execvp execvpe execl execle execlp execveat
 *            posix_spawn posix_spawnp
 *   evasion_exec spawn-chdir DIR NAME    opens DIR/NAME as fd 3 in a shell
 *   evasion_exec spawn-dup2 PROG ARG     dup2 onto many high fds, then PROG
 *   evasion_exec spawn-closefrom PROG ARG  closefrom(3), then PROG
 *   evasion_exec spawn-unknown PROG ARG  an action with a tag no glibc has
 *   evasion_exec spawn-trunc FILE PROG ARG  writes FILE, spawns PROG with
 *                                        FILE opened O_TRUNC; HIT if FILE
 *                                        was truncated
 *   evasion_exec execvp NAME ARG         execvp(NAME, {NAME, ARG})
 *   evasion_exec fd-script DIR NAME      runs DIR/NAME through descriptors
 *                                        (fexecve, execveat from a dirfd),
 *                                        close-on-exec and not; prints
 *                                        each outcome
 *   evasion_exec noopenat2 CMD ARGS...   runs CMD with openat2 failing
 *                                        ENOSYS (a kernel before 5.6)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Races stop after this long: the suites bound every race to 3 s. */
#define RACE_SECONDS 1

static char path_buf[4096];
static const char *allowed_path, *denied_path;
static atomic_int stop;

static void *rewrite(void *unused) {
    (void)unused;
    size_t la = strlen(allowed_path) + 1, ld = strlen(denied_path) + 1;
    while (!atomic_load(&stop)) {
        memcpy(path_buf, allowed_path, la);
        memcpy(path_buf, denied_path, ld);
    }
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs `path` (HIT as its argument) through the entry point named
 * `entry` in a vfork child (the exec family) or with posix_spawn*; waits. */
static void run_through(const char *entry, const char *path) {
    char *argv[] = {"x", "HIT", NULL};
    pid_t pid;
    if (!strncmp(entry, "posix_spawn", 11)) {
        int (*spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
                     char *const[], char *const[]) = strcmp(entry, "posix_spawnp") ? posix_spawn : posix_spawnp;
        if (spawn(&pid, path, NULL, NULL, argv, environ) != 0) return;
    } else {
        pid = vfork();
        if (pid == 0) {
            if (!strcmp(entry, "execve")) execve(path, argv, environ);
            else if (!strcmp(entry, "execv")) execv(path, argv);
            else if (!strcmp(entry, "execvp")) execvp(path, argv);
            else if (!strcmp(entry, "execvpe")) execvpe(path, argv, environ);
            else if (!strcmp(entry, "execl")) execl(path, "x", "HIT", (char *)NULL);
            else if (!strcmp(entry, "execle")) execle(path, "x", "HIT", (char *)NULL, environ);
            else if (!strcmp(entry, "execlp")) execlp(path, "x", "HIT", (char *)NULL);
            else if (!strcmp(entry, "execveat")) execveat(AT_FDCWD, path, argv, environ, 0);
            _exit(127);
        }
    }
    if (pid > 0) waitpid(pid, NULL, 0);
}

static const char *link_dir, *race_entry;

static void *swap_link(void *unused) {
    (void)unused;
    char link[4096], tmp[4096];
    snprintf(link, sizeof link, "%s/link", link_dir);
    snprintf(tmp, sizeof tmp, "%s/link.tmp", link_dir);
    for (int i = 0; !atomic_load(&stop); i++) {
        unlink(tmp);
        if (symlink(i % 2 ? denied_path : allowed_path, tmp) == 0) rename(tmp, link);
    }
    return NULL;
}

/* Races one entry point against a writer thread (`writer`), for
 * RACE_SECONDS, running `path` each time. */
static int race_entry_point(void *(*writer)(void *), const char *path) {
    pthread_t t;
    pthread_create(&t, NULL, writer, NULL);
    double end = now() + RACE_SECONDS;
    int tries = 0;
    while (now() < end) {
        run_through(race_entry, path);
        tries++;
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    fprintf(stderr, "tries %d\n", tries);
    return 0;
}

static int spawn_and_wait(const char *path, posix_spawn_file_actions_t *fa, char **argv) {
    pid_t pid;
    int e = posix_spawn(&pid, path, fa, NULL, argv, environ);
    if (e != 0) {
        printf("no %s\n", strerror(e));
        return 0;
    }
    int status;
    waitpid(pid, &status, 0);
    return 0;
}

/* A seccomp filter that fails openat2 with ENOSYS, as a kernel without
 * it would; everything else is allowed. */
static int without_openat2(void) {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) return -1;
    /* Proof that it took: the call itself now fails that way. */
    errno = 0;
    if (syscall(SYS_openat2, AT_FDCWD, "/", NULL, 0) != -1 || errno != ENOSYS) {
        fprintf(stderr, "openat2 still answers (errno %d)\n", errno);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 3 && !strcmp(argv[1], "noopenat2")) {
        if (without_openat2() != 0) {
            perror("seccomp");
            return 1;
        }
        execv(argv[2], argv + 2);
        perror("execv");
        return 127;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: see the source\n");
        return 2;
    }
    const char *mode = argv[1];
    if (!strcmp(mode, "buffer") && argc >= 5) {
        race_entry = argv[2];
        allowed_path = argv[3];
        denied_path = argv[4];
        memcpy(path_buf, allowed_path, strlen(allowed_path) + 1);
        return race_entry_point(rewrite, path_buf);
    }
    if (!strcmp(mode, "link") && argc >= 6) {
        race_entry = argv[2];
        link_dir = argv[3];
        allowed_path = argv[4];
        denied_path = argv[5];
        static char link[4096];
        snprintf(link, sizeof link, "%s/link", link_dir);
        unlink(link);
        if (symlink(allowed_path, link) != 0) {
            perror("symlink");
            return 1;
        }
        return race_entry_point(swap_link, link);
    }
    if (!strcmp(mode, "spawn-chdir")) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addchdir_np(&fa, argv[2]);
        posix_spawn_file_actions_addopen(&fa, 3, argv[3], O_RDONLY, 0);
        char *sh[] = {"sh", "-c", "read l <&3; echo HIT $l", NULL};
        return spawn_and_wait("/bin/sh", &fa, sh);
    }
    if (!strcmp(mode, "spawn-dup2")) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        for (int fd = 900; fd < 1000; fd++) {
            posix_spawn_file_actions_adddup2(&fa, 2, fd);
        }
        char *args[] = {argv[2], argv[3], NULL};
        return spawn_and_wait(argv[2], &fa, args);
    }
    if (!strcmp(mode, "spawn-closefrom")) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addclosefrom_np(&fa, 3);
        char *args[] = {argv[2], argv[3], NULL};
        return spawn_and_wait(argv[2], &fa, args);
    }
    if (!strcmp(mode, "fd-script")) {
        for (int cloexec = 0; cloexec <= 1; cloexec++) {
            for (int at = 0; at <= 1; at++) {
                int flags = O_RDONLY | (cloexec ? O_CLOEXEC : 0);
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", argv[2], argv[3]);
                int fd = open(at ? argv[2] : path, flags);
                if (fd < 0) {
                    perror("open");
                    return 1;
                }
                char *args[] = {"x", at ? "execveat" : "fexecve", cloexec ? "cloexec" : "inherited", NULL};
                pid_t pid = fork();
                if (pid == 0) {
                    if (at) execveat(fd, argv[3], args, environ, 0);
                    else fexecve(fd, args, environ);
                    printf("%s %s: %s\n", args[1], args[2], strerror(errno));
                    _exit(0);
                }
                waitpid(pid, NULL, 0);
                close(fd);
            }
        }
        return 0;
    }
    if (!strcmp(mode, "spawn-trunc") && argc >= 5) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        FILE *f = fopen(argv[2], "w");
        if (f == NULL || fputs("kept\n", f) < 0 || fclose(f) != 0) {
            perror("write");
            return 1;
        }
        posix_spawn_file_actions_addopen(&fa, 3, argv[2], O_WRONLY | O_TRUNC, 0);
        char *args[] = {argv[3], argv[4], NULL};
        spawn_and_wait(argv[3], &fa, args);
        struct stat st;
        if (stat(argv[2], &st) == 0 && st.st_size == 0) printf("HIT truncated\n");
        return 0;
    }
    if (!strcmp(mode, "spawn-unknown")) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addclose(&fa, 100);
        /* glibc's layout (posix/spawn_int.h): __actions after two ints, the
         * tag first in each action. glibc's child skips a tag it does not
         * know; a reader of the actions cannot know what it would do. */
        int *tag = *(int **)((char *)&fa + 8);
        *tag = 99;
        char *args[] = {argv[2], argv[3], NULL};
        return spawn_and_wait(argv[2], &fa, args);
    }
    if (!strcmp(mode, "execvp")) {
        char *args[] = {argv[2], argv[3], NULL};
        execvp(argv[2], args);
        printf("no %s\n", strerror(errno));
        return 0;
    }
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
