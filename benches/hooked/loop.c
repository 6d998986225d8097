/*
 * Microbenchmark loops of the calls librampart.so hooks, for
 * `cargo xtask bench-hooked` (xtask/src/hooked.rs), which compiles this file
 * with `cc -O2` and runs it bare, under LD_PRELOAD=librampart.so and under
 * peer tools.
 *
 *   loop OP ITERS MAX_SECS [ARG]
 *     OP = open     open(ARG, O_RDONLY) + close          (ARG: an allowed file)
 *          pipe     write 1 byte + read 1 byte on a pipe
 *          connect  socket + connect to a loopback TCP listener + close
 *          exec     fork + execv("/bin/true") + waitpid
 *     Runs ITERS/20 untimed warm-up iterations, then ITERS timed ones, and
 *     prints one line "OP DONE NS_PER_OP" on stdout. It stops early (DONE <
 *     ITERS) when MAX_SECS have passed, so a slow configuration cannot stall
 *     the whole run. Any failed call is fatal (exit 1 with the errno): under
 *     a policy that does not allow the benchmark, numbers would be
 *     meaningless.
 *
 *   loop spawn -- CMD ARGS...
 *     Runs CMD once (fork + execvp + wait4) and prints "spawn WALL_NS
 *     MAXRSS_KB EXIT CPU_NS" on stdout (CPU = the child's user + system
 *     time, less disturbed than wall time by other load on the machine);
 *     CMD's stdout goes to our stderr so the result line stays alone. The
 *     child, and only the child, gets
 *     LD_PRELOAD=$LOOP_CHILD_PRELOAD when that is set: this process stays
 *     bare, so the added cost is the child's alone.
 *
 *   loop count-steps -- loop open ITERS MAX_SECS FILE
 *     Runs the command under ptrace and single-steps it between the two
 *     marks the loop makes around its timed iterations, printing "steps N":
 *     the user-space instructions those iterations executed, natively (no
 *     emulator: `openat2` and everything else behave as in production),
 *     then "ip PATH OFFSET COUNT" lines: instructions per address.
 *     LOOP_CHILD_PRELOAD as for spawn. x86_64 only.
 *
 * The timed iterations run inside the noinline function timed_loop() (the
 * warm-up inside warmup_loop()), so that `valgrind --tool=callgrind
 * --toggle-collect=timed_loop` counts exactly the instructions of the
 * measured iterations, setup and warm-up excluded.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum op { OP_OPEN, OP_PIPE, OP_CONNECT, OP_EXEC };

/* Connections made between two drains of the listener's accept queue: well
 * under any listen backlog, so connect never waits for room. */
#define CONNECT_BATCH 64

static const char *op_name;
static const char *open_path;
static int pipe_fds[2];
static int listener = -1;
static struct sockaddr_in listen_addr;

static void die(const char *what) {
    fprintf(stderr, "loop %s: %s: %s\n", op_name ? op_name : "?", what, strerror(errno));
    exit(1);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void one_open(void) {
    int fd = open(open_path, O_RDONLY);
    if (fd < 0) die("open");
    if (close(fd) != 0) die("close");
}

static void one_pipe(void) {
    char c = 'x';
    if (write(pipe_fds[1], &c, 1) != 1) die("write");
    if (read(pipe_fds[0], &c, 1) != 1) die("read");
}

static void one_connect(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) die("socket");
    if (connect(s, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0) die("connect");
    /* Close with a reset instead of a FIN: no TIME_WAIT entry, so a run of
     * thousands of connections cannot use up the ephemeral ports. */
    struct linger lg = {1, 0};
    if (setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0) die("setsockopt");
    if (close(s) != 0) die("close");
}

static void one_exec(void) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        char *argv[] = {"true", NULL};
        execv("/bin/true", argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) die("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "loop exec: /bin/true ended with status %#x (exec denied?)\n", status);
        exit(1);
    }
}

/* Accepts and closes every connection waiting on the listener (untimed). */
static void drain_listener(void) {
    for (;;) {
        int c = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
        if (c < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == ECONNABORTED || errno == EINTR) continue;
            die("accept");
        }
        close(c);
    }
}

static void setup(enum op op) {
    switch (op) {
    case OP_OPEN:
        break;
    case OP_PIPE:
        if (pipe(pipe_fds) != 0) die("pipe");
        break;
    case OP_CONNECT: {
        listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (listener < 0) die("socket");
        memset(&listen_addr, 0, sizeof listen_addr);
        listen_addr.sin_family = AF_INET;
        listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        listen_addr.sin_port = 0;
        if (bind(listener, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0) die("bind");
        socklen_t len = sizeof listen_addr;
        if (getsockname(listener, (struct sockaddr *)&listen_addr, &len) != 0) die("getsockname");
        if (listen(listener, 4 * CONNECT_BATCH) != 0) die("listen");
        break;
    }
    case OP_EXEC:
        break;
    }
}

/* `n` iterations of `op`; returns how many ran before `deadline` (ns on the
 * monotonic clock) and adds the time spent in them to *elapsed. Only
 * connect leaves the timed region, to empty the accept queue. */
static uint64_t run_loop(enum op op, uint64_t n, uint64_t deadline, uint64_t *elapsed) {
    uint64_t done = 0;
    uint64_t t0 = now_ns();
    switch (op) {
    case OP_OPEN:
        while (done < n) {
            one_open();
            /* The clock is read every 256 iterations: its cost stays far
             * below the noise of the calls measured. */
            if ((++done & 255) == 0 && now_ns() > deadline) break;
        }
        break;
    case OP_PIPE:
        while (done < n) {
            one_pipe();
            if ((++done & 255) == 0 && now_ns() > deadline) break;
        }
        break;
    case OP_CONNECT:
        while (done < n) {
            uint64_t batch = n - done < CONNECT_BATCH ? n - done : CONNECT_BATCH;
            for (uint64_t i = 0; i < batch; i++) one_connect();
            done += batch;
            uint64_t t = now_ns();
            *elapsed += t - t0;
            drain_listener();
            if (t > deadline) return done;
            t0 = now_ns();
        }
        return done;
    case OP_EXEC:
        while (done < n) {
            one_exec();
            ++done;
            if (now_ns() > deadline) break;
        }
        break;
    }
    *elapsed += now_ns() - t0;
    return done;
}

/* Two entry points to the same loop, so callgrind can count the timed one
 * alone. GCC would merge the identical bodies (ICF) or clone them under
 * another name: noipa forbids both. */
#if defined(__GNUC__) && !defined(__clang__)
#define SEPARATE __attribute__((noipa))
#else
#define SEPARATE __attribute__((noinline))
#endif

SEPARATE uint64_t warmup_loop(enum op op, uint64_t n, uint64_t deadline, uint64_t *elapsed) {
    return run_loop(op, n, deadline, elapsed);
}

SEPARATE uint64_t timed_loop(enum op op, uint64_t n, uint64_t deadline, uint64_t *elapsed) {
    return run_loop(op, n, deadline, elapsed);
}

static int spawn(char **argv) {
    const char *preload = getenv("LOOP_CHILD_PRELOAD");
    uint64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        if (preload && *preload && setenv("LD_PRELOAD", preload, 1) != 0) _exit(126);
        dup2(2, 1);
        execvp(argv[0], argv);
        fprintf(stderr, "loop spawn: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid) die("wait4");
    uint64_t wall = now_ns() - t0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    uint64_t cpu = ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
                   ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
    printf("spawn %llu %ld %d %llu\n", (unsigned long long)wall, ru.ru_maxrss, code, (unsigned long long)cpu);
    return 0;
}

/* The mark around the timed iterations: write(-1, "mark", 4) through
 * syscall(), so no hook sees it. It fails with EBADF and changes nothing. */
#define MARK_FD ((unsigned long long)-1)
#define MARK_LEN 4
static void mark(void) { syscall(SYS_write, (long)-1, "mark", (long)MARK_LEN); }

#if defined(__x86_64__)
static int is_mark(const struct user_regs_struct *r, unsigned long long nr) {
    return nr == SYS_write && r->rdi == MARK_FD && r->rdx == MARK_LEN;
}

static void trace_fail(const char *what, pid_t pid) {
    fprintf(stderr, "loop count-steps: %s: %s\n", what, strerror(errno));
    kill(pid, SIGKILL);
    exit(1);
}

/* Instructions executed per address (open addressing; addresses beyond
 * its size are counted in `hist_lost`). */
#define HIST_SLOTS (1 << 16)
static struct {
    unsigned long long ip, n;
} hist[HIST_SLOTS];
static unsigned long long hist_lost;

static void hist_add(unsigned long long ip) {
    unsigned long long h = (ip * 0x9E3779B97F4A7C15ull) >> 48;
    for (int probe = 0; probe < 64; probe++, h = (h + 1) & (HIST_SLOTS - 1)) {
        if (hist[h].ip == ip || hist[h].n == 0) {
            hist[h].ip = ip;
            hist[h].n++;
            return;
        }
    }
    hist_lost++;
}

/* "ip PATH FILE_OFFSET COUNT" per address, from the tracee's mappings, for
 * the runner to turn into functions with nm. */
static void print_hist(pid_t pid) {
    char maps_path[64];
    snprintf(maps_path, sizeof maps_path, "/proc/%d/maps", (int)pid);
    FILE *maps = fopen(maps_path, "r");
    if (!maps) return;
    struct {
        unsigned long long lo, hi, off;
        char path[256];
    } m[512];
    int nm = 0;
    char line[512];
    while (nm < 512 && fgets(line, sizeof line, maps)) {
        char perms[8], path[256] = "";
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %255s", &m[nm].lo, &m[nm].hi, perms, &m[nm].off, path) >= 4 &&
            perms[2] == 'x') {
            snprintf(m[nm].path, sizeof m[nm].path, "%s", path[0] ? path : "[anon]");
            nm++;
        }
    }
    fclose(maps);
    for (int i = 0; i < HIST_SLOTS; i++) {
        if (hist[i].n == 0) continue;
        const char *path = "[unknown]";
        unsigned long long off = hist[i].ip;
        for (int j = 0; j < nm; j++) {
            if (hist[i].ip >= m[j].lo && hist[i].ip < m[j].hi) {
                path = m[j].path;
                off = hist[i].ip - m[j].lo + m[j].off;
                break;
            }
        }
        printf("ip %s %llx %llu\n", path, off, hist[i].n);
    }
    if (hist_lost) printf("ip [lost] 0 %llu\n", hist_lost);
}

static int count_steps(char **argv) {
    const char *preload = getenv("LOOP_CHILD_PRELOAD");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        if (preload && *preload && setenv("LD_PRELOAD", preload, 1) != 0) _exit(126);
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) _exit(126);
        raise(SIGSTOP);
        dup2(2, 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status)) trace_fail("child did not stop", pid);
    if (ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)) != 0)
        trace_fail("PTRACE_SETOPTIONS", pid);
    struct user_regs_struct r;
    int sig = 0, entering = 0, marked = 0;
    /* Syscall to syscall until the exit of the first mark. */
    for (;;) {
        if (ptrace(PTRACE_SYSCALL, pid, NULL, (void *)(long)sig) != 0) trace_fail("PTRACE_SYSCALL", pid);
        sig = 0;
        if (waitpid(pid, &status, 0) != pid) trace_fail("waitpid", pid);
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            fprintf(stderr, "loop count-steps: the command ended before its first mark\n");
            return 1;
        }
        int s = WSTOPSIG(status);
        if (s == (SIGTRAP | 0x80)) {
            entering = !entering;
            if (entering) {
                if (ptrace(PTRACE_GETREGS, pid, NULL, &r) != 0) trace_fail("PTRACE_GETREGS", pid);
                marked = is_mark(&r, r.orig_rax);
            } else if (marked) {
                break;
            }
        } else if (s != SIGTRAP) {
            sig = s;
        }
    }
    /* One instruction at a time until the next instruction is the second
     * mark's `syscall` (0f 05). Every address executed is counted, for the
     * per-function breakdown printed below. */
    unsigned long long steps = 0;
    for (;;) {
        if (ptrace(PTRACE_SINGLESTEP, pid, NULL, (void *)(long)sig) != 0) trace_fail("PTRACE_SINGLESTEP", pid);
        sig = 0;
        if (waitpid(pid, &status, 0) != pid) trace_fail("waitpid", pid);
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            fprintf(stderr, "loop count-steps: the command ended before its second mark\n");
            return 1;
        }
        if (WSTOPSIG(status) != SIGTRAP) {
            /* A signal for the tracee: deliver it, no instruction ran. */
            sig = WSTOPSIG(status);
            continue;
        }
        steps++;
        if (ptrace(PTRACE_GETREGS, pid, NULL, &r) != 0) trace_fail("PTRACE_GETREGS", pid);
        if (is_mark(&r, r.rax)) {
            errno = 0;
            long word = ptrace(PTRACE_PEEKTEXT, pid, (void *)r.rip, NULL);
            if (errno == 0 && (word & 0xffff) == 0x050f) break;
        }
        hist_add(r.rip);
    }
    print_hist(pid);
    /* Let it finish on its own. */
    for (;;) {
        if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig) != 0) trace_fail("PTRACE_CONT", pid);
        sig = 0;
        if (waitpid(pid, &status, 0) != pid) trace_fail("waitpid", pid);
        if (WIFEXITED(status) || WIFSIGNALED(status)) break;
        if (WSTOPSIG(status) != SIGTRAP && WSTOPSIG(status) != (SIGTRAP | 0x80)) sig = WSTOPSIG(status);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "loop count-steps: the command failed (status %#x)\n", status);
        return 1;
    }
    printf("steps %llu\n", steps);
    fflush(stdout);
    return 0;
}
#else
static int count_steps(char **argv) {
    (void)argv;
    fprintf(stderr, "loop count-steps: x86_64 only\n");
    return 1;
}
#endif

static void usage(void) {
    fprintf(stderr,
            "usage: loop open|pipe|connect|exec ITERS MAX_SECS [FILE]\n"
            "       loop spawn -- CMD ARGS...\n"
            "       loop count-steps -- CMD ARGS...\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 2) usage();
    op_name = argv[1];
    if (strcmp(op_name, "spawn") == 0) {
        if (argc < 4 || strcmp(argv[2], "--") != 0) usage();
        return spawn(argv + 3);
    }
    if (strcmp(op_name, "count-steps") == 0) {
        if (argc < 4 || strcmp(argv[2], "--") != 0) usage();
        return count_steps(argv + 3);
    }
    if (argc < 4) usage();
    enum op op;
    if (strcmp(op_name, "open") == 0) {
        op = OP_OPEN;
        if (argc < 5) usage();
        open_path = argv[4];
    } else if (strcmp(op_name, "pipe") == 0) {
        op = OP_PIPE;
    } else if (strcmp(op_name, "connect") == 0) {
        op = OP_CONNECT;
    } else if (strcmp(op_name, "exec") == 0) {
        op = OP_EXEC;
    } else {
        usage();
    }
    uint64_t n = strtoull(argv[2], NULL, 10);
    double max_secs = strtod(argv[3], NULL);
    if (n == 0 || !(max_secs > 0)) usage();

    setup(op);
    uint64_t start = now_ns();
    uint64_t budget = (uint64_t)(max_secs * 1e9);
    /* Warm-up: caches, lazy symbol binding, the library's first-call
     * paths. At most a tenth of the time budget. */
    uint64_t warm_elapsed = 0;
    uint64_t warm = n / 20 ? n / 20 : 1;
    warmup_loop(op, warm, start + budget / 10, &warm_elapsed);
    uint64_t elapsed = 0;
    uint64_t deadline = now_ns() + budget;
    mark();
    uint64_t done = timed_loop(op, n, deadline, &elapsed);
    mark();
    printf("%s %llu %.1f\n", op_name, (unsigned long long)done, (double)elapsed / (double)done);
    return 0;
}
