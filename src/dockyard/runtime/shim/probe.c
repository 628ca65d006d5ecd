/*
 * Health probes: the shim runs each probe itself, entering the container the way
 * `runc exec` does (namespaces, cgroups, user, capabilities, seccomp, rlimits), so a probe
 * costs one fork instead of a runtime process: with 50 containers probing every second that
 * is the difference between a few percent of a core and both cores busy.
 */
#define _GNU_SOURCE
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/close_range.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the config file ------------------------------------------------------------------ */

/* One "key value" line per setting; in values `\n` is a newline and `\\` a backslash. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '\\' && (r[1] == 'n' || r[1] == '\\'))
            *w++ = *++r == 'n' ? '\n' : '\\';
        else
            *w++ = *r;
    }
    *w = 0;
}

static bool push(char ***list, int *n, char *item)
{
    char **grown = realloc(*list, (*n + 2) * sizeof **list);
    if (!grown)
        return false;
    grown[(*n)++] = item;
    grown[*n] = NULL;
    *list = grown;
    return true;
}

static bool number(const char *s, long long min, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || end == s || (*end && *end != ' ') || v < min)
        return false;
    *out = v;
    return true;
}

static bool mask(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 16);
    return !errno && end != s && !*end;
}

static int load_seccomp(const char *path, struct probe_config *cfg)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0 || st.st_size % sizeof(struct sock_filter) ||
        st.st_size > (off_t)(BPF_MAXINSNS * sizeof(struct sock_filter))) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    cfg->seccomp = malloc(st.st_size);
    ssize_t n = cfg->seccomp ? read(fd, cfg->seccomp, st.st_size) : -1;
    close(fd);
    if (n != st.st_size)
        return -1;
    cfg->seccomp_len = st.st_size;
    return 0;
}

/* One setting (see probe.h); false if the key or its value is not understood. */
bool probe_config_set(struct probe_config *cfg, const char *key, const char *val)
{
    long long v;
    if (!strcmp(key, "arg") || !strcmp(key, "env") || !strcmp(key, "cgroup")) {
        char *copy = strdup(val);
        return copy && (!strcmp(key, "arg") ? push(&cfg->argv, &cfg->nargs, copy)
                        : !strcmp(key, "env") ? push(&cfg->envp, &cfg->nenv, copy)
                        : push(&cfg->cgroups, &cfg->ncgroups, copy));
    }
    char **text = !strcmp(key, "cwd") ? &cfg->cwd : !strcmp(key, "timeout_text") ? &cfg->timeout_text
                : !strcmp(key, "apparmor") ? &cfg->apparmor : !strcmp(key, "selinux") ? &cfg->selinux : NULL;
    if (text) {
        free(*text);
        return (*text = strdup(val)) != NULL;
    }
    if (!strcmp(key, "seccomp"))
        return load_seccomp(val, cfg) == 0;
    if (!strcmp(key, "rlimit")) {
        long long res, soft, hard;
        const char *p2 = strchr(val, ' '), *p3 = p2 ? strchr(p2 + 1, ' ') : NULL;
        if (!p3 || !number(val, 0, &res) || !number(p2 + 1, -1, &soft) || !number(p3 + 1, -1, &hard))
            return false;
        struct probe_rlimit *grown = realloc(cfg->rlimits, (cfg->nrlimits + 1) * sizeof *grown);
        if (!grown)
            return false;
        grown[cfg->nrlimits++] = (struct probe_rlimit){ (int)res, soft < 0 ? RLIM_INFINITY : (rlim_t)soft,
                                                        hard < 0 ? RLIM_INFINITY : (rlim_t)hard };
        cfg->rlimits = grown;
        return true;
    }
    if (!strcmp(key, "console_size")) {
        long long rows, cols;
        const char *p2 = strchr(val, ' ');
        if (!p2 || !number(val, 0, &rows) || !number(p2 + 1, 0, &cols) || rows > 65535 || cols > 65535)
            return false;
        cfg->console_rows = rows;
        cfg->console_cols = cols;
        return true;
    }
    if (!strcmp(key, "group")) {
        gid_t *grown = number(val, 0, &v) ? realloc(cfg->groups, (cfg->ngroups + 1) * sizeof *grown) : NULL;
        if (!grown)
            return false;
        grown[cfg->ngroups++] = v;
        cfg->groups = grown;
        return true;
    }
    if (!strncmp(key, "cap_", 4) && strcmp(key, "cap_last")) {
        unsigned long long *m = !strcmp(key, "cap_bounding") ? &cfg->cap_bounding
                              : !strcmp(key, "cap_effective") ? &cfg->cap_effective
                              : !strcmp(key, "cap_permitted") ? &cfg->cap_permitted
                              : !strcmp(key, "cap_inheritable") ? &cfg->cap_inheritable
                              : !strcmp(key, "cap_ambient") ? &cfg->cap_ambient : NULL;
        return m && mask(val, m);
    }
    if (!number(val, -1, &v))
        return false;
    if (!strcmp(key, "interval_ms"))
        cfg->interval_ms = v;
    else if (!strcmp(key, "timeout_ms"))
        cfg->timeout_ms = v;
    else if (!strcmp(key, "start_period_ms"))
        cfg->start_period_ms = v;
    else if (!strcmp(key, "start_interval_ms"))
        cfg->start_interval_ms = v;
    else if (!strcmp(key, "retries"))
        cfg->retries = v;
    else if (!strcmp(key, "uid"))
        cfg->uid = v;
    else if (!strcmp(key, "gid"))
        cfg->gid = v;
    else if (!strcmp(key, "no_new_privs"))
        cfg->no_new_privs = v != 0;
    else if (!strcmp(key, "umask"))
        cfg->umask = v;
    else if (!strcmp(key, "cap_last"))
        cfg->cap_last = v;
    else
        return false;
    return true;
}

void probe_config_init(struct probe_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->umask = -1;
    cfg->cap_last = 40;
    cfg->console_fd = -1;
}

int probe_config_read(const char *path, struct probe_config *cfg, char *msg, size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(msg, size, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t room = 0;
    ssize_t len;
    int lineno = 0;
    bool ok = true;
    while (ok && (len = getline(&line, &room, f)) >= 0) {
        lineno++;
        if (len && line[len - 1] == '\n')
            line[--len] = 0;
        char *val = strchr(line, ' ');
        if (!val)
            val = line + len;
        else
            *val++ = 0;
        unescape(val);
        ok = probe_config_set(cfg, line, val);
    }
    free(line);
    fclose(f);
    if (!ok) {
        snprintf(msg, size, "%s line %d is not understood", path, lineno);
        return -1;
    }
    return 0;
}

int probe_config_load(const char *path, struct probe_config *cfg, char *msg, size_t size)
{
    probe_config_init(cfg);
    if (probe_config_read(path, cfg, msg, size) < 0)
        return -1;
    if (!cfg->nargs || !cfg->cwd || !cfg->timeout_text || cfg->interval_ms <= 0 || cfg->timeout_ms <= 0 ||
        cfg->retries <= 0) {
        snprintf(msg, size, "%s lacks arg, cwd, timeout_text, interval_ms, timeout_ms or retries", path);
        return -1;
    }
    return probe_config_default_env(cfg) ? 0 : (snprintf(msg, size, "out of memory"), -1);
}

bool probe_config_default_env(struct probe_config *cfg)
{
    return cfg->envp || push(&cfg->envp, &cfg->nenv, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
}

/* ---- entering the container ------------------------------------------------------------ */

/* Namespaces the probe joins, in the order runc joins them: user first, mount last (joining
 * a mount namespace changes what paths mean, so all are opened before the first setns). */
static const struct { const char *name; int flag; } namespaces[] = {
    { "user", CLONE_NEWUSER }, { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS },
    { "net", CLONE_NEWNET }, { "cgroup", CLONE_NEWCGROUP }, { "mnt", CLONE_NEWNS },
};
#define NNS (sizeof namespaces / sizeof *namespaces)

/* The target's namespace `name`, opened, or -1 when it is ours already (or gone). */
static int other_ns(pid_t target, const char *name)
{
    char path[64];
    struct stat theirs, ours;
    snprintf(path, sizeof path, "/proc/%d/ns/%s", target, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    snprintf(path, sizeof path, "/proc/self/ns/%s", name);
    if (fd >= 0 && fstat(fd, &theirs) == 0 && stat(path, &ours) == 0 &&
        theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Why the process could not start, in the words Docker's exec reports, then exit `code`. */
static void fail(int err_fd, int code, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(text, sizeof text, "OCI runtime exec failed: exec failed: unable to start container process: ");
    vsnprintf(text + n, sizeof text - n, fmt, ap);
    va_end(ap);
    n = strlen(text);
    snprintf(text + n, sizeof text - n, ": unknown");
    ssize_t ignored = write(err_fd, text, strlen(text));
    (void)ignored;
    _exit(code);
}

/* An errno as Go words it ("no such file or directory"): the C library's text in lower case. */
static const char *go_error(int e)
{
    static char text[128];
    snprintf(text, sizeof text, "%s", strerror(e));
    for (char *c = text; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c += 'a' - 'A';
    return text;
}

static void join_cgroups(const struct probe_config *cfg, int err_fd)
{
    for (char **dir = cfg->cgroups; dir && *dir; dir++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/cgroup.procs", *dir);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1)
            fail(err_fd, 126, "cannot join the container's cgroup %s: %s", *dir, go_error(errno));
        close(fd);
    }
}

static int load_filter(const struct probe_config *cfg)
{
    struct sock_fprog prog = { .len = cfg->seccomp_len / sizeof(struct sock_filter), .filter = cfg->seccomp };
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

/* The AppArmor profile and SELinux label the command gets at execve. */
static void set_exec_labels(const struct probe_config *cfg, int err_fd)
{
    const char *apparmor = access("/proc/self/attr/apparmor/exec", F_OK) == 0 ? "/proc/self/attr/apparmor/exec"
                                                                              : "/proc/self/attr/exec";
    const struct { const char *value, *path, *prefix; } labels[] = {
        { cfg->apparmor, apparmor, "exec " }, { cfg->selinux, "/proc/self/attr/exec", "" },
    };
    for (size_t i = 0; i < sizeof labels / sizeof *labels; i++) {
        if (!labels[i].value)
            continue;
        char text[1024];
        int n = snprintf(text, sizeof text, "%s%s", labels[i].prefix, labels[i].value);
        int fd = open(labels[i].path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, text, n) != n)
            fail(err_fd, 126, "cannot set the label %s: %s", labels[i].value, go_error(errno));
        close(fd);
    }
}

static void switch_identity(const struct probe_config *cfg, int err_fd)
{
    for (int cap = 0; cap <= cfg->cap_last && cap < 64; cap++)
        if (!(cfg->cap_bounding >> cap & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            fail(err_fd, 126, "cannot drop capability %d from the bounding set: %s", cap, go_error(errno));
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(cfg->ngroups, cfg->groups) < 0 ||
        setresgid(cfg->gid, cfg->gid, cfg->gid) < 0 || setresuid(cfg->uid, cfg->uid, cfg->uid) < 0 ||
        prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        fail(err_fd, 126, "cannot switch to user %u:%u: %s", cfg->uid, cfg->gid, go_error(errno));
    struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3 };
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++)
        data[i] = (struct __user_cap_data_struct){ (__u32)(cfg->cap_effective >> 32 * i),
                                                   (__u32)(cfg->cap_permitted >> 32 * i),
                                                   (__u32)(cfg->cap_inheritable >> 32 * i) };
    if (syscall(SYS_capset, &head, data) < 0)
        fail(err_fd, 126, "cannot set capabilities: %s", go_error(errno));
    for (int cap = 0; cap < 64; cap++)
        if (cfg->cap_ambient >> cap & 1)
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);  /* as runc: best effort */
}

static bool executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* The command's file as runc's exec finds it (Go's exec.LookPath on the command's PATH), or
 * the start fails with its words: 127 for a missing command, 126 for one that cannot run. */
static const char *find_executable(const struct probe_config *cfg, int err_fd)
{
    const char *name = cfg->argv[0];
    struct stat st;
    if (strchr(name, '/')) {
        if (stat(name, &st) < 0)
            fail(err_fd, errno == ENOENT ? 127 : 126, "exec: \"%s\": stat %s: %s", name, name, go_error(errno));
        if (S_ISDIR(st.st_mode) || access(name, X_OK) < 0)
            fail(err_fd, 126, "exec: \"%s\": permission denied", name);
        return name;
    }
    const char *path = "";
    for (char **e = cfg->envp; *e; e++)
        if (!strncmp(*e, "PATH=", 5))
            path = *e + 5;
    static char found[PATH_MAX];
    for (const char *dir = path;; dir++) {
        size_t len = strcspn(dir, ":");
        snprintf(found, sizeof found, "%.*s/%s", len ? (int)len : 1, len ? dir : ".", name);
        if (executable_file(found))
            return found;
        dir += len;
        if (!*dir)
            break;
    }
    fail(err_fd, 127, "exec: \"%s\": executable file not found in $PATH", name);
    return NULL;
}

/* A pty of the devpts now mounted at /dev/pts, of the console size given: its master sent on
 * `console_fd`, its slave the controlling terminal and stdio of this process (which leads a
 * session). */
static void take_console(const struct probe_config *cfg, int err_fd)
{
    int console_fd = cfg->console_fd;
    char name[64];
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof name) != 0)
        fail(err_fd, 126, "cannot allocate a pty: %s", go_error(errno));
    int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        fail(err_fd, 126, "cannot open the pty %s: %s", name, go_error(errno));
    union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } control;
    struct iovec iov = { name, strlen(name) };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                          .msg_controllen = sizeof control.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &master, sizeof(int));
    if (sendmsg(console_fd, &msg, MSG_NOSIGNAL) < 0)
        fail(err_fd, 126, "cannot send the pty: %s", go_error(errno));
    close(master);
    close(console_fd);
    struct winsize size = { .ws_row = cfg->console_rows, .ws_col = cfg->console_cols };
    if ((size.ws_row || size.ws_col) && ioctl(slave, TIOCSWINSZ, &size) < 0)
        fail(err_fd, 126, "cannot size the pty: %s", go_error(errno));
    if (ioctl(slave, TIOCSCTTY, 0) < 0)
        fail(err_fd, 126, "cannot make %s the controlling terminal: %s", name, go_error(errno));
    for (int i = 0; i < 3; i++)
        if (dup2(slave, i) < 0)
            fail(err_fd, 126, "cannot use the pty: %s", go_error(errno));
    close(slave);
}

/* The child: everything between fork and exec, reporting failures on err_fd. */
static void enter_and_exec(const struct probe_config *cfg, const int *ns, const int stdio[3], int err_fd)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    for (int i = 0; i < 3; i++)
        if (dup2(stdio[i], i) < 0)
            _exit(126);
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);  /* nothing of the caller's reaches the command */
    setsid();
    join_cgroups(cfg, err_fd);
    for (size_t i = 0; i < NNS; i++)
        if (ns[i] >= 0 && setns(ns[i], namespaces[i].flag) < 0)
            fail(err_fd, 126, "cannot join the container's %s namespace: %s", namespaces[i].name, go_error(errno));
    for (int i = 0; i < cfg->nrlimits; i++) {
        struct rlimit r = { cfg->rlimits[i].soft, cfg->rlimits[i].hard };
        if (setrlimit(cfg->rlimits[i].resource, &r) < 0)
            fail(err_fd, 126, "cannot set rlimit %d: %s", cfg->rlimits[i].resource, go_error(errno));
    }
    if (cfg->console_fd >= 0)
        take_console(cfg, err_fd);
    if (chdir(cfg->cwd) < 0)
        fail(err_fd, 126, "chdir to cwd (\"%s\") set in config.json failed: %s", cfg->cwd, go_error(errno));
    const char *file = find_executable(cfg, err_fd);
    if (cfg->seccomp && !cfg->no_new_privs && load_filter(cfg) < 0)  /* while CAP_SYS_ADMIN is held */
        fail(err_fd, 126, "cannot load the seccomp filter: %s", go_error(errno));
    set_exec_labels(cfg, err_fd);
    switch_identity(cfg, err_fd);
    if (cfg->umask >= 0)
        umask(cfg->umask);
    if (cfg->no_new_privs && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || (cfg->seccomp && load_filter(cfg) < 0)))
        fail(err_fd, 126, "cannot set no_new_privs and seccomp: %s", go_error(errno));
    execve(file, cfg->argv, cfg->envp);
    /* found but refused by the kernel: the command's own failure, as dockyard's runtime reports it */
    int e = errno;
    close(err_fd);
    dprintf(2, "exec %s: %s\n", cfg->argv[0], strerror(e));
    _exit(e == EACCES ? 126 : 127);
}

/* The command forked by a child of ours that joined the pid namespace `pid_ns`, for a caller
 * that may not come back from it (a rootless engine's: its own pid namespace belongs to the
 * host's user namespace). The child ends at once and the command is reparented to us, a child
 * subreaper, as runc's exec hands its process to containerd's shim. */
static pid_t spawn_through_child(const struct probe_config *cfg, const int *ns, int pid_ns, const int stdio[3],
                                 int err_fd)
{
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0)
        return -1;
    pid_t helper = fork(), pid = -1;
    if (helper == 0) {
        if (setns(pid_ns, CLONE_NEWPID) == 0 && (pid = fork()) == 0)
            enter_and_exec(cfg, ns, stdio, err_fd);
        int e = errno;
        ssize_t ignored = write(report[1], &pid, sizeof pid) + write(report[1], &e, sizeof e);
        (void)ignored;
        _exit(0);
    }
    close(report[1]);
    int e = EAGAIN;
    if (helper < 0 || read(report[0], &pid, sizeof pid) != sizeof pid || read(report[0], &e, sizeof e) != sizeof e)
        pid = -1;
    close(report[0]);
    if (helper > 0)
        waitpid(helper, NULL, 0);
    if (pid < 0)
        errno = e;
    return pid;
}

pid_t probe_spawn(const struct probe_config *cfg, pid_t target, const int stdio[3], int err_fd)
{
    int ns[NNS];
    for (size_t i = 0; i < NNS; i++)
        ns[i] = other_ns(target, namespaces[i].name);
    /* a pid namespace takes effect for children only: the caller's is set for this one fork,
     * and set back after it; a caller that may not set it back (entering its own fails) has a
     * child of its own join it instead */
    int pid_ns = other_ns(target, "pid"), own_pid_ns = -1;
    pid_t pid = -1;
    if (pid_ns >= 0) {
        own_pid_ns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
        if (own_pid_ns < 0)
            goto out;
        if (setns(own_pid_ns, CLONE_NEWPID) < 0) {
            pid = spawn_through_child(cfg, ns, pid_ns, stdio, err_fd);
            goto out;
        }
        if (setns(pid_ns, CLONE_NEWPID) < 0)
            goto out;
    }
    pid = fork();
    if (pid == 0)
        enter_and_exec(cfg, ns, stdio, err_fd);
    if (pid_ns >= 0 && setns(own_pid_ns, CLONE_NEWPID) < 0)
        abort();                           /* later children (restarts) would land in the container */
out:
    if (own_pid_ns >= 0)
        close(own_pid_ns);
    if (pid_ns >= 0)
        close(pid_ns);
    for (size_t i = 0; i < NNS; i++)
        if (ns[i] >= 0)
            close(ns[i]);
    return pid;
}
