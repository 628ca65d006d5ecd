/*
 * dockyard-shim: the one small process that stays with a running container.
 *
 * It creates and starts the container through an OCI runtime (runc's command line),
 * is the parent of the container's init (child subreaper), copies its output into a
 * json-file log and to attached clients, feeds attached clients' input to its stdin,
 * records how it ended (exit.json) and restarts it by policy. Written in C because one
 * runs per container: a Python interpreter would cost more memory than the container.
 * The protocol (options, files, sockets) is described in README.md next to this file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"
#include "hook.h"
#include "probe.h"

#define LINE_BUF 16384             /* a partial line is logged when this fills */
#define CLIENT_MAX (1 << 20)       /* an attach client further behind is dropped */
#define STDIN_BUF 16384
#define WAIT_ATTACH_MS 10000       /* --wait-attach gives up after this */
#define DRAIN_MS 2000              /* output read after the container's end, at most */
#define BACKOFF_MIN_MS 100         /* docker's restart back-off */
#define BACKOFF_MAX_MS 60000
#define BACKOFF_RESET_MS 10000     /* a run this long resets the back-off */
#define HEALTH_LOG 5               /* docker keeps the last 5 probe results */
#define HEALTH_OUTPUT 4096         /* and the first 4 KiB of each probe's output */
#define HEALTH_ENTRY (HEALTH_OUTPUT + 128)  /* with "..." or a timeout's words around it */

enum policy { RESTART_NO, RESTART_ALWAYS, RESTART_UNLESS_STOPPED, RESTART_ON_FAILURE };

static struct {
    const char *id, *bundle, *state_dir, *runtime, *runtime_root, *log_path, *oom_file;
    const char *foreground_lock;   /* locked by a client that records the exit itself */
    const char *hook_socket;       /* a server that runs the hooks in-process, when it listens */
    long long log_max_size;        /* 0: unlimited */
    int log_max_files;
    bool tty, stdin_open, wait_attach, keep_after_exit;
    bool k8s_log;                  /* --log-format k8s-file: the CRI's log lines, not json-file's */
    int adopt_pid;                 /* --adopt: the container's init, already our child */
    int adopt_fds[3];              /* its stdin, stdout, stderr (the pty master for both with a TTY) */
    int ready_fd;                  /* --ready-fd: where --adopt reports, -1 otherwise */
    enum policy policy;
    int max_restarts;              /* on-failure:N, 0: unlimited */
    char **on_exit;                /* NULL-terminated argv of the exit hook */
    const char *health;            /* --health: the probe's config, see probe.h */
    char **on_health;              /* argv of the hook told each new health status */
} opt = { .log_max_files = 1, .adopt_fds = { -1, -1, -1 }, .ready_fd = -1 };

/* One output stream of the container: a pipe (stdout, stderr) or the pty master. */
struct stream {
    int fd, kind;                  /* kind: 1 stdout, 2 stderr (stdcopy's stream byte) */
    size_t len;
    char buf[LINE_BUF];
};

struct client {                    /* a connection to attach.sock */
    int fd;
    bool dead, sent_stdin, write_closed;
    char *out;                     /* output not yet accepted by the socket */
    size_t len, cap;
    struct client *next;
};

struct ctl {                       /* a connection to ctl.sock, until its line arrives */
    int fd;
    bool dead;
    size_t len;
    char line[128];
    struct ctl *next;
};

static struct stream outs[2] = { { .fd = -1, .kind = 1 }, { .fd = -1, .kind = 2 } };
static struct client *clients;
static struct ctl *ctls;
static char stdin_buf[STDIN_BUF];
static size_t stdin_len;
static int stdin_fd = -1;          /* pipe to the container's stdin, or the pty master */
static bool stdin_closing;         /* close stdin_fd once stdin_buf is written */
static int master_fd = -1;
static int devnull = -1, sig_fd = -1, log_fd = -1, attach_lfd = -1, ctl_lfd = -1;
static long long log_size;

static pid_t cpid;                 /* the container's init, 0 while not running */
static int exit_status;
static bool exited, finished, stopped;
static int restart_count;
static long long started_ms, restart_at_ms, backoff_ms;
static char started_at[40];
static int last_code;              /* of the previous run, for a failed restart's exit.json */
static bool last_oom;
static int lock_fd = -1;           /* shim.pid, locked for this shim's life (state_lock) */
static off_t lock_start;

/* Health checks (--health): one probe at a time, results as docker keeps them. */
static struct probe_config probe;
static struct {
    const char *status;            /* starting, healthy, unhealthy */
    int failing_streak;
    pid_t pid;                     /* the running probe, 0 when none */
    int out_fd, err_fd;            /* its output, and why it did not start */
    bool timed_out, reaped;
    int wait_status;
    long long due_ms, deadline_ms, start_ms;
    char start[40];
    char output[HEALTH_OUTPUT];
    size_t len;
    bool truncated;                /* output went past HEALTH_OUTPUT: docker adds "..." */
    struct { char start[40], end[40]; int code; size_t len; char output[HEALTH_ENTRY]; } log[HEALTH_LOG];
    int logged, oldest;            /* a ring: `logged` entries from index `oldest` on */
} health = { .out_fd = -1, .err_fd = -1 };
static void health_arm(void);

/* ---- small helpers ----------------------------------------------------------------- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* RFC 3339 with nanoseconds in UTC, as docker writes timestamps. */
static void rfc3339(char *out, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, size - n, ".%09ldZ", ts.tv_nsec);
}

static void state_path(char *out, const char *name)
{
    snprintf(out, PATH_MAX, "%s/%s", opt.state_dir, name);
}

/* Replace state-dir file `name` in one step, so readers never see half of it. */
static int write_state_file(const char *name, const char *text)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    state_path(path, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, text, strlen(text));
    if (close(fd) < 0 || rc < 0 || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void remove_state_file(const char *name)
{
    char path[PATH_MAX];
    state_path(path, name);
    unlink(path);
}

/* The lock on shim.pid also says what readers would otherwise open two files for
 * (records.running_run): a write lock from byte K + 1 on is "run K (started.json's
 * restart_count) runs and has no exit.json"; a read lock is anything else. It is changed
 * before the files it speaks for: a write lock only once started.json is written, a read
 * lock before exit.json is. A type change on the same range is one step; moving on to a
 * later run locks the new range before unlocking the old one (a reader in between sees the
 * old range's read lock, and reads the files). */
static void state_lock(short type, int run)
{
    off_t start = (off_t)run + 1;
    struct flock l = { .l_type = type, .l_whence = SEEK_SET, .l_start = start };
    if (lock_fd < 0 || fcntl(lock_fd, F_SETLK, &l) < 0)
        return;
    if (start > lock_start) {
        struct flock old = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = lock_start,
                             .l_len = start - lock_start };
        fcntl(lock_fd, F_SETLK, &old);
    }
    lock_start = start;
}

static bool parse_ll(const char *s, long long min, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min)
        return false;
    *out = v;
    return true;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* ---- JSON ---------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (RFC 3629), 0 if invalid. */
static int utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    int len;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;  /* no overlong forms */
        hi = c == 0xED ? 0x9F : 0xBF;  /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if ((size_t)len > n || s[1] < lo || s[1] > hi)
        return 0;
    for (int i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* JSON string body for n bytes of src; dst needs 6*n bytes. Valid UTF-8 is kept, control
 * characters become \uXXXX, invalid bytes U+FFFD (as Go's encoder, docker's, does). */
static size_t json_escape(char *dst, const char *src, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)src;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            dst[k++] = '\\';
            dst[k++] = c;
        } else if (c == '\n') {
            dst[k++] = '\\';
            dst[k++] = 'n';
        } else if (c == '\r') {
            dst[k++] = '\\';
            dst[k++] = 'r';
        } else if (c == '\t') {
            dst[k++] = '\\';
            dst[k++] = 't';
        } else if (c < 0x20) {
            k += sprintf(dst + k, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
        } else if (c < 0x80) {
            dst[k++] = c;
        } else {
            int len = utf8_len(s + i, n - i);
            if (len) {
                memcpy(dst + k, s + i, len);
                k += len;
                i += len - 1;
            } else {
                memcpy(dst + k, "\\ufffd", 6);
                k += 6;
            }
        }
    }
    return k;
}

/* The string value of "key" in a one-line JSON object (a runtime's log line), with the
 * common escapes decoded; false when absent. */
static bool json_string_field(const char *line, const char *key, char *out, size_t size)
{
    char pattern[32];
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    const char *p = strstr(line, pattern);
    if (!p)
        return false;
    p += strlen(pattern);
    p += strspn(p, " \t");
    if (*p++ != ':')
        return false;
    p += strspn(p, " \t");
    if (*p++ != '"')
        return false;
    size_t k = 0;
    for (; *p && *p != '"' && k + 1 < size; p++) {
        char c = *p;
        if (c == '\\' && p[1]) {
            c = *++p;
            if (c == 'n' || c == 't' || c == 'r') {
                c = ' ';                   /* the message is reported as one line */
            } else if (c == 'u') {
                c = '?';                   /* rare in messages: not worth decoding */
                for (int i = 0; i < 4 && p[1]; i++)
                    p++;
            }
        }
        out[k++] = c;
    }
    out[k] = 0;
    return true;
}

/* ---- the json-file log --------------------------------------------------------------- */

static void log_open(int flags)
{
    log_fd = open(opt.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | flags, 0640);
    struct stat st;
    log_size = log_fd >= 0 && fstat(log_fd, &st) == 0 ? st.st_size : 0;
}

/* log -> log.1 -> ... -> log.(N-1), dropping the oldest, then a fresh log. */
static void log_rotate(void)
{
    char from[PATH_MAX + 16], to[PATH_MAX + 16];
    close_fd(&log_fd);
    for (int i = opt.log_max_files - 1; i > 0; i--) {
        if (i == 1)
            snprintf(from, sizeof from, "%s", opt.log_path);
        else
            snprintf(from, sizeof from, "%s.%d", opt.log_path, i - 1);
        snprintf(to, sizeof to, "%s.%d", opt.log_path, i);
        rename(from, to);                  /* a missing file just is not rotated */
    }
    log_open(O_TRUNC);
}

static void log_line(const struct stream *s, const char *data, size_t n)
{
    static char rec[6 * LINE_BUF + 128];
    char when[40];
    if (log_fd < 0)
        return;
    rfc3339(when, sizeof when);
    size_t k;
    if (opt.k8s_log) {                     /* `TIME STREAM F|P LINE`: P for a line cut short */
        bool full = n && data[n - 1] == '\n';
        k = sprintf(rec, "%s %s %c ", when, s->kind == 2 ? "stderr" : "stdout", full ? 'F' : 'P');
        memcpy(rec + k, data, n - full);
        k += n - full;
        rec[k++] = '\n';
    } else {
        k = sprintf(rec, "{\"log\":\"");
        k += json_escape(rec + k, data, n);
        k += sprintf(rec + k, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n",
                     s->kind == 2 ? "stderr" : "stdout", when);
    }
    if (opt.log_max_size && log_size && log_size + (long long)k > opt.log_max_size)
        log_rotate();
    if (log_fd >= 0 && write_all(log_fd, rec, k) == 0)
        log_size += k;
}

/* ---- attach clients ------------------------------------------------------------------ */

static void client_flush(struct client *c)
{
    while (c->len && !c->dead) {
        ssize_t w = send(c->fd, c->out, c->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                c->dead = true;
            return;
        }
        memmove(c->out, c->out + w, c->len - w);
        c->len -= w;
    }
    if (c->len == 0 && c->cap > 4 * LINE_BUF) {  /* give back what a burst needed */
        free(c->out);
        c->out = NULL;
        c->cap = 0;
    }
}

static void client_append(struct client *c, const void *data, size_t n)
{
    if (c->dead)
        return;
    if (c->len + n > CLIENT_MAX) {             /* too slow: never block the container */
        c->dead = true;
        return;
    }
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + n)
            cap *= 2;
        char *out = realloc(c->out, cap);
        if (!out) {
            c->dead = true;
            return;
        }
        c->out = out;
        c->cap = cap;
    }
    memcpy(c->out + c->len, data, n);
    c->len += n;
}

/* Output to every client: stdcopy frames, or the raw bytes of a TTY. */
static void broadcast(int kind, const char *data, size_t n)
{
    unsigned char hdr[8] = { kind, 0, 0, 0, n >> 24, n >> 16, n >> 8, n };
    for (struct client *c = clients; c; c = c->next) {
        if (!opt.tty)
            client_append(c, hdr, sizeof hdr);
        client_append(c, data, n);
        client_flush(c);
    }
}

static void accept_client(void)
{
    int fd = accept4(attach_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct client *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->fd = fd;
    c->next = clients;
    clients = c;
}

/* A run has ended: attached clients get their last output and are let go (sweep closes
 * them), as Docker's attach streams end at each exit, even when the policy restarts it. */
static void end_clients(void)
{
    for (struct client *c = clients; c; c = c->next) {
        /* the last output, with a bound so a stuck client cannot keep the shim */
        struct timeval tv = { .tv_sec = 1 };
        int flags = fcntl(c->fd, F_GETFL);
        if (flags >= 0)
            fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK);
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (c->len)
            send(c->fd, c->out, c->len, MSG_NOSIGNAL);
        c->dead = true;
    }
}

/* ---- container stdio ----------------------------------------------------------------- */

static void stdin_close(void)
{
    if (stdin_fd != master_fd)             /* a TTY's input ends with the pty itself */
        close_fd(&stdin_fd);
    stdin_fd = -1;
    stdin_len = 0;
    stdin_closing = false;
}

static void stdin_flush(void)
{
    while (stdin_len && stdin_fd >= 0) {
        ssize_t w = write(stdin_fd, stdin_buf, stdin_len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                stdin_close();             /* the container stopped reading */
            return;
        }
        memmove(stdin_buf, stdin_buf + w, stdin_len - w);
        stdin_len -= w;
    }
    if (stdin_closing && stdin_len == 0)
        stdin_close();
}

/* A client's end of input closes the container's stdin unless another connected client
 * has written input and not yet ended it (StdinOnce, with any number of viewers). */
static void client_input_ended(struct client *c)
{
    c->write_closed = true;
    if (!opt.stdin_open || opt.tty || stdin_fd < 0)
        return;
    for (struct client *o = clients; o; o = o->next)
        if (o != c && !o->dead && o->sent_stdin && !o->write_closed)
            return;
    stdin_closing = true;
    stdin_flush();
}

static void client_read(struct client *c)
{
    char scratch[4096];
    bool keep = opt.stdin_open && stdin_fd >= 0 && !stdin_closing;
    char *dst = keep ? stdin_buf + stdin_len : scratch;
    size_t room = keep ? sizeof stdin_buf - stdin_len : sizeof scratch;
    ssize_t n = recv(c->fd, dst, room, MSG_DONTWAIT);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            c->dead = true;
        return;
    }
    if (n > 0) {
        if (keep) {
            stdin_len += n;
            c->sent_stdin = true;
            stdin_flush();
        }
        return;
    }
    /* EOF: a half-close (shutdown of the client's write side) ends its input; a full
     * close (POLLHUP) just detaches it. */
    struct pollfd p = { .fd = c->fd, .events = POLLIN };
    if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)))
        c->dead = true;
    else
        client_input_ended(c);
}

static void stream_close(struct stream *s)
{
    if (s->len)
        log_line(s, s->buf, s->len);
    s->len = 0;
    if (s->fd == master_fd) {
        if (stdin_fd == master_fd)
            stdin_fd = -1;
        master_fd = -1;
    }
    close_fd(&s->fd);
}

/* Read what the container wrote: to clients as it comes, to the log line by line. */
static void stream_read(struct stream *s)
{
    ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {                          /* EOF, or EIO once a pty's slave is gone */
        stream_close(s);
        return;
    }
    broadcast(s->kind, s->buf + s->len, n);
    s->len += n;
    char *start = s->buf, *end = s->buf + s->len, *nl;
    while ((nl = memchr(start, '\n', end - start))) {
        log_line(s, start, nl + 1 - start);
        start = nl + 1;
    }
    size_t rest = end - start;
    if (rest == sizeof s->buf) {
        log_line(s, start, rest);
        rest = 0;
    }
    memmove(s->buf, start, rest);
    s->len = rest;
}

/* After the container's end: read its output until every writer is gone. */
static void drain_outputs(void)
{
    long long deadline = now_ms() + DRAIN_MS;
    for (;;) {
        struct pollfd p[2];
        int n = 0;
        for (int i = 0; i < 2; i++)
            if (outs[i].fd >= 0)
                p[n++] = (struct pollfd){ .fd = outs[i].fd, .events = POLLIN };
        long long left = deadline - now_ms();
        if (n == 0 || left <= 0 || poll(p, n, left) <= 0)
            break;
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < n; j++)
                if (outs[i].fd == p[j].fd && p[j].revents)
                    stream_read(&outs[i]);
    }
    for (int i = 0; i < 2; i++)
        if (outs[i].fd >= 0)
            stream_close(&outs[i]);
    stdin_close();
}

static int set_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* ---- the runtime --------------------------------------------------------------------- */

/* The child side of every fork: signals as a fresh process has them. */
/* The last error the runtime logged (runc, crun and dockyard-runtime log JSON lines). */
static void runtime_error(char *msg, size_t size)
{
    char path[PATH_MAX], buf[8192];
    state_path(path, "runtime.log");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t end = lseek(fd, 0, SEEK_END);
    ssize_t n = pread(fd, buf, sizeof buf - 1, end > (off_t)sizeof buf - 1 ? end - (off_t)sizeof buf + 1 : 0);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = 0;
    char level[16], text[1024];
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        if (json_string_field(line, "level", level, sizeof level) &&
            (!strcmp(level, "error") || !strcmp(level, "fatal")) &&
            json_string_field(line, "msg", text, sizeof text))
            snprintf(msg, size, "%s", text);
}

/* Run `<runtime> [--root R] --log L --log-format json ARGS...` with the given stdio;
 * 0 on success, else -1 with the runtime's error in msg. */
static int run_runtime(const char *const *args, int in, int out, int err, char *msg, size_t size)
{
    const char *argv[16], *command = args[0];
    char logp[PATH_MAX];
    int n = 0;
    state_path(logp, "runtime.log");
    unlink(logp);
    argv[n++] = opt.runtime;
    if (opt.runtime_root) {
        argv[n++] = "--root";
        argv[n++] = opt.runtime_root;
    }
    argv[n++] = "--log";
    argv[n++] = logp;
    argv[n++] = "--log-format";
    argv[n++] = "json";
    while (*args)
        argv[n++] = *args++;
    argv[n] = NULL;

    pid_t pid = fork();
    if (pid < 0) {
        snprintf(msg, size, "cannot fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        reset_signals();
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(127);
        execv(opt.runtime, (char **)argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            snprintf(msg, size, "cannot wait for the runtime: %s", strerror(errno));
            return -1;
        }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFEXITED(st))
        snprintf(msg, size, "%s %s failed with status %d", opt.runtime, command, WEXITSTATUS(st));
    else
        snprintf(msg, size, "%s %s was killed by signal %d", opt.runtime, command, WTERMSIG(st));
    runtime_error(msg, size);
    return -1;
}

/* The OOM kill counter of the container's cgroup: the `oom_kill N` line of v1's
 * memory.oom_control or v2's memory.events; 0 when unknown. */
static long long oom_kills(void)
{
    char buf[1024];
    long long count = 0;
    if (!opt.oom_file)
        return 0;
    int fd = open(opt.oom_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        if (!strncmp(line, "oom_kill ", 9))
            parse_ll(line + 9, 0, &count);
    return count;
}

/* Receive the pty master the runtime sends over the console socket (SCM_RIGHTS). */
static int receive_master(int lfd, char *msg, size_t size)
{
    int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0) {
        snprintf(msg, size, "the runtime did not connect to the console socket");
        return -1;
    }
    char data[256], control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { data, sizeof data };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = control, .msg_controllen = sizeof control };
    ssize_t n = recvmsg(conn, &m, MSG_CMSG_CLOEXEC);
    close(conn);
    struct cmsghdr *cm = n >= 0 ? CMSG_FIRSTHDR(&m) : NULL;
    if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
        snprintf(msg, size, "the runtime sent no pty master over the console socket");
        return -1;
    }
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    return fd;
}

static int listen_unix(const char *name)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s/%s", opt.state_dir, name);
    unlink(addr.sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 64) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void kill_and_delete(pid_t pid)
{
    char ignored[64];
    const char *del[] = { "delete", "-f", opt.id, NULL };
    if (pid > 0 && kill(pid, SIGKILL) == 0)
        waitpid(pid, NULL, 0);
    run_runtime(del, devnull, devnull, devnull, ignored, sizeof ignored);
}

/* --adopt: the container that the process which exec'd us created and started; its init
 * is our child, its stdio the descriptors given. Sets cpid, as start_container does. */
static int adopt_container(char *msg, size_t size)
{
    int *fd = opt.adopt_fds;
    for (int i = 0; i < 3; i++)
        if (fd[i] >= 0 && (set_nonblock(fd[i]) < 0 || fcntl(fd[i], F_SETFD, FD_CLOEXEC) < 0)) {
            snprintf(msg, size, "cannot set up the container's stdio: %s", strerror(errno));
            kill_and_delete(opt.adopt_pid);
            return -1;
        }
    if (opt.tty) {
        master_fd = outs[0].fd = fd[1];
        stdin_fd = opt.stdin_open ? master_fd : -1;
    } else {
        outs[0].fd = fd[1];
        outs[1].fd = fd[2];
        stdin_fd = opt.stdin_open ? fd[0] : -1;
    }
    return opt.adopt_pid;
}

/* run --detach with fresh stdio (the first time with --adopt: the container given); sets
 * cpid. -1 with msg when the container did not start. */
static int start_container(bool first, char *msg, size_t size)
{
    char pidfile[PATH_MAX], console[PATH_MAX];
    int child[3] = { devnull, devnull, devnull };   /* the runtime's (and container's) stdio */
    int p[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
    int console_lfd = -1, rc = -1;
    state_path(pidfile, "container.pid");
    state_path(console, "console.sock");
    unlink(pidfile);

    /* `run --detach` is create + start in one runtime process: each runtime invocation
     * costs tens of ms, and nothing needs to happen between the two. A foreground `run`
     * that must not miss output is held before it instead, until its client attached (an
     * adopted container already runs: its output waits in the pipes until then). */
    if (first && opt.wait_attach) {
        struct pollfd w = { .fd = attach_lfd, .events = POLLIN };
        if (poll(&w, 1, WAIT_ATTACH_MS) == 1)
            accept_client();
    }
    long long pid = 0;
    if (first && opt.adopt_pid) {
        if ((pid = adopt_container(msg, size)) < 0)
            return -1;
        goto running;
    }
    const char *create[] = { "run", "--detach", "--bundle", opt.bundle, "--pid-file", pidfile,
                             opt.id, NULL, NULL, NULL };
    if (opt.tty) {
        create[6] = "--console-socket";
        create[7] = console;
        create[8] = opt.id;
        if ((console_lfd = listen_unix("console.sock")) < 0) {
            snprintf(msg, size, "cannot listen on console.sock: %s", strerror(errno));
            return -1;
        }
    } else {
        for (int i = opt.stdin_open ? 0 : 1; i < 3; i++) {
            if (pipe2(p[i], O_CLOEXEC) < 0) {
                snprintf(msg, size, "cannot create a pipe: %s", strerror(errno));
                goto out;
            }
            child[i] = p[i][i == 0 ? 0 : 1];
        }
    }
    if (run_runtime(create, child[0], child[1], child[2], msg, size) < 0)
        goto out;

    char text[32] = "";
    int fd = open(pidfile, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n > 0)
        text[n] = 0;
    text[strcspn(text, "\n")] = 0;
    if (n <= 0 || !parse_ll(text, 1, &pid) || pid > INT_MAX) {
        snprintf(msg, size, "the runtime wrote no container pid");
        kill_and_delete(0);
        goto out;
    }
    if (opt.tty) {
        if ((master_fd = receive_master(console_lfd, msg, size)) < 0 || set_nonblock(master_fd) < 0) {
            close_fd(&master_fd);
            kill_and_delete(pid);
            goto out;
        }
        outs[0].fd = master_fd;
        stdin_fd = opt.stdin_open ? master_fd : -1;
    } else {
        if (set_nonblock(p[1][0]) < 0 || set_nonblock(p[2][0]) < 0 ||
            (opt.stdin_open && set_nonblock(p[0][1]) < 0)) {
            snprintf(msg, size, "cannot set up the container's stdio: %s", strerror(errno));
            kill_and_delete(pid);
            goto out;
        }
        outs[0].fd = p[1][0];
        outs[1].fd = p[2][0];
        p[1][0] = p[2][0] = -1;
        if (opt.stdin_open) {
            stdin_fd = p[0][1];
            p[0][1] = -1;
        }
    }
running:
    cpid = pid;
    started_ms = now_ms();
    rfc3339(started_at, sizeof started_at);
    char json[160];
    snprintf(json, sizeof json, "{\"pid\": %d, \"started_at\": \"%s\", \"restart_count\": %d, "
             "\"last_exit_code\": %d}\n", cpid, started_at, restart_count, last_code);
    write_state_file("started.json", json);   /* on failure `status` still tells */
    state_lock(F_WRLCK, restart_count);
    health_arm();
    rc = 0;
out:
    for (int i = 0; i < 3; i++) {
        close_fd(&p[i][0]);
        close_fd(&p[i][1]);
    }
    if (console_lfd >= 0) {
        close(console_lfd);
        unlink(console);
    }
    return rc;
}

/* ---- health checks -------------------------------------------------------------------- */

/* health.json: docker's State.Health of this run (the engine adds earlier runs' log). */
static void write_health(void)
{
    static char esc[6 * HEALTH_ENTRY];
    char path[PATH_MAX], tmp[PATH_MAX + 8], head[256];
    state_path(path, "health.json");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    int n = snprintf(head, sizeof head, "{\"Status\": \"%s\", \"FailingStreak\": %d, \"Log\": [",
                     health.status, health.failing_streak);
    int rc = write_all(fd, head, n);
    for (int i = 0; i < health.logged && rc == 0; i++) {
        typeof(*health.log) *e = &health.log[(health.oldest + i) % HEALTH_LOG];
        n = snprintf(head, sizeof head, "%s{\"Start\": \"%s\", \"End\": \"%s\", \"ExitCode\": %d, \"Output\": \"",
                     i ? ", " : "", e->start, e->end, e->code);
        size_t k = json_escape(esc, e->output, e->len);
        rc = write_all(fd, head, n) || write_all(fd, esc, k) || write_all(fd, "\"}", 2);
    }
    if (rc == 0)
        rc = write_all(fd, "]}\n", 3);
    if (close(fd) < 0 || rc < 0 || rename(tmp, path) < 0)
        unlink(tmp);
}

/* The wait before the next probe, as docker's monitor decides it: the interval once the start
 * period is over; within it, no later than its end, and start_interval while starting. */
static long long health_interval(void)
{
    long long left = probe.start_period_ms - (now_ms() - started_ms);
    if (left <= 0)
        return probe.interval_ms;
    if (left < probe.interval_ms)
        return left;
    return strcmp(health.status, "starting") ? probe.interval_ms : probe.start_interval_ms;
}

/* A container (re)started: docker's health monitor starts over, keeping the log. */
static void health_arm(void)
{
    if (!opt.health)
        return;
    health.status = "starting";
    health.failing_streak = 0;
    health.due_ms = now_ms() + health_interval();
    write_health();
}

/* Docker's handleProbeResult: exit 0 is healthy; a failure counts towards Retries unless the
 * container is still starting within its start period. */
static void health_record(int code, const char *output, size_t len)
{
    typeof(*health.log) *e = &health.log[(health.oldest + health.logged) % HEALTH_LOG];
    if (health.logged == HEALTH_LOG)
        health.oldest = (health.oldest + 1) % HEALTH_LOG;   /* the oldest result makes room */
    else
        health.logged++;
    memcpy(e->start, health.start, sizeof e->start);
    rfc3339(e->end, sizeof e->end);
    e->code = code;
    e->len = len < HEALTH_ENTRY ? len : HEALTH_ENTRY;
    memcpy(e->output, output, e->len);
    const char *was = health.status;
    if (code == 0) {
        health.failing_streak = 0;
        health.status = "healthy";
    } else if (strcmp(health.status, "starting") || health.start_ms - started_ms >= probe.start_period_ms) {
        if (++health.failing_streak >= probe.retries)
            health.status = "unhealthy";
    }
    write_health();
    if (strcmp(was, health.status) && opt.on_health)
        run_hook(opt.hook_socket, opt.on_health, health.status);
    health.due_ms = now_ms() + health_interval();
}

static void health_read(void)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(health.out_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0 || errno != EAGAIN)
                close_fd(&health.out_fd);
            return;
        }
        size_t keep = sizeof health.output - health.len;
        keep = (size_t)n < keep ? (size_t)n : keep;
        memcpy(health.output + health.len, buf, keep);
        health.len += keep;
        health.truncated |= keep < (size_t)n;
    }
}

static void health_start_probe(void)
{
    int out[2] = { -1, -1 }, err[2] = { -1, -1 };
    char msg[256];
    health.len = 0;
    health.timed_out = health.reaped = health.truncated = false;
    health.start_ms = now_ms();
    rfc3339(health.start, sizeof health.start);
    pid_t pid = -1;
    if (pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0)
        pid = probe_spawn(&probe, cpid, (int[3]){ devnull, out[1], out[1] }, err[1]);
    int e = errno;
    close_fd(&out[1]);
    close_fd(&err[1]);
    if (pid < 0 || set_nonblock(out[0]) < 0 || set_nonblock(err[0]) < 0) {
        close_fd(&out[0]);
        close_fd(&err[0]);
        int n = snprintf(msg, sizeof msg, "cannot start the health probe: %s", strerror(e));
        health_record(-1, msg, n);
        return;
    }
    health.pid = pid;
    health.out_fd = out[0];
    health.err_fd = err[0];
    health.deadline_ms = health.start_ms + probe.timeout_ms;
}

/* The probe was reaped: its result, or why it did not start, or that it timed out. */
static void health_finish(void)
{
    char why[1024], text[HEALTH_ENTRY];
    if (health.out_fd >= 0)
        health_read();
    close_fd(&health.out_fd);
    ssize_t n = read(health.err_fd, why, sizeof why - 1);
    close_fd(&health.err_fd);
    health.pid = 0;
    int st = health.wait_status;
    if (n > 0) {
        health_record(-1, why, n);
        return;
    }
    /* docker's output: "..." after one that overflowed; a timeout's words before it */
    size_t k = 0;
    if (health.timed_out) {
        int w = snprintf(text, 120, health.len ? "%s: " : "%s", probe.timeout_text);
        k = w < 0 ? 0 : w < 120 ? (size_t)w : 119;
    }
    memcpy(text + k, health.output, health.len);
    k += health.len;
    if (health.truncated) {
        memcpy(text + k, "...", 3);
        k += 3;
    }
    health_record(health.timed_out ? -1 : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st), text, k);
}

static void health_kill(void)
{
    kill(-health.pid, SIGKILL);                /* the probe leads its process group */
    kill(health.pid, SIGKILL);
}

/* Whether the container is paused (its freezer cgroup frozen): a probe would freeze too. */
static bool container_frozen(void)
{
    for (char **dir = probe.cgroups; dir && *dir; dir++) {
        char path[PATH_MAX], state[16] = "";
        for (int v2 = 0; v2 < 2; v2++) {
            snprintf(path, sizeof path, "%s/%s", *dir, v2 ? "cgroup.freeze" : "freezer.state");
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
            ssize_t n = read(fd, state, sizeof state - 1);
            close(fd);
            state[n > 0 ? n : 0] = 0;
            if (v2 ? state[0] == '1' : strncmp(state, "THAWED", 6) != 0)
                return true;
        }
    }
    return false;
}

/* Called every round of the loop: start the probe that is due (none while the container is
 * paused), end the one past its timeout, record the one that ended. */
static void health_tick(void)
{
    if (!opt.health || !cpid)
        return;
    if (health.pid && health.reaped)
        health_finish();
    else if (health.pid && !health.timed_out && now_ms() >= health.deadline_ms) {
        health_kill();
        health.timed_out = true;
    }
    if (!health.pid && now_ms() >= health.due_ms) {
        if (container_frozen()) {              /* docker stops the monitor of a paused container */
            if (strcmp(health.status, "unhealthy")) {
                health.status = "unhealthy";   /* which leaves it unhealthy, with no event */
                write_health();
            }
            health.due_ms = now_ms() + probe.interval_ms;
        } else {
            health_start_probe();
        }
    }
}

/* Milliseconds until health_tick has work, -1: none. */
static int health_wait(void)
{
    if (!opt.health || !cpid)
        return -1;
    if (health.pid && (health.reaped || health.timed_out))
        return health.reaped ? 0 : -1;
    long long left = (health.pid ? health.deadline_ms : health.due_ms) - now_ms();
    return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* The container ended: no probe runs until it starts again, and docker reports a container
 * whose monitor stopped as unhealthy. */
static void health_stop(void)
{
    if (!opt.health)
        return;
    if (health.pid) {
        if (!health.reaped) {
            health_kill();
            waitpid(health.pid, NULL, 0);
        }
        close_fd(&health.out_fd);
        close_fd(&health.err_fd);
        health.pid = 0;
    }
    health.status = "unhealthy";
    write_health();
}

/* ---- exit and restart ---------------------------------------------------------------- */

/* exit.json; `final`: the restart policy will not run the container again (the engine may
 * then record the exit without waiting for this shim to end and run the exit hook) */
static void write_exit(int code, bool oom, bool final, const char *error)
{
    char when[40], json[6 * 1024 + 256], esc[6 * 1024];
    state_lock(F_RDLCK, restart_count);
    rfc3339(when, sizeof when);
    int k = snprintf(json, sizeof json,
                     "{\"exit_code\": %d, \"oom_killed\": %s, \"finished_at\": \"%s\", \"restart_count\": %d, "
                     "\"final\": %s",
                     code, oom ? "true" : "false", when, restart_count, final ? "true" : "false");
    if (error) {
        size_t n = strnlen(error, 1024);
        esc[json_escape(esc, error, n)] = 0;
        k += snprintf(json + k, sizeof json - k, ", \"error\": \"%s\"", esc);
    }
    snprintf(json + k, sizeof json - k, "}\n");
    write_state_file("exit.json", json);
}

static bool user_stopped(void)
{
    char path[PATH_MAX];
    state_path(path, "stopped");
    return stopped || access(path, F_OK) == 0;
}

static void on_container_exit(void)
{
    char ignored[64];
    const char *del[] = { "delete", "-f", opt.id, NULL };
    int code = WIFSIGNALED(exit_status) ? 128 + WTERMSIG(exit_status) : WEXITSTATUS(exit_status);
    health_stop();
    /* read before delete removes the cgroup; each run gets a fresh cgroup (delete removed the
     * last one), so every OOM kill counted there is this run's, however early it came */
    bool oom = oom_kills() > 0;
    long long ran = now_ms() - started_ms;
    cpid = 0;
    exited = false;

    bool again;
    switch (opt.policy) {
    case RESTART_ON_FAILURE:
        again = code != 0 && (opt.max_restarts == 0 || restart_count < opt.max_restarts);
        break;
    case RESTART_ALWAYS:
    case RESTART_UNLESS_STOPPED:
        again = true;
        break;
    default:
        again = false;
    }
    again = again && !user_stopped();
    /* a restart needs the id free; after the last run, --keep-after-exit leaves the delete to
     * the engine, which does it without a runtime process for dockyard's own runtime */
    if (again || !opt.keep_after_exit)
        run_runtime(del, devnull, devnull, devnull, ignored, sizeof ignored);
    drain_outputs();                           /* exit.json appears once the log is complete */
    write_exit(code, oom, !again, NULL);
    if (again) {
        end_clients();
        if (opt.on_exit)                       /* the engine logs the `die` now, not at our end */
            run_hook(opt.hook_socket, opt.on_exit, "restart");
    }
    last_code = code;
    last_oom = oom;
    if (!again) {
        finished = true;
        return;
    }
    backoff_ms = ran >= BACKOFF_RESET_MS || backoff_ms == 0 ? BACKOFF_MIN_MS
               : backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
    restart_at_ms = now_ms() + backoff_ms;
}

static void restart(void)
{
    char msg[1024];
    restart_at_ms = 0;
    remove_state_file("exit.json");
    restart_count++;
    if (start_container(false, msg, sizeof msg) < 0) {
        write_exit(last_code, last_oom, true, msg);
        finished = true;
    } else if (opt.on_exit) {                  /* and the `start` */
        run_hook(opt.hook_socket, opt.on_exit, "restart");
    }
}

static void reap(void)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
        if (pid == cpid) {
            exit_status = st;
            exited = true;
        } else if (pid == health.pid && pid) {
            health.wait_status = st;
            health.reaped = true;
        }
}

/* ---- control socket ------------------------------------------------------------------ */

static void ctl_command(struct ctl *c)
{
    char reply[256] = "ok", *rest;
    char *cmd = strtok_r(c->line, " \r\n", &rest);
    char *arg1 = strtok_r(NULL, " \r\n", &rest);
    char *arg2 = strtok_r(NULL, " \r\n", &rest);
    long long rows, cols, sig;
    if (!cmd) {
        snprintf(reply, sizeof reply, "error empty command");
    } else if (!strcmp(cmd, "resize")) {
        if (!arg1 || !arg2 || !parse_ll(arg1, 0, &rows) || !parse_ll(arg2, 0, &cols) ||
            rows > 65535 || cols > 65535) {
            snprintf(reply, sizeof reply, "error usage: resize ROWS COLS");
        } else if (master_fd < 0) {
            snprintf(reply, sizeof reply, "error the container has no running TTY");
        } else {
            struct winsize ws = { .ws_row = rows, .ws_col = cols };
            if (ioctl(master_fd, TIOCSWINSZ, &ws) < 0)
                snprintf(reply, sizeof reply, "error resize: %s", strerror(errno));
        }
    } else if (!strcmp(cmd, "stop")) {
        stopped = true;
        if (restart_at_ms)                     /* waiting to restart: that is now off */
            finished = true;
    } else if (!strcmp(cmd, "kill")) {
        if (!arg1 || !parse_ll(arg1, 1, &sig) || sig > 64)
            snprintf(reply, sizeof reply, "error usage: kill SIGNAL-NUMBER");
        else if (cpid == 0)
            snprintf(reply, sizeof reply, "error the container is not running");
        else if (kill(cpid, sig) < 0)
            snprintf(reply, sizeof reply, "error kill: %s", strerror(errno));
    } else if (!strcmp(cmd, "reopen-log")) {  /* the log was moved away (rotated by its reader) */
        close_fd(&log_fd);
        log_open(0);
        if (log_fd < 0)
            snprintf(reply, sizeof reply, "error reopen %s: %s", opt.log_path, strerror(errno));
    } else if (!strcmp(cmd, "status")) {
        snprintf(reply, sizeof reply, "{\"pid\": %d, \"restart_count\": %d, \"started_at\": \"%s\"}",
                 cpid, restart_count, started_at);
    } else {
        snprintf(reply, sizeof reply, "error unknown command %.32s", cmd);
    }
    strcat(reply, "\n");
    send(c->fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
    c->dead = true;
}

static void ctl_read(struct ctl *c)
{
    ssize_t n = recv(c->fd, c->line + c->len, sizeof c->line - 1 - c->len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        c->dead = true;
        return;
    }
    c->len += n;
    c->line[c->len] = 0;
    if (memchr(c->line, '\n', c->len) || c->len == sizeof c->line - 1)
        ctl_command(c);
}

static void accept_ctl(void)
{
    int fd = accept4(ctl_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct ctl *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->fd = fd;
    c->next = ctls;
    ctls = c;
}

static void sweep(void)
{
    for (struct client **pp = &clients; *pp;) {
        struct client *c = *pp;
        if (c->dead) {
            *pp = c->next;
            close(c->fd);
            free(c->out);
            free(c);
        } else {
            pp = &c->next;
        }
    }
    for (struct ctl **pp = &ctls; *pp;) {
        struct ctl *c = *pp;
        if (c->dead) {
            *pp = c->next;
            close(c->fd);
            free(c);
        } else {
            pp = &c->next;
        }
    }
}

/* ---- the event loop ------------------------------------------------------------------ */

enum { E_SIG, E_ATTACH, E_CTL, E_OUT, E_STDIN, E_CLIENT, E_CTLCONN, E_PROBE };

static void handle_signals(void)
{
    struct signalfd_siginfo si;
    while (read(sig_fd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGCHLD) {
            reap();
        } else if (cpid > 0) {
            kill(cpid, si.ssi_signo);          /* SIGTERM, SIGINT: for the container */
        } else {
            stopped = finished = true;         /* between runs: do not restart */
        }
    }
}

static void loop(void)
{
    struct pollfd *pfd = NULL;
    struct { int kind; void *ptr; } *what = NULL;
    size_t room = 0;
    while (!finished) {
        if (exited) {
            on_container_exit();
            continue;
        }
        if (restart_at_ms && now_ms() >= restart_at_ms) {
            restart();
            continue;
        }
        health_tick();
        size_t need = 7, n = 0;
        for (struct client *c = clients; c; c = c->next)
            need++;
        for (struct ctl *c = ctls; c; c = c->next)
            need++;
        if (need > room) {
            room = need * 2;
            void *a = realloc(pfd, room * sizeof *pfd), *b = realloc(what, room * sizeof *what);
            if (a)
                pfd = a;
            if (b)
                what = b;
            if (!a || !b) {                    /* out of memory: wait and try again */
                room = 0;
                poll(NULL, 0, 100);
                continue;
            }
        }
#define WATCH(f, ev, k, p) (pfd[n] = (struct pollfd){ .fd = (f), .events = (ev) }, \
                            what[n].kind = (k), what[n].ptr = (p), n++)
        WATCH(sig_fd, POLLIN, E_SIG, NULL);
        WATCH(attach_lfd, POLLIN, E_ATTACH, NULL);
        WATCH(ctl_lfd, POLLIN, E_CTL, NULL);
        for (int i = 0; i < 2; i++)
            if (outs[i].fd >= 0)
                WATCH(outs[i].fd, POLLIN, E_OUT, &outs[i]);
        if (stdin_fd >= 0 && stdin_len)
            WATCH(stdin_fd, POLLOUT, E_STDIN, NULL);
        if (health.out_fd >= 0)
            WATCH(health.out_fd, POLLIN, E_PROBE, NULL);
        for (struct client *c = clients; c; c = c->next) {
            short ev = (c->write_closed || stdin_len == sizeof stdin_buf ? 0 : POLLIN) |
                       (c->len ? POLLOUT : 0);
            WATCH(c->fd, ev, E_CLIENT, c);
        }
        for (struct ctl *c = ctls; c; c = c->next)
            WATCH(c->fd, POLLIN, E_CTLCONN, c);
#undef WATCH
        int timeout = health_wait();
        if (restart_at_ms) {
            long long left = restart_at_ms - now_ms();
            int wait = left > 0 ? (int)left : 0;
            timeout = timeout < 0 || wait < timeout ? wait : timeout;
        }
        if (poll(pfd, n, timeout) < 0 && errno != EINTR)
            break;
        for (size_t i = 0; i < n; i++) {
            short re = pfd[i].revents;
            if (!re)
                continue;
            /* an earlier entry of this round may have closed this one's fd */
            switch (what[i].kind) {
            case E_SIG: handle_signals(); break;
            case E_ATTACH: accept_client(); break;
            case E_CTL: accept_ctl(); break;
            case E_OUT:
                if (((struct stream *)what[i].ptr)->fd == pfd[i].fd)
                    stream_read(what[i].ptr);
                break;
            case E_STDIN:
                if (stdin_fd == pfd[i].fd)
                    stdin_flush();
                break;
            case E_CLIENT: {
                struct client *c = what[i].ptr;
                if (c->dead)
                    break;
                if (re & POLLIN)
                    client_read(c);
                else if (re & (POLLHUP | POLLERR))
                    c->dead = true;
                if (re & POLLOUT)
                    client_flush(c);
                break;
            }
            case E_CTLCONN: ctl_read(what[i].ptr); break;
            case E_PROBE:
                if (health.out_fd == pfd[i].fd)
                    health_read();
                break;
            }
        }
        sweep();
    }
    free(pfd);
    free(what);
}

/* ---- start-up and shut-down ---------------------------------------------------------- */

static void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("dockyard-shim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n", stderr);
    va_end(ap);
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    static char *hook[64], *health_hook[64];
    int nhook = 0, nhealth = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        if (!strcmp(a, "--tty")) {
            opt.tty = true;
            continue;
        }
        if (!strcmp(a, "--stdin")) {
            opt.stdin_open = true;
            continue;
        }
        if (!strcmp(a, "--wait-attach")) {
            opt.wait_attach = true;
            continue;
        }
        if (!strcmp(a, "--keep-after-exit")) {
            opt.keep_after_exit = true;
            continue;
        }
        if (i + 1 >= argc)
            usage_error("%s needs a value (or is unknown)", a);
        const char *val = argv[++i];
        if (!strcmp(a, "--id"))
            opt.id = val;
        else if (!strcmp(a, "--bundle"))
            opt.bundle = val;
        else if (!strcmp(a, "--state-dir"))
            opt.state_dir = val;
        else if (!strcmp(a, "--runtime"))
            opt.runtime = val;
        else if (!strcmp(a, "--runtime-root"))
            opt.runtime_root = val;
        else if (!strcmp(a, "--log-path"))
            opt.log_path = val;
        else if (!strcmp(a, "--log-format")) {
            if (strcmp(val, "json-file") && strcmp(val, "k8s-file"))
                usage_error("--log-format must be json-file or k8s-file, not %s", val);
            opt.k8s_log = !strcmp(val, "k8s-file");
        }
        else if (!strcmp(a, "--oom-file"))
            opt.oom_file = val;
        else if (!strcmp(a, "--foreground-lock"))
            opt.foreground_lock = val;
        else if (!strcmp(a, "--hook-socket"))
            opt.hook_socket = val;
        else if (!strcmp(a, "--health"))
            opt.health = val;
        else if (!strcmp(a, "--log-max-size")) {
            if (!parse_ll(val, 0, &opt.log_max_size))
                usage_error("--log-max-size must be a number of bytes, not %s", val);
        } else if (!strcmp(a, "--log-max-files")) {
            if (!parse_ll(val, 1, &v) || v > 1000)
                usage_error("--log-max-files must be a number from 1 to 1000, not %s", val);
            opt.log_max_files = v;
        } else if (!strcmp(a, "--restart")) {
            if (!strcmp(val, "no"))
                opt.policy = RESTART_NO;
            else if (!strcmp(val, "always"))
                opt.policy = RESTART_ALWAYS;
            else if (!strcmp(val, "unless-stopped"))
                opt.policy = RESTART_UNLESS_STOPPED;
            else if (!strcmp(val, "on-failure"))
                opt.policy = RESTART_ON_FAILURE;
            else if (!strncmp(val, "on-failure:", 11) && parse_ll(val + 11, 0, &v) && v < INT_MAX) {
                opt.policy = RESTART_ON_FAILURE;
                opt.max_restarts = v;
            } else
                usage_error("invalid --restart %s: use no, always, unless-stopped or on-failure[:N]", val);
        } else if (!strcmp(a, "--adopt")) {
            if (!parse_ll(val, 2, &v) || v > INT_MAX)
                usage_error("--adopt needs the container's pid, not %s", val);
            opt.adopt_pid = v;
        } else if (!strcmp(a, "--adopt-fds")) {
            char copy[64], *rest = copy, *part;
            snprintf(copy, sizeof copy, "%s", val);
            for (int k = 0; k < 3; k++) {
                part = strsep(&rest, ",");
                if (!part || !parse_ll(part, -1, &v) || v > INT_MAX || (k == 2 && rest))
                    usage_error("--adopt-fds needs STDIN,STDOUT,STDERR descriptors (-1: none), not %s", val);
                opt.adopt_fds[k] = v;
            }
        } else if (!strcmp(a, "--ready-fd")) {
            if (!parse_ll(val, 3, &v) || v > INT_MAX)
                usage_error("--ready-fd needs a descriptor, not %s", val);
            opt.ready_fd = v;
        } else if (!strcmp(a, "--on-exit-arg")) {
            if (nhook == 63)
                usage_error("too many --on-exit-arg");
            hook[nhook++] = (char *)val;
            opt.on_exit = hook;
        } else if (!strcmp(a, "--on-health-arg")) {
            if (nhealth == 63)
                usage_error("too many --on-health-arg");
            health_hook[nhealth++] = (char *)val;
            opt.on_health = health_hook;
        } else
            usage_error("unknown option %s", a);
    }
    const char *required[][2] = { { "--id", opt.id }, { "--bundle", opt.bundle },
                                  { "--state-dir", opt.state_dir }, { "--runtime", opt.runtime },
                                  { "--log-path", opt.log_path } };
    for (size_t i = 0; i < sizeof required / sizeof *required; i++)
        if (!required[i][1] || !*required[i][1])
            usage_error("%s is required", required[i][0]);
    if (strchr(opt.id, '/'))
        usage_error("invalid container id %s", opt.id);
    if (opt.adopt_pid && (opt.ready_fd < 0 || opt.adopt_fds[1] < 0))
        usage_error("--adopt needs --ready-fd and --adopt-fds with a stdout");
    const char *paths[][2] = { { "--bundle", opt.bundle }, { "--state-dir", opt.state_dir },
                               { "--runtime", opt.runtime }, { "--log-path", opt.log_path },
                               { "--runtime-root", opt.runtime_root }, { "--oom-file", opt.oom_file },
                               { "--foreground-lock", opt.foreground_lock }, { "--health", opt.health },
                               { "--hook-socket", opt.hook_socket } };
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)   /* the daemon runs in / */
        if (paths[i][1] && paths[i][1][0] != '/')
            usage_error("%s must be an absolute path, not %s", paths[i][0], paths[i][1]);
    struct stat st;
    if (stat(opt.state_dir, &st) < 0 || !S_ISDIR(st.st_mode))
        usage_error("state dir %s is not a directory", opt.state_dir);
    if (stat(opt.bundle, &st) < 0 || !S_ISDIR(st.st_mode))
        usage_error("bundle %s is not a directory", opt.bundle);
    if (access(opt.runtime, X_OK) < 0)
        usage_error("runtime %s is not executable", opt.runtime);
    if (strlen(opt.state_dir) + sizeof "/console.sock" > sizeof(((struct sockaddr_un *)0)->sun_path))
        usage_error("state dir path %s is too long for a unix socket", opt.state_dir);
}

/* shim.pid holds "PID STARTTIME": the start time (from /proc) tells a reused pid apart. */
static int write_pid_file(void)
{
    char stat[1024], text[64];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, stat, sizeof stat - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return -1;
    stat[n] = 0;
    char *p = strrchr(stat, ')');
    for (int field = 2; p && field < 22; field++)  /* starttime is field 22 */
        p = strchr(p + 1, ' ');
    if (!p)
        return -1;
    snprintf(text, sizeof text, "%d %lld\n", getpid(), strtoll(p + 1, NULL, 10));
    if (write_state_file("shim.pid", text) < 0)
        return -1;
    /* Held until this process ends, however it ends: a reader asks the kernel (F_GETLK)
     * whether the shim lives, without reading /proc (records.shim_alive). A record lock
     * belongs to this process (a fork does not inherit it) and goes with any close of the
     * file here, so this is the only time the shim opens shim.pid. */
    char path[PATH_MAX];
    state_path(path, "shim.pid");
    lock_fd = open(path, O_RDWR | O_CLOEXEC);
    struct flock lock = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
    if (lock_fd >= 0 && fcntl(lock_fd, F_SETLK, &lock) < 0)
        close_fd(&lock_fd);                   /* readers then check the start time instead */
    return 0;
}

/* Whether a client holds --foreground-lock (a `run` in the foreground, which records the
 * exit and removes the container itself): then the hook would only compete with it. */
static bool foreground_waiting(void)
{
    if (!opt.foreground_lock)
        return false;
    int fd = open(opt.foreground_lock, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool held = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

static void shutdown_shim(void)
{
    char path[PATH_MAX];
    close_fd(&attach_lfd);
    close_fd(&ctl_lfd);
    state_path(path, "attach.sock");
    unlink(path);
    state_path(path, "ctl.sock");
    unlink(path);
    end_clients();
    for (struct ctl *c = ctls; c; c = c->next)
        c->dead = true;
    sweep();
    close_fd(&log_fd);
    remove_state_file("shim.pid");
}

/* Tell the waiting parent the container's pid, or "!" and why it did not start. */
static void report(int *ready_fd, const char *fmt, ...)
{
    char text[1100];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    write_all(*ready_fd, text, strlen(text));
    close_fd(ready_fd);
}

static int daemon_main(int ready_fd)
{
    char msg[1024];
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (write_pid_file() < 0) {
        report(&ready_fd, "!cannot write %s/shim.pid: %s", opt.state_dir, strerror(errno));
        return 1;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0 || sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
        (sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
        int e = errno;
        remove_state_file("shim.pid");         /* first: a reported failure leaves no live shim.pid */
        report(&ready_fd, "!cannot set up the shim: %s", strerror(e));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    if (opt.health && probe_config_load(opt.health, &probe, msg, sizeof msg) < 0) {
        remove_state_file("shim.pid");
        report(&ready_fd, "!%s", msg);
        return 1;
    }
    log_open(0);
    if (log_fd < 0) {
        int e = errno;
        shutdown_shim();
        report(&ready_fd, "!cannot open log %s: %s", opt.log_path, strerror(e));
        return 1;
    }
    if ((attach_lfd = listen_unix("attach.sock")) < 0 || (ctl_lfd = listen_unix("ctl.sock")) < 0) {
        int e = errno;
        shutdown_shim();
        report(&ready_fd, "!cannot listen in %s: %s", opt.state_dir, strerror(e));
        return 1;
    }
    if (start_container(true, msg, sizeof msg) < 0) {
        shutdown_shim();
        report(&ready_fd, "!%s", msg);
        return 1;
    }
    report(&ready_fd, "%d\n", cpid);
    reap();  /* an adopted container may have ended before our signalfd existed */
    loop();
    shutdown_shim();
    if (opt.on_exit && !foreground_waiting())
        run_hook(opt.hook_socket, opt.on_exit, NULL);
    return 0;
}

/* The invoking process: wait for the daemon's report, print the pid or the error. */
static int parent_main(int ready_fd, pid_t middle)
{
    char text[1100];
    size_t len = 0;
    ssize_t n;
    waitpid(middle, NULL, 0);
    while (len < sizeof text - 1 && (n = read(ready_fd, text + len, sizeof text - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        len += n;
    }
    text[len] = 0;
    if (len && text[0] != '!') {
        fputs(text, stdout);
        return 0;
    }
    fprintf(stderr, "%s\n", len ? text + 1 : "dockyard-shim: exited before the container started");
    return 1;
}

int main(int argc, char **argv)
{
    int ready[2], fd;
    /* with 0-2 closed by the caller, our own files would land there and be clobbered */
    while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd < 3)
        ;
    if (fd > 2)
        close(fd);
    if (argc > 1 && !strcmp(argv[1], "exec"))
        return exec_main(argc, argv);
    parse_args(argc, argv);
    if (opt.adopt_pid) {
        /* the process that exec'd us created the container and daemonized already */
        devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull < 0 || fcntl(opt.ready_fd, F_SETFD, FD_CLOEXEC) < 0 || chdir("/") < 0) {
            report(&opt.ready_fd, "!cannot start the shim: %s", strerror(errno));
            return 1;
        }
        int rc = daemon_main(opt.ready_fd);
        if (rc && !cpid && kill(opt.adopt_pid, 0) == 0)
            kill_and_delete(opt.adopt_pid);   /* our set-up failed: the container must not run unwatched */
        return rc;
    }
    if (pipe2(ready, O_CLOEXEC) < 0)
        usage_error("cannot create a pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        usage_error("cannot fork: %s", strerror(errno));
    if (pid > 0) {
        close(ready[1]);
        return parent_main(ready[0], pid);
    }
    close(ready[0]);
    /* daemonize: a new session, then a grandchild that can never regain a terminal */
    if (setsid() < 0 || (pid = fork()) < 0) {
        report(&ready[1], "!cannot daemonize: %s", strerror(errno));
        _exit(1);
    }
    if (pid > 0)
        _exit(0);
    /* nothing the caller left open may reach the container or outlive the caller */
    if ((ready[1] > 3 && close_range(3, ready[1] - 1, 0) < 0) ||
        close_range(ready[1] + 1, ~0U, 0) < 0) {
        report(&ready[1], "!cannot close inherited files: %s", strerror(errno));
        _exit(1);
    }
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0 ||
        chdir("/") < 0) {
        report(&ready[1], "!cannot daemonize: %s", strerror(errno));
        _exit(1);
    }
    return daemon_main(ready[1]);
}
