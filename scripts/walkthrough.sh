# Sourced by demo.sh and acceptance.sh: a throw-away root with its own bridge, firewall table
# and cgroup parent, removed (containers, bridge and all) when the script ends.
#   walkthrough NAME CONTAINER   sets DY, work, DOCKYARD_ROOT/RUN_DIR and the clean-up trap
set -euo pipefail
cd "$(dirname "$0")/.."
DY="$PWD/.venv/bin/dockyard"

walkthrough() {
  local name=$1
  _container=$2
  work=$(mktemp -d "/tmp/dockyard-$name.XXXXXX")
  export DOCKYARD_ROOT=$work/root DOCKYARD_RUN_DIR=$work/run
  mkdir -p "$DOCKYARD_ROOT"
  echo "{\"bridge\": \"dy${name:0:4}0\", \"nft-table\": \"dy${name:0:4}\", \"cgroup-parent\": \"/dy${name:0:4}\"}" \
    > "$DOCKYARD_ROOT/daemon.json"
  trap _cleanup EXIT
}

_cleanup() {
  "$DY" rm -f "$_container" >/dev/null 2>&1 || true
  "$DY" network prune -f >/dev/null 2>&1 || true   # the default bridge outlives its containers
  rm -rf "$work"
}

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
