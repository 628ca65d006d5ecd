/* A load generator for an HTTP server on a unix socket: CONNS keep-alive connections, each
 * sending GET PATH again as soon as the previous answer is complete, for SECONDS; prints the
 * number of answers per second. In C so that the client is not what bounds the rate (a Python
 * client tops out below 1,000 requests per second on a small VM).
 * Build: gcc -O2 -o httpload httpload.c    Use: httpload SOCKET PATH CONNS SECONDS
 * Answers must be 200, with a Content-Length or chunked (the terminating chunk is looked for). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUF (1 << 22)

struct conn {
    int fd;
    char *buf;
    size_t len;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Length of a complete answer at the start of c->buf, 0 if incomplete, -1 if not a 200. */
static long complete(struct conn *c) {
    c->buf[c->len] = 0;
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end)
        return 0;
    if (strncmp(c->buf + 8, " 200", 4) != 0)
        return -1;
    size_t head = end + 4 - c->buf;
    char *cl = strcasestr(c->buf, "\r\ncontent-length:");
    if (cl && cl < end) {
        long n = strtol(cl + 17, NULL, 10);
        return c->len >= head + n ? (long)(head + n) : 0;
    }
    char *last = strstr(end + 4, "\r\n0\r\n\r\n");
    if (!last && strncmp(end + 4, "0\r\n\r\n", 5) == 0)
        return head + 5;
    return last ? (long)(last + 7 - c->buf) : 0;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s SOCKET PATH CONNS SECONDS\n", argv[0]);
        return 2;
    }
    int conns = atoi(argv[3]);
    double seconds = atof(argv[4]);
    char req[4096];
    int reqlen = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", argv[2]);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
    int ep = epoll_create1(0);
    struct conn *cs = calloc(conns, sizeof *cs);
    for (int i = 0; i < conns; i++) {
        cs[i].fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(cs[i].fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
            perror("connect");
            return 1;
        }
        cs[i].buf = malloc(BUF + 1);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
        if (write(cs[i].fd, req, reqlen) != reqlen) {
            perror("write");
            return 1;
        }
    }
    long done = 0;
    double t0 = now(), deadline = t0 + seconds;
    struct epoll_event evs[256];
    while (now() < deadline) {
        int n = epoll_wait(ep, evs, 256, 1000);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            ssize_t got = read(c->fd, c->buf + c->len, BUF - c->len);
            if (got <= 0) {
                fprintf(stderr, "connection closed: %s\n", got ? strerror(errno) : "EOF");
                return 1;
            }
            c->len += got;
            long size = complete(c);
            if (size < 0) {
                fprintf(stderr, "not a 200: %.200s\n", c->buf);
                return 1;
            }
            if (size == 0)
                continue;
            done++;
            memmove(c->buf, c->buf + size, c->len - size);
            c->len -= size;
            if (write(c->fd, req, reqlen) != reqlen) {
                perror("write");
                return 1;
            }
        }
    }
    printf("%.0f\n", done / (now() - t0));
    return 0;
}
