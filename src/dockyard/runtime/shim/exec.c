/*
 * `dockyard-shim exec [--console-fd FD] [--pid-fd FD] [--detach [--tty] [--hook-socket PATH]
 *  [--on-exit-arg ARG]...] PID PROFILE SETTING...`: run one command inside the running container whose init is PID,
 * as `dockyard exec` does, without a runtime process (containers/shimexec.py). PROFILE is the
 * container's exec profile (probe.h's lines: capabilities, cgroups, rlimits, seccomp, labels);
 * each SETTING is one more "key value" line for this command (arg, env, cwd, uid, gid, group,
 * cap_*). If the command could not start, Docker's one-line reason is written to fd 3 and we
 * exit 126 or 127; a started command leaves fd 3 empty.
 *
 * Attached, the command gets our stdin, stdout and stderr, or with --console-fd a pty of the
 * container's own whose master is sent on the unix socket FD (probe.h); its pid is written
 * to --pid-fd (then closed) once it is forked; we wait for it and exit with its status
 * (128+N for signal N).
 *
 * With --detach the command's stdio is /dev/null (with --tty a pty of the container's own,
 * whose output the monitor reads and drops) and a monitor in a session of its own starts it;
 * we print its pid and exit 0 once it runs. The monitor waits for it and then runs the
 * --on-exit-arg hook with its status as a last word (through the server on --hook-socket when
 * it takes it: hook.c), so the exec's end is recorded as a container's is.
 */
#define _GNU_SOURCE
#include "exec.h"
#include "hook.h"
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define REPORT_FD 3
#define HOOK_ARGS 64

static int refuse(const char *fmt, const char *detail)
{
    dprintf(REPORT_FD, "OCI runtime exec failed: exec failed: unable to start container process: ");
    dprintf(REPORT_FD, fmt, detail);
    dprintf(REPORT_FD, ": unknown");
    return 126;
}

static int wait_status(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 126;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Read `fd` to its end (at most size-1 bytes kept, NUL-terminated): the length. */
static size_t read_to_end(int fd, char *buf, size_t size)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, size - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (got += n) == size - 1)
            break;
    }
    buf[got] = 0;
    return got;
}

/* The pty master sent on `sock` by the command's child (probe.c), or -1. */
static int receive_master(int sock)
{
    char name[64];
    union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } control;
    struct iovec iov = { name, sizeof name };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                          .msg_controllen = sizeof control.buf };
    int fd = -1;
    struct cmsghdr *c = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (c && c->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

/* Wait for `pid`, meanwhile reading and dropping the pty's output (`master`, -1: none), so it
 * never blocks on a full terminal: its status. */
static int wait_draining(pid_t pid, int master)
{
    char buf[4096];
    int status;
    while (master >= 0) {
        struct pollfd p = { master, POLLIN, 0 };
        if (poll(&p, 1, 200) > 0 && read(master, buf, sizeof buf) <= 0)
            break;  /* EIO: the terminal's last process is gone */
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return wait_status(pid);
}

/* The monitor of a detached command: start it, tell `ready` its pid ("-CODE" if it could not
 * start, its reason relayed to fd 3), wait for it and run the hook. */
static void monitor(struct probe_config *cfg, pid_t target, bool tty, const char *hook_socket, char **on_exit,
                    int ready)
{
    char reason[1024], word[16];
    int err[2], console[2] = { -1, -1 }, devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    setsid();
    prctl(PR_SET_CHILD_SUBREAPER, 1);  /* as in exec_main: not inherited */
    if (chdir("/") < 0 || devnull < 0 || pipe2(err, O_CLOEXEC) < 0 ||
        (tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, console) < 0)) {
        dprintf(ready, "-%d", refuse("%s", "cannot start a monitor"));
        return;
    }
    for (int i = 0; i < 3; i++)
        dup2(devnull, i);  /* nothing of the caller's is held: its pipes close when we answer */
    cfg->console_fd = console[1];
    pid_t pid = probe_spawn(cfg, target, (int[3]){ devnull, devnull, devnull }, err[1]);
    close(err[1]);
    if (tty)
        close(console[1]);
    if (pid < 0) {
        dprintf(ready, "-%d", refuse("cannot enter the container: %s", strerror(errno)));
        return;
    }
    int master = tty ? receive_master(console[0]) : -1;
    if (read_to_end(err[0], reason, sizeof reason)) {
        write_all(REPORT_FD, reason, strlen(reason));
        dprintf(ready, "-%d", wait_draining(pid, master));  /* as dockerd: no hook (exec_die) for it */
        return;
    }
    close(REPORT_FD);
    dprintf(ready, "%d", (int)pid);
    close(ready);
    snprintf(word, sizeof word, "%d", wait_draining(pid, master));
    if (on_exit[0])
        run_hook(hook_socket, on_exit, word);
}

static int detached(struct probe_config *cfg, pid_t target, bool tty, const char *hook_socket, char **on_exit)
{
    char answer[32];
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0)
        return refuse("cannot make a pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        return refuse("cannot fork: %s", strerror(errno));
    if (pid == 0) {
        close(ready[0]);
        monitor(cfg, target, tty, hook_socket, on_exit, ready[1]);
        _exit(0);
    }
    close(ready[1]);
    close(REPORT_FD);
    if (!read_to_end(ready[0], answer, sizeof answer))
        return 126;
    if (answer[0] == '-')
        return atoi(answer + 1);
    printf("%s\n", answer);
    return 0;
}

int exec_main(int argc, char **argv)
{
    char msg[512], *end;
    static char *on_exit[HOOK_ARGS + 1];
    const char *hook_socket = NULL;
    bool detach = false, tty = false;
    int nhook = 0, at = 2, pid_fd = -1;
    struct probe_config cfg;
    probe_config_init(&cfg);
    for (; at < argc && !strncmp(argv[at], "--", 2); at++) {
        if (!strcmp(argv[at], "--detach") || !strcmp(argv[at], "--tty")) {
            *(argv[at][2] == 'd' ? &detach : &tty) = true;
            continue;
        }
        if (at + 1 >= argc)
            break;
        const char *opt = argv[at++], *val = argv[at];
        if (!strcmp(opt, "--console-fd")) {
            cfg.console_fd = (int)strtol(val, &end, 10);
            if (*end || cfg.console_fd < 0)
                return refuse("%s is not a file descriptor", val);
        } else if (!strcmp(opt, "--pid-fd")) {
            pid_fd = (int)strtol(val, &end, 10);
            if (*end || pid_fd < 0)
                return refuse("%s is not a file descriptor", val);
        } else if (!strcmp(opt, "--hook-socket")) {
            hook_socket = val;
        } else if (!strcmp(opt, "--on-exit-arg") && nhook < HOOK_ARGS) {
            on_exit[nhook++] = (char *)val;
        } else {
            return refuse("option %s is not understood", opt);
        }
    }
    if (argc < at + 2) {
        fprintf(stderr, "usage: %s exec [--console-fd FD] [--pid-fd FD] [--detach [--tty] [--hook-socket PATH] "
                        "[--on-exit-arg ARG]...] PID PROFILE SETTING...\n", argv[0]);
        return 2;
    }
    long target = strtol(argv[at], &end, 10);
    if (*end || target <= 0)
        return refuse("%s is not a pid", argv[at]);
    if (probe_config_read(argv[at + 1], &cfg, msg, sizeof msg) < 0)
        return refuse("%s", msg);
    for (int i = at + 2; i < argc; i++) {
        char *val = strchr(argv[i], ' ');
        if (val)
            *val++ = 0;
        if (!probe_config_set(&cfg, argv[i], val ? val : ""))
            return refuse("setting %s is not understood", argv[i]);
    }
    if (!cfg.nargs || !cfg.cwd || !probe_config_default_env(&cfg))
        return refuse("%s", "no command or working directory given");
    prctl(PR_SET_CHILD_SUBREAPER, 1);  /* probe_spawn's command may come to us through a child */
    if (detach)
        return detached(&cfg, (pid_t)target, tty, hook_socket, on_exit);
    pid_t pid = probe_spawn(&cfg, (pid_t)target, (int[3]){ 0, 1, 2 }, REPORT_FD);
    if (pid < 0)
        return refuse("cannot enter the container: %s", strerror(errno));
    close(REPORT_FD);
    if (pid_fd >= 0) {
        dprintf(pid_fd, "%d", (int)pid);
        close(pid_fd);
    }
    if (cfg.console_fd >= 0)
        close(cfg.console_fd);  /* the command's alone: its end tells the caller no pty comes */
    return wait_status(pid);
}
