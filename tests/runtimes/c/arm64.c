/* The arm64 layer library under qemu-aarch64 (tests/tests/layer_arm64.rs):
 * block and allow for open, connect and exec, all cases in one process.
 *
 *     arm64 ROOT QEMU TCP_OK TCP_NO SELF      the cases
 *     arm64 child ROOT                        what the allowed exec runs
 *
 * ROOT is the sandbox (allowed/, secret/, ro/ as in
 * tests/src/runtimes_common.rs), QEMU the host's qemu-aarch64, TCP_OK and
 * TCP_NO the test's loopback listeners, SELF this program's path.
 *
 * Each case writes `@@case NAME` to stderr, then does its calls and prints
 * one JSON line on stdout: {"case":NAME,"pid":PID,"ret":R,"errno":E,...}.
 * rampart writes a block line before the denied call returns, so the event
 * lines between two markers are the case's.
 *
 * Exec under qemu-user: without binfmt_misc, an execve inside the guest is
 * the host kernel's, so an aarch64 program cannot be exec'd as it is. The
 * allowed exec runs `QEMU SELF child ROOT` (qemu-aarch64 passes its
 * environment, with the LD_PRELOAD the library re-injected, to the new
 * guest): the child's line proves the exec happened, its block line that
 * the library was loaded into it. The denied exec is the host's `touch`,
 * whose effect (a file) would show if it ran. */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *ROOT;

static void marker(const char *name) {
    /* stdout first: a result line must never trail the next marker. */
    fflush(stdout);
    fprintf(stderr, "@@case %s\n", name);
    fflush(stderr);
}

/* `s` as a JSON string (the sandbox's contents are plain ASCII). */
static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            printf("\\%c", *s);
        } else if (*s == '\n') {
            fputs("\\n", stdout);
        } else if ((unsigned char)*s < 0x20) {
            printf("\\u%04x", (unsigned char)*s);
        } else {
            putchar(*s);
        }
    }
    putchar('"');
}

static void result(const char *name, long ret, int err, const char *data) {
    printf("{\"case\":\"%s\",\"pid\":%d,\"ret\":%ld,\"errno\":%d", name, (int)getpid(), ret, err);
    if (data) {
        fputs(",\"data\":", stdout);
        json_str(data);
    }
    puts("}");
    fflush(stdout);
}

static char *path(const char *rel) {
    static char buf[4][4096];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", ROOT, rel);
    return p;
}

/* Opens ROOT/rel with flags; on success reads what is there. Returns the
 * open's result; *err is its errno (0 on success). */
static int open_read(const char *rel, int flags, int *err, char *data, size_t cap) {
    errno = 0;
    int fd = open(path(rel), flags);
    *err = fd < 0 ? errno : 0;
    data[0] = 0;
    if (fd >= 0) {
        ssize_t n = (flags & O_ACCMODE) == O_RDONLY ? read(fd, data, cap - 1) : 0;
        data[n > 0 ? n : 0] = 0;
        close(fd);
    }
    return fd;
}

static void case_open(const char *name, const char *rel, int flags) {
    marker(name);
    char data[256];
    int err;
    int fd = open_read(rel, flags, &err, data, sizeof data);
    result(name, fd < 0 ? -1 : 0, err, data);
}

static void case_connect(const char *name, int port) {
    marker(name);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) {
        result(name, -2, errno, "socket failed");
        return;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    errno = 0;
    int r = connect(s, (struct sockaddr *)&a, sizeof a);
    int err = r < 0 ? errno : 0;
    if (r == 0) {
        /* What the listener reads tells which program connected. */
        const char *hello = "arm64 connect";
        if (write(s, hello, strlen(hello)) < 0) err = errno;
    }
    close(s);
    result(name, r, err, NULL);
}

/* fork, exec `QEMU SELF child ROOT` in the child, wait for it. ret is the
 * child's exit status (127: its exec failed, errno in the status line). */
static void case_exec_allowed(const char *qemu, const char *self) {
    marker("exec_allowed");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        result("exec_allowed", -2, errno, "fork failed");
        return;
    }
    if (pid == 0) {
        char *argv[] = {(char *)qemu, (char *)self, "child", (char *)ROOT, NULL};
        execv(qemu, argv);
        printf("{\"case\":\"exec_failed\",\"errno\":%d}\n", errno);
        fflush(stdout);
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) {
        result("exec_allowed", -2, errno, "waitpid failed");
        return;
    }
    result("exec_allowed", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), 0, NULL);
}

/* In this process: if it were not denied, `touch` would replace it. */
static void case_exec_denied(void) {
    marker("exec_denied");
    fflush(stdout);
    char *target = path("allowed/exec-denied-ran");
    char *argv[] = {"touch", target, NULL};
    errno = 0;
    int r = execv("/usr/bin/touch", argv);
    result("exec_denied", r, errno, NULL);
}

/* The exec'd child: one allowed and one denied open, one line. */
static int child(void) {
    char data[256], denied[256];
    int err, derr;
    int fd = open_read("allowed/data.txt", O_RDONLY, &err, data, sizeof data);
    int dfd = open_read("secret/x", O_RDONLY, &derr, denied, sizeof denied);
    printf("{\"case\":\"child\",\"pid\":%d,\"ppid\":%d,\"ret\":%d,\"errno\":%d,\"data\":", (int)getpid(),
           (int)getppid(), fd < 0 ? -1 : 0, err);
    json_str(data);
    printf(",\"denied_ret\":%d,\"denied_errno\":%d,\"denied_data\":", dfd < 0 ? -1 : 0, derr);
    json_str(denied);
    puts("}");
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "child") == 0) {
        ROOT = argv[2];
        return child();
    }
    if (argc != 6) {
        fprintf(stderr, "usage: arm64 ROOT QEMU TCP_OK TCP_NO SELF | arm64 child ROOT\n");
        return 2;
    }
    ROOT = argv[1];
    const char *qemu = argv[2];
    int tcp_ok = atoi(argv[3]), tcp_no = atoi(argv[4]);
    const char *self = argv[5];

    case_open("open_allowed", "allowed/data.txt", O_RDONLY);
    case_open("open_denied", "secret/x", O_RDONLY);
    case_open("open_write_denied", "ro/data.txt", O_WRONLY | O_TRUNC);
    case_connect("connect_allowed", tcp_ok);
    case_connect("connect_denied", tcp_no);
    case_exec_allowed(qemu, self);
    case_exec_denied();
    fflush(stdout);
    fputs("@@done\n", stderr);
    return 0;
}
