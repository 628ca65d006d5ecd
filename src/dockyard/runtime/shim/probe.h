/* One process run inside a running container, as `exec` runs it: a health probe (the shim),
 * or an exec of the CLI's quick path (exec.c). */
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

/* What the engine wrote to the shim's --health file (see README.md, "Health checks"), or
 * gave `dockyard-shim exec` (see exec.c). */
struct probe_config {
    long long interval_ms, timeout_ms, start_period_ms, start_interval_ms;
    int retries;
    char *timeout_text;            /* "Health check exceeded timeout (30s)", in Go's duration format */
    char **argv, **envp;           /* NULL-terminated */
    int nargs, nenv, ncgroups;
    char *cwd;
    char *apparmor, *selinux;      /* labels for the command's execve, NULL: none */
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
    int console_fd;                /* a unix socket: the command gets a pty of the container's own
                                      devpts as its controlling terminal and stdio, and its master
                                      goes there (SCM_RIGHTS, the slave's name as data), as runc's
                                      --console-socket; -1: none */
    unsigned short console_rows, console_cols;  /* its size ("console_size ROWS COLS"), 0: unset */
};

/* Read the --health file; -1 with a one-line reason in msg. */
int probe_config_load(const char *path, struct probe_config *cfg, char *msg, size_t size);

/* The pieces of probe_config_load: empty settings; one "key value" setting (false if not
 * understood); every line of a file; PATH's default where no env was given. */
void probe_config_init(struct probe_config *cfg);
bool probe_config_set(struct probe_config *cfg, const char *key, const char *val);
int probe_config_read(const char *path, struct probe_config *cfg, char *msg, size_t size);
bool probe_config_default_env(struct probe_config *cfg);

/* Start the command in the namespaces and cgroups of `target` (the container's init) with
 * `stdio` as its stdin, stdout and stderr. It leads a session of its own. The caller must be
 * a child subreaper: where it may not enter the container's pid namespace and come back (a
 * rootless engine), a child of its own forks the command, which is then reparented to it. If it cannot be
 * started, Docker's one-line reason is written to `err_fd` (close-on-exec, so a started
 * command leaves it empty) and it exits 127 (no such command) or 126. Returns its pid, or
 * -1 with errno when it could not be forked into the container's pid namespace. */
pid_t probe_spawn(const struct probe_config *cfg, pid_t target, const int stdio[3], int err_fd);

#endif
