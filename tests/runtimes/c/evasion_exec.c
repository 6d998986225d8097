/* Exec attacks that need C: a thread rewriting the program path after the
 * check (vfork and posix_spawn share the parent's memory), spawn file
 * actions Python cannot express, and libc's execvp itself.
 *
 *   evasion_exec swap-vfork OK DENIED    races: prints HIT per success
 *   evasion_exec swap-spawn OK DENIED
 *   evasion_exec spawn-chdir DIR NAME    opens DIR/NAME as fd 3 in a shell
 *   evasion_exec spawn-dup2 PROG ARG     dup2 onto many high fds, then PROG
 *   evasion_exec spawn-closefrom PROG ARG  closefrom(3), then PROG
 *   evasion_exec spawn-unknown PROG ARG  an action with a tag no glibc has
 *   evasion_exec execvp NAME ARG         execvp(NAME, {NAME, ARG})
 */
#define _GNU_SOURCE
#include <errno.h>
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
#define RACE_SECONDS 2

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

static int race(int use_spawn) {
    char *argv[] = {"x", "HIT", NULL};
    memcpy(path_buf, allowed_path, strlen(allowed_path) + 1);
    pthread_t t;
    pthread_create(&t, NULL, rewrite, NULL);
    double end = now() + RACE_SECONDS;
    int tries = 0;
    while (now() < end) {
        pid_t pid;
        if (use_spawn) {
            if (posix_spawn(&pid, path_buf, NULL, NULL, argv, environ) != 0) {
                continue;
            }
        } else {
            pid = vfork();
            if (pid == 0) {
                execv(path_buf, argv);
                _exit(127);
            }
        }
        if (pid > 0) {
            waitpid(pid, NULL, 0);
        }
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

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 4) {
        fprintf(stderr, "usage: see the source\n");
        return 2;
    }
    const char *mode = argv[1];
    if (!strcmp(mode, "swap-vfork") || !strcmp(mode, "swap-spawn")) {
        allowed_path = argv[2];
        denied_path = argv[3];
        return race(!strcmp(mode, "swap-spawn"));
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
