/*
 * Hooks: a command the engine gave (a shim's exit and health hooks, a detached exec's end),
 * run through `dockyard serve`'s hook socket when it takes it, else as a process.
 */
#define _GNU_SOURCE
#include "hook.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOOK_REPLY_MS 2000         /* a server on the hook socket takes a hook within this */

int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= w;
    }
    return 0;
}

void reset_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
}

/* Hand the hook's argv (plus `extra`) to the server on `hook_socket`: its words, each
 * ended by a NUL, then a half-close; the server answers "ok" once it has taken the job.
 * 0 when it did, -1 when nobody listens or the server did not answer in time. */
static int hand_to_server(const char *hook_socket, char *const *argv, const char *extra)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (!hook_socket || strlen(hook_socket) >= sizeof addr.sun_path)
        return -1;
    strcpy(addr.sun_path, hook_socket);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = { .tv_sec = HOOK_REPLY_MS / 1000, .tv_usec = HOOK_REPLY_MS % 1000 * 1000 };
    char reply[8];
    ssize_t n = -1;
    int rc = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) |
             setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) |
             connect(fd, (struct sockaddr *)&addr, sizeof addr);
    for (int i = 0; rc == 0 && argv[i]; i++)
        rc = write_all(fd, argv[i], strlen(argv[i]) + 1);
    if (rc == 0 && extra)
        rc = write_all(fd, extra, strlen(extra) + 1);
    if (rc == 0 && shutdown(fd, SHUT_WR) == 0) {
        do
            n = read(fd, reply, sizeof reply);
        while (n < 0 && errno == EINTR);
    }
    close(fd);
    return n >= 2 && !memcmp(reply, "ok", 2) ? 0 : -1;
}

void run_hook(const char *hook_socket, char *const *argv, const char *extra)
{
    if (hand_to_server(hook_socket, argv, extra) == 0)
        return;
    char *args[72];
    int n = 0;
    while (argv[n] && n < 70) {
        args[n] = argv[n];
        n++;
    }
    if (extra)
        args[n++] = (char *)extra;
    args[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        reset_signals();
        setsid();
        if (fork() == 0) {
            execvp(args[0], args);
            _exit(127);
        }
        _exit(0);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}
