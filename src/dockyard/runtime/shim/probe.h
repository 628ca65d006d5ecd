/* A health probe: one process run inside a running container, as `exec` would run it. */
#ifndef DOCKYARD_PROBE_H
#define DOCKYARD_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

struct probe_rlimit {
    int resource;
    rlim_t soft, hard;
};

/* What the engine wrote to the shim's --health file (see README.md, "Health checks"). */
struct probe_config {
    long long interval_ms, timeout_ms, start_period_ms, start_interval_ms;
    int retries;
    char *timeout_text;            /* "Health check exceeded timeout (30s)", in Go's duration format */
    char **argv, **envp;           /* NULL-terminated */
    char *cwd;
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    int ngroups;
    bool no_new_privs;
    int umask;                     /* -1: leave it */
    int cap_last;
    unsigned long long cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    char **cgroups;                /* the container's cgroup directories, NULL-terminated */
    struct probe_rlimit *rlimits;
    int nrlimits;
    void *seccomp;                 /* a BPF program (struct sock_filter[]), NULL: none */
    size_t seccomp_len;
};

/* Read the --health file; -1 with a one-line reason in msg. */
int probe_config_load(const char *path, struct probe_config *cfg, char *msg, size_t size);

/* Start the probe in the namespaces and cgroups of `target` (the container's init) with
 * stdin on `in_fd`, stdout and stderr on `out_fd`. The probe leads a process group of its
 * own. If it cannot be started, a one-line reason is written to `err_fd` (close-on-exec, so
 * a started probe leaves it empty) and it exits 126/127. Returns its pid, or -1 with
 * errno when it could not be forked into the container's pid namespace. */
pid_t probe_spawn(const struct probe_config *cfg, pid_t target, int in_fd, int out_fd, int err_fd);

#endif
