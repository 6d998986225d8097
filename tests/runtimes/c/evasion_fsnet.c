/* Buffer races on the file and network hooks (tests/tests/evasion_files.rs,
 * evasion_net.rs): a second thread flips the caller's path, socket address
 * or message header between an allowed and a denied value while the main
 * thread opens, connects or sends, for a bounded time. A hook that checks
 * the caller's buffer and then hands the same buffer to the kernel lets
 * the denied value through whenever the flip lands between the two.
 *
 *   evasion_fsnet open|fopen ALLOWED_PATH DENIED_PATH SECRET_DATA SECONDS
 *   evasion_fsnet connect ALLOWED_TCP_PORT SECONDS
 *   evasion_fsnet sendto|sendmsg|sendmsg-name|sendmmsg ALLOWED_UDP_PORT SECONDS
 *   evasion_fsnet link-swap|rename-swap|freopen-swap SECRET_DATA SECONDS
 *   evasion_fsnet chdir-race ALLOWED_DIR DENIED_DIR SECRET_DATA SECONDS
 *   evasion_fsnet unix-swap SECONDS
 *
 * The -swap modes race a directory link instead of a buffer: in the
 * current directory (writable), `d` is a symlink swapped (rename of a fresh
 * link over it) between `real` (a writable directory with a file `x`) and
 * `../secret`, while the main thread links or renames `d/x` to `got`, or
 * freopens a stream on `d/x`: a hook that checks the path, then lets the
 * kernel walk it again, links, moves or opens the secret.
 *
 * unix-swap: `s.sock` (current directory) is swapped between links to two
 * listening Unix sockets of the program's own, `real.sock` beside it and
 * `sub/denied.sock` (a rule for the directory's sockets does not reach
 * into sub/), while the main thread connects to `s.sock`.
 *
 * chdir-race: the second thread moves the process between ALLOWED_DIR and
 * DENIED_DIR (which holds the secret as `x`) while the main thread opens
 * the relative path `x`: a hook that decides on the cwd it read, then lets
 * the kernel resolve `x` against the cwd of the moment, opens the secret.
 *
 * The denied peer is the program's own listener (or UDP socket) on an
 * ephemeral loopback port no rule allows, so what reached it is counted
 * here. One line `HIT n` when the denied value got through n times, and a
 * `tries` summary either way. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static atomic_int stop;

/* What the flipper alternates: two values of one buffer's size. */
struct flip {
    void *buf;
    const void *a;
    const void *b;
    size_t len;
};

static void *flipper(void *arg) {
    struct flip *f = arg;
    volatile char *dst = f->buf;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (size_t i = 0; i < f->len; i++) dst[i] = ((const char *)f->a)[i];
        for (size_t i = 0; i < f->len; i++) dst[i] = ((const char *)f->b)[i];
    }
    return NULL;
}

/* Flips a pointer-sized slot between two pointers. */
struct flip_ptr {
    void *volatile *slot;
    void *a;
    void *b;
};

static void *ptr_flipper(void *arg) {
    struct flip_ptr *f = arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        *f->slot = f->a;
        *f->slot = f->b;
    }
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void report(long tries, long hits) {
    printf("tries %ld hits %ld\n", tries, hits);
    if (hits > 0) printf("HIT %ld\n", hits);
}

static int files(int use_fopen, const char *allowed, const char *denied, const char *secret, double secs) {
    char a[4096] = {0}, b[4096] = {0}, buf[4096] = {0};
    size_t len = strlen(allowed) > strlen(denied) ? strlen(allowed) : strlen(denied);
    strcpy(a, allowed);
    strcpy(b, denied);
    strcpy(buf, allowed);
    struct flip f = {buf, a, b, len + 1};
    pthread_t t;
    pthread_create(&t, NULL, flipper, &f);
    long tries = 0, hits = 0;
    double end = now() + secs;
    while (now() < end) {
        char got[256] = {0};
        tries++;
        if (use_fopen) {
            FILE *fp = fopen(buf, "r");
            if (!fp) continue;
            size_t n = fread(got, 1, sizeof got - 1, fp);
            got[n] = 0;
            fclose(fp);
        } else {
            int fd = open(buf, O_RDONLY);
            if (fd < 0) continue;
            ssize_t n = read(fd, got, sizeof got - 1);
            if (n > 0) got[n] = 0;
            close(fd);
        }
        if (strncmp(got, secret, strlen(secret)) == 0) hits++;
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    report(tries, hits);
    return 0;
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

/* A socket of `type` bound to an ephemeral loopback port (the denied peer). */
static int own_peer(int type, int *port) {
    int s = socket(AF_INET, type, 0);
    struct sockaddr_in sa = loopback(0);
    socklen_t l = sizeof sa;
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("bind");
        exit(2);
    }
    if (type == SOCK_STREAM && listen(s, 1024) != 0) {
        perror("listen");
        exit(2);
    }
    getsockname(s, (struct sockaddr *)&sa, &l);
    *port = ntohs(sa.sin_port);
    return s;
}

static int tcp(int allowed_port, double secs) {
    int denied_port;
    int lst = own_peer(SOCK_STREAM, &denied_port);
    struct sockaddr_in a = loopback(allowed_port), b = loopback(denied_port), buf = a;
    struct flip f = {&buf, &a, &b, sizeof buf};
    pthread_t t;
    pthread_create(&t, NULL, flipper, &f);
    long tries = 0, hits = 0;
    double end = now() + secs;
    struct timeval tv = {0, 200000};
    while (now() < end) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        tries++;
        if (connect(s, (struct sockaddr *)&buf, sizeof buf) == 0) {
            struct sockaddr_in peer;
            socklen_t l = sizeof peer;
            if (getpeername(s, (struct sockaddr *)&peer, &l) == 0 && ntohs(peer.sin_port) == denied_port) {
                hits++;
                int c = accept(lst, NULL, NULL);
                if (c >= 0) close(c);
            }
        }
        close(s);
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    report(tries, hits);
    return 0;
}

/* Counts the datagrams that reached the denied socket. */
static long drain(int s) {
    char b[64];
    long n = 0;
    while (recv(s, b, sizeof b, MSG_DONTWAIT) >= 0) n++;
    return n;
}

static int udp(const char *how, int allowed_port, double secs) {
    int denied_port;
    int rcv = own_peer(SOCK_DGRAM, &denied_port);
    int big = 1 << 22;
    setsockopt(rcv, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = loopback(allowed_port), b = loopback(denied_port), buf = a;
    struct iovec iov = {"x", 1};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_name = &buf;
    msg.msg_namelen = sizeof buf;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    struct mmsghdr vec[4];
    for (int i = 0; i < 4; i++) {
        vec[i].msg_hdr = msg;
        vec[i].msg_len = 0;
    }
    pthread_t t;
    struct flip f = {&buf, &a, &b, sizeof buf};
    /* sendmsg-name: the address stays allowed; the header's pointer moves. */
    struct sockaddr_in allowed_fixed = a, denied_fixed = b;
    struct flip_ptr fp = {(void *volatile *)&msg.msg_name, &allowed_fixed, &denied_fixed};
    if (strcmp(how, "sendmsg-name") == 0) {
        msg.msg_name = &allowed_fixed;
        pthread_create(&t, NULL, ptr_flipper, &fp);
    } else {
        pthread_create(&t, NULL, flipper, &f);
    }
    long tries = 0, hits = 0;
    double end = now() + secs;
    while (now() < end) {
        tries++;
        if (strcmp(how, "sendto") == 0) {
            sendto(s, "x", 1, 0, (struct sockaddr *)&buf, sizeof buf);
        } else if (strcmp(how, "sendmmsg") == 0) {
            sendmmsg(s, vec, 4, 0);
        } else {
            sendmsg(s, &msg, 0);
        }
        if ((tries & 255) == 0) hits += drain(rcv);
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    usleep(100000);
    hits += drain(rcv);
    report(tries, hits);
    return 0;
}

static void *link_swapper(void *arg) {
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        unlink("tA");
        if (symlink("real", "tA") == 0) rename("tA", "d");
        unlink("tB");
        if (symlink("../secret", "tB") == 0) rename("tB", "d");
    }
    return NULL;
}

/* Whether the file at `path` starts with `secret`. */
static int holds(const char *path, const char *secret) {
    char got[256] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, got, sizeof got - 1);
    close(fd);
    return n > 0 && strncmp(got, secret, strlen(secret)) == 0;
}

enum swap_op { SWAP_LINK, SWAP_RENAME, SWAP_FREOPEN };

static int swaps(enum swap_op op, const char *secret, double secs) {
    mkdir("real", 0755);
    int fd = open("real/x", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "allowed\n", 8) != 8) {
        perror("real/x");
        return 2;
    }
    close(fd);
    unlink("d");
    unlink("got");
    if (symlink("real", "d") != 0) {
        perror("symlink d");
        return 2;
    }
    pthread_t t;
    pthread_create(&t, NULL, link_swapper, NULL);
    long tries = 0, hits = 0;
    double end = now() + secs;
    FILE *stream = NULL;
    while (now() < end) {
        tries++;
        if (op == SWAP_FREOPEN) {
            if (!stream) stream = fopen("real/x", "r");
            if (!stream) continue;
            stream = freopen("d/x", "r", stream);
            if (!stream) continue;
            char got[256] = {0};
            size_t n = fread(got, 1, sizeof got - 1, stream);
            got[n] = 0;
            if (strncmp(got, secret, strlen(secret)) == 0) hits++;
        } else if (op == SWAP_RENAME) {
            if (rename("d/x", "got") != 0) continue;
            if (holds("got", secret)) {
                hits++;
                rename("got", "../secret/x");
            } else {
                rename("got", "real/x");
            }
        } else {
            if (link("d/x", "got") != 0) continue;
            if (holds("got", secret)) hits++;
            unlink("got");
        }
    }
    if (stream) fclose(stream);
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    report(tries, hits);
    return 0;
}

struct dirs {
    const char *a;
    const char *b;
};

static void *chdirs(void *arg) {
    struct dirs *d = arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        if (chdir(d->a) != 0 || chdir(d->b) != 0) break;
    }
    return NULL;
}

static int cwd_race(const char *allowed, const char *denied, const char *secret, double secs) {
    struct dirs d = {allowed, denied};
    pthread_t t;
    pthread_create(&t, NULL, chdirs, &d);
    long tries = 0, hits = 0;
    double end = now() + secs;
    while (now() < end) {
        tries++;
        if (holds("x", secret)) hits++;
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    report(tries, hits);
    return 0;
}

static void *sock_swapper(void *arg) {
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        unlink("tA");
        if (symlink("real.sock", "tA") == 0) rename("tA", "s.sock");
        unlink("tB");
        if (symlink("sub/denied.sock", "tB") == 0) rename("tB", "s.sock");
    }
    return NULL;
}

static int unix_listener(const char *path) {
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    strncpy(sa.sun_path, path, sizeof sa.sun_path - 1);
    unlink(path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s, 1024) != 0) {
        perror(path);
        exit(2);
    }
    return s;
}

static int unix_swap(double secs) {
    mkdir("sub", 0755);
    int ok = unix_listener("real.sock"), no = unix_listener("sub/denied.sock");
    unlink("s.sock");
    if (symlink("real.sock", "s.sock") != 0) {
        perror("symlink s.sock");
        return 2;
    }
    pthread_t t;
    pthread_create(&t, NULL, sock_swapper, NULL);
    struct sockaddr_un to;
    memset(&to, 0, sizeof to);
    to.sun_family = AF_UNIX;
    strcpy(to.sun_path, "s.sock");
    long tries = 0, hits = 0;
    double end = now() + secs;
    while (now() < end) {
        tries++;
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&to, sizeof to) == 0) {
            int a;
            while ((a = accept(ok, NULL, NULL)) >= 0) close(a);
            while ((a = accept(no, NULL, NULL)) >= 0) {
                hits++;
                close(a);
            }
        }
        close(c);
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    report(tries, hits);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 6 && strcmp(argv[1], "chdir-race") == 0) return cwd_race(argv[2], argv[3], argv[4], atof(argv[5]));
    if (argc == 6 && (strcmp(argv[1], "open") == 0 || strcmp(argv[1], "fopen") == 0))
        return files(strcmp(argv[1], "fopen") == 0, argv[2], argv[3], argv[4], atof(argv[5]));
    if (argc == 3 && strcmp(argv[1], "unix-swap") == 0) return unix_swap(atof(argv[2]));
    if (argc == 4 && strcmp(argv[1], "connect") == 0) return tcp(atoi(argv[2]), atof(argv[3]));
    if (argc == 4 && strcmp(argv[1], "link-swap") == 0) return swaps(SWAP_LINK, argv[2], atof(argv[3]));
    if (argc == 4 && strcmp(argv[1], "rename-swap") == 0) return swaps(SWAP_RENAME, argv[2], atof(argv[3]));
    if (argc == 4 && strcmp(argv[1], "freopen-swap") == 0) return swaps(SWAP_FREOPEN, argv[2], atof(argv[3]));
    if (argc == 4) return udp(argv[1], atoi(argv[2]), atof(argv[3]));
    fprintf(stderr, "usage: see the comment at the top of evasion_fsnet.c\n");
    return 2;
}
