#!/bin/sh
# Compile dockyard-shim: build.sh OUTPUT (the Makefile passes .venv/bin/dockyard-shim).
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUTPUT" >&2; exit 2; }
cd "$(dirname "$0")"
exec gcc -O2 -Wall -Wextra -Werror -o "$1" shim.c probe.c exec.c hook.c
