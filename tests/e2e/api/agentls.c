/* Ask the SSH agent at $SSH_AUTH_SOCK for its identities; print how many and their comments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int readn(int fd, unsigned char *buf, size_t n) {
    size_t got = 0;
    while (got < n) { ssize_t r = read(fd, buf + got, n - got); if (r <= 0) return -1; got += r; }
    return 0;
}
static unsigned u32(const unsigned char *p) { return (unsigned)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

int main(void) {
    const char *path = getenv("SSH_AUTH_SOCK");
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (!path) { puts("no SSH_AUTH_SOCK"); return 2; }
    strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); return 3; }
    unsigned char req[5] = {0, 0, 0, 1, 11}, head[4];
    if (write(fd, req, 5) != 5 || readn(fd, head, 4)) return 4;
    unsigned len = u32(head);
    unsigned char *body = malloc(len);
    if (readn(fd, body, len) || body[0] != 12) return 5;
    unsigned n = u32(body + 1), off = 5;
    printf("identities: %u\n", n);
    for (unsigned i = 0; i < n; i++) {
        off += 4 + u32(body + off);                      /* the key blob */
        unsigned clen = u32(body + off);
        printf("%.*s\n", (int)clen, body + off + 4);     /* its comment */
        off += 4 + clen;
    }
    return 0;
}
