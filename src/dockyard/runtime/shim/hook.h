/* Hooks run for the engine (hook.c), and the two helpers they share with the shim. */
#ifndef DOCKYARD_HOOK_H
#define DOCKYARD_HOOK_H

#include <stddef.h>

/* Run the hook argv (plus `extra`, when not NULL): through the server listening on
 * `hook_socket` (NULL: none) when it takes it within 2 s, else as a process in a session of
 * its own, not waited for (a hook may outlive its caller). */
void run_hook(const char *hook_socket, char *const *argv, const char *extra);

/* write(2) all of it (0), or -1 with errno. */
int write_all(int fd, const void *data, size_t n);

/* No blocked signals, SIGPIPE's default: as a child to exec should start. */
void reset_signals(void);

#endif
