#!/bin/bash
# Install everything dockyard and its tests need on Debian 12, idempotently:
# Debian packages (only those missing; apt-get update only when something is missing),
# a venv from Debian's python3 (fast start-up) with dockyard installed editable.
# Usage: scripts/setup.sh [test]   -- "test" adds the test tools and test-only packages.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

PKGS="python3 python3-venv python3-seccomp busybox-static debootstrap qemu-user-static binfmt-support iproute2 nftables conntrack libseccomp2 tini catatonit uidmap git curl ca-certificates xz-utils gcc libc6-dev"
TEST_PKGS="skopeo umoci runc crun docker-registry tmux apache2-utils openssh-client chromium chromium-driver containernetworking-plugins iptables"
want="$PKGS"
[ "${1:-}" = test ] && want="$want $TEST_PKGS"
want="$want passt slirp4netns"  # rootless networking: pasta, slirp4netns where pasta is missing
want="$want fuse-overlayfs"  # rootless storage where the kernel refuses overlayfs in a user namespace
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "[setup] installing Debian packages:$missing"
  apt-get update -qq
  # policy-rc.d may refuse to start services during install; dockyard starts what it needs itself
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# rootless networking opens /dev/net/tun as the user: udev's default rule makes it 0666, a host
# without udev (a bare devtmpfs) leaves it 0600
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
  chmod 0666 /dev/net/tun || echo "[setup] cannot make /dev/net/tun 0666: rootless networking will fail"
fi
# and fuse-overlayfs opens /dev/fuse as the user (udev's rule: 0666 too)
if [ -c /dev/fuse ] && [ "$(stat -c %a /dev/fuse)" != 666 ]; then
  chmod 0666 /dev/fuse || echo "[setup] cannot make /dev/fuse 0666: rootless fuse-overlayfs will fail"
fi

extra=""
[ "${1:-}" = test ] && extra="[test]"
stamp=.venv/.installed$extra
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv .venv
fi
if [ ! -e "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "[setup] installing Python packages into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -e ".$extra" 2>&1 | grep -v -E "^WARNING: Location|^$" || true
  .venv/bin/python -c "import dockyard, click, rich, isal, zstandard"
  touch "$stamp"
fi
# protocol modules (CRI, ...) generated from our .proto files when missing or older than their source
for proto in src/dockyard/*/protos/*.proto; do
  out="${proto%.proto}_pb2.py"
  if [ ! -e "$out" ] || [ "$proto" -nt "$out" ]; then
    .venv/bin/python -m grpc_tools.protoc -Isrc --python_out=src --grpc_python_out=src "$proto"
  fi
done
# `dockyard` itself: a launcher that starts the interpreter without `site` (-S) and puts our
# sources on the path, in place of the generated console script (which imports `re`, and
# whose interpreter reads every .pth file first). The read-only commands answer before either
# is needed; entry.py loads `site` for every other command.
cat > .venv/bin/dockyard <<LAUNCHER
#!$PWD/.venv/bin/python -S
import sys
sys.path[0] = "$PWD/src"
from dockyard.cli.entry import main
main()
LAUNCHER
# byte-compile once: with PYTHONDONTWRITEBYTECODE set, every dockyard, dockyard-runtime and
# exit-hook process would otherwise compile its sources again (tens of ms per start)
.venv/bin/python -m compileall -q src/dockyard >/dev/null

# the per-container shim is a small C program (memory per container is a target); rebuild when its source changes
shim=.venv/bin/dockyard-shim
stale=""
for f in src/dockyard/runtime/shim/*.[ch] src/dockyard/runtime/shim/build.sh; do
  if [ "$f" -nt "$shim" ]; then stale=1; fi
done
if [ ! -x "$shim" ] || [ -n "$stale" ]; then
  echo "[setup] building dockyard-shim"
  bash src/dockyard/runtime/shim/build.sh "$PWD/$shim"
fi
