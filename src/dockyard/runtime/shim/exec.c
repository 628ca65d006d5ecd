/*
 * `dockyard-shim exec [--console-fd FD] PID PROFILE SETTING...`: run one command inside the
 * running container whose init is PID, as `dockyard exec` does, without a runtime process
 * (the CLI's quick path, cli/execquick.py, and Execs, containers/execs.py). PROFILE is the container's exec profile (probe.h's lines:
 * capabilities, cgroups, rlimits, seccomp, labels); each SETTING is one more "key value"
 * line for this command (arg, env, cwd, uid, gid, group, cap_*). The command gets our
 * stdin, stdout and stderr, or with --console-fd a pty of the container's own whose master
 * is sent on the unix socket FD (probe.h); we wait for it and exit with its status (128+N
 * for signal N).
 * If it could not start, Docker's one-line reason is written to fd 3 and we exit 126 or 127;
 * a started command leaves fd 3 empty.
 */
#define _GNU_SOURCE
#include "exec.h"
#include "probe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define REPORT_FD 3

static int refuse(const char *fmt, const char *detail)
{
    dprintf(REPORT_FD, "OCI runtime exec failed: exec failed: unable to start container process: ");
    dprintf(REPORT_FD, fmt, detail);
    dprintf(REPORT_FD, ": unknown");
    return 126;
}

int exec_main(int argc, char **argv)
{
    char msg[512], *end;
    struct probe_config cfg;
    probe_config_init(&cfg);
    int at = 2;
    if (argc > 3 && !strcmp(argv[at], "--console-fd")) {
        cfg.console_fd = (int)strtol(argv[at + 1], &end, 10);
        if (*end || cfg.console_fd < 0)
            return refuse("%s is not a file descriptor", argv[at + 1]);
        at += 2;
    }
    if (argc < at + 2) {
        fprintf(stderr, "usage: %s exec [--console-fd FD] PID PROFILE SETTING...\n", argv[0]);
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
    pid_t pid = probe_spawn(&cfg, (pid_t)target, (int[3]){ 0, 1, 2 }, REPORT_FD);
    if (pid < 0)
        return refuse("cannot enter the container: %s", strerror(errno));
    close(REPORT_FD);
    if (cfg.console_fd >= 0)
        close(cfg.console_fd);  /* the command's alone: its end tells the caller no pty comes */
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 126;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
