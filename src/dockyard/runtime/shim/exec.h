/* `dockyard-shim exec`: one command run inside a running container (exec.c). */
#ifndef DOCKYARD_EXEC_H
#define DOCKYARD_EXEC_H

int exec_main(int argc, char **argv);

#endif
