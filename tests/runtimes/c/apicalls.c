/* The api category from C, for tests/tests/preload_api.rs.
 *
 *   apicalls connect HOST PORT...   getaddrinfo + socket + connect per host
 *   apicalls sdk QUERY              every open entry point on the SDK channel
 *
 * One line per call on stdout: `HOST ok`, `HOST errno=NAME`, or
 * `sdk CALL errno=NAME` (the channel never opens anything). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *errname(int e) {
    switch (e) {
    case 0: return "0";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case ECONNREFUSED: return "ECONNREFUSED";
    default: return strerror(e);
    }
}

static void connect_to(const char *host, const char *port) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int r = getaddrinfo(host, port, &hints, &res);
    if (r != 0) {
        printf("%s getaddrinfo=%s\n", host, gai_strerror(r));
        return;
    }
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    errno = 0;
    if (connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
        printf("%s ok\n", host);
    } else {
        printf("%s errno=%s\n", host, errname(errno));
    }
    close(fd);
    freeaddrinfo(res);
}

static void report(const char *call, int failed) {
    printf("sdk %s errno=%s\n", call, failed ? errname(errno) : "opened");
}

static void sdk(const char *query) {
    char path[512];
    snprintf(path, sizeof path, "/dev/rampart/api/%s", query);
    int fd;
    errno = 0; fd = open(path, O_RDONLY); report("open", fd < 0);
    errno = 0; fd = open64(path, O_RDONLY | O_CLOEXEC); report("open64", fd < 0);
    errno = 0; fd = openat(AT_FDCWD, path, O_RDONLY); report("openat", fd < 0);
    errno = 0; FILE *f = fopen(path, "r"); report("fopen", f == NULL);
    errno = 0; DIR *d = opendir(path); report("opendir", d == NULL);
    errno = 0; FILE *s = tmpfile(); s = freopen(path, "r", s); report("freopen", s == NULL);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && strcmp(argv[1], "sdk") == 0) {
        sdk(argv[2]);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "connect") == 0) {
        const char *port = argv[argc - 1];
        for (int i = 2; i < argc - 1; i++) connect_to(argv[i], port);
        return 0;
    }
    fprintf(stderr, "usage: apicalls connect HOST... PORT | apicalls sdk QUERY\n");
    return 2;
}
