#!/bin/bash
# The main job end to end, as a user would run it, in a throw-away root.
set -euo pipefail
cd "$(dirname "$0")/.."
DY=".venv/bin/dockyard"
root=$(mktemp -d /tmp/dockyard-demo.XXXXXX)
trap 'rm -rf "$root"' EXIT
export DOCKYARD_ROOT=$root/root DOCKYARD_RUN_DIR=$root/run
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
step $DY image bootstrap busybox
step $DY images
step $DY image inspect --format '{{.Id}} {{.Config.Cmd}} {{.Architecture}}/{{.Os}} {{.Size}} bytes' busybox
step $DY history busybox
step $DY save -o "$root/busybox.tar" busybox
step $DY rmi busybox
step $DY load -i "$root/busybox.tar"
step $DY tag busybox demo/app:v1
step $DY image tree
step $DY system df
step $DY system check
