/* Stress: THREADS threads in one process, for SECS seconds, each looping
 * over the hooked calls in block mode:
 *
 *     stress ROOT CDIR TCP_OK TCP_NO SECS THREADS
 *
 * one iteration = an allowed open+read+close, a denied open, a connect to
 * the allowed loopback listener and one to a denied port, an allowed
 * launch of /bin/true and a denied one of CDIR/deny/denied (alternating
 * posix_spawn and fork+execv). The program counts the denials it saw
 * itself (each must have written exactly one block line) and every
 * allowed call that failed, and prints one JSON line at the end:
 * {"threads":N,"iterations":N,"denied":N,"denied_open":N,...}. */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static char allowed_file[4096], secret_file[4096], denied_prog[4096];
static int TCP_OK, TCP_NO;
static double deadline;

static atomic_long iterations, denied_open, denied_connect, denied_spawn, denied_forkexec;
/* Allowed calls that failed, and denials that did not fail with EACCES. */
static atomic_long allowed_fail, wrong_denial;
static char first_problem[512];
static atomic_int have_problem;

static void problem(const char *what, int e) {
    if (!atomic_exchange(&have_problem, 1)) snprintf(first_problem, sizeof first_problem, "%s: errno %d", what, e);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_port(int port) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int r = connect(s, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(s);
    errno = e;
    return r;
}

/* 0: exited 0; otherwise something went wrong. */
static int wait_ok(pid_t pid) {
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void *worker(void *arg) {
    long id = (long)arg;
    char *const true_argv[] = {"true", NULL};
    char *const denied_argv[] = {"denied", "child-quiet", NULL};
    char buf[256];
    for (long i = 0; now() < deadline; i++) {
        /* Allowed open + read + close. */
        int fd = open(allowed_file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            atomic_fetch_add(&allowed_fail, 1);
            problem("allowed open", errno);
        } else {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n != 13 || memcmp(buf, "allowed data\n", 13)) {
                atomic_fetch_add(&allowed_fail, 1);
                problem("allowed read", errno);
            }
            close(fd);
        }
        /* Denied open. */
        errno = 0;
        fd = open(secret_file, O_RDONLY | O_CLOEXEC);
        if (fd == -1 && errno == EACCES) {
            atomic_fetch_add(&denied_open, 1);
        } else {
            atomic_fetch_add(&wrong_denial, 1);
            problem("denied open", errno);
            if (fd >= 0) close(fd);
        }
        /* Allowed and denied connect. */
        if (connect_port(TCP_OK) != 0) {
            atomic_fetch_add(&allowed_fail, 1);
            problem("allowed connect", errno);
        }
        errno = 0;
        if (connect_port(TCP_NO) == -1 && errno == EACCES) {
            atomic_fetch_add(&denied_connect, 1);
        } else {
            atomic_fetch_add(&wrong_denial, 1);
            problem("denied connect", errno);
        }
        /* Allowed and denied launches, posix_spawn and fork+exec in turn. */
        if ((i + id) % 2 == 0) {
            pid_t pid;
            int r = posix_spawn(&pid, "/bin/true", NULL, NULL, true_argv, environ);
            if (r != 0 || wait_ok(pid) != 0) {
                atomic_fetch_add(&allowed_fail, 1);
                problem("allowed posix_spawn", r);
            }
            r = posix_spawn(&pid, denied_prog, NULL, NULL, denied_argv, environ);
            if (r == EACCES) {
                atomic_fetch_add(&denied_spawn, 1);
            } else {
                atomic_fetch_add(&wrong_denial, 1);
                problem("denied posix_spawn", r);
                if (r == 0) wait_ok(pid);
            }
        } else {
            pid_t pid = fork();
            if (pid == 0) {
                execv("/bin/true", true_argv);
                _exit(100);
            }
            if (pid < 0 || wait_ok(pid) != 0) {
                atomic_fetch_add(&allowed_fail, 1);
                problem("allowed fork+exec", errno);
            }
            pid = fork();
            if (pid == 0) {
                execv(denied_prog, denied_argv);
                _exit(errno == EACCES ? 13 : 101);
            }
            int code = pid < 0 ? -1 : wait_ok(pid);
            if (code == 13) {
                atomic_fetch_add(&denied_forkexec, 1);
            } else {
                atomic_fetch_add(&wrong_denial, 1);
                problem("denied fork+exec", code);
            }
        }
        atomic_fetch_add(&iterations, 1);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: stress ROOT CDIR TCP_OK TCP_NO SECS THREADS\n");
        return 2;
    }
    snprintf(allowed_file, sizeof allowed_file, "%s/allowed/data.txt", argv[1]);
    snprintf(secret_file, sizeof secret_file, "%s/secret/x", argv[1]);
    snprintf(denied_prog, sizeof denied_prog, "%s/deny/denied", argv[2]);
    TCP_OK = atoi(argv[3]);
    TCP_NO = atoi(argv[4]);
    deadline = now() + atof(argv[5]);
    int threads = atoi(argv[6]);
    pthread_t t[64];
    if (threads < 1 || threads > 64) return 2;
    for (long i = 0; i < threads; i++) {
        if (pthread_create(&t[i], NULL, worker, (void *)i)) return 3;
    }
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    long d = denied_open + denied_connect + denied_spawn + denied_forkexec;
    printf("{\"threads\":%d,\"iterations\":%ld,\"denied\":%ld,\"denied_open\":%ld,\"denied_connect\":%ld,"
           "\"denied_spawn\":%ld,\"denied_forkexec\":%ld,\"allowed_fail\":%ld,\"wrong_denial\":%ld,\"problem\":\"%s\"}\n",
           threads, (long)iterations, d, (long)denied_open, (long)denied_connect, (long)denied_spawn,
           (long)denied_forkexec, (long)allowed_fail, (long)wrong_denial, first_problem);
    return 0;
}
