#!/bin/bash
# The main job end to end, as a user would run it, in a throw-away root: a base image, a
# Dockerfile build, a container serving a host directory on a published port, save/load,
# and the layer graph. `make acceptance` runs the Debian + nginx walk-through.
source "$(dirname "$0")/walkthrough.sh"
walkthrough demo web

step "$DY" image bootstrap busybox
step "$DY" images
step "$DY" image inspect --format '{{.Id}} {{.Config.Cmd}} {{.Architecture}}/{{.Os}} {{.Size}} bytes' busybox
step "$DY" build -t demo/small:1 examples/small
step "$DY" run --rm demo/small:1
mkdir -p "$work/www" && echo "hello from dockyard" > "$work/www/index.html"
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
step "$DY" run -d --name web -p "$port:80" -v "$work/www:/www" busybox httpd -f -p 80 -h /www
step "$DY" ps
printf '\n$ curl http://127.0.0.1:%s/\n' "$port"
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/" 2>/dev/null && break; sleep 0.05; done
step "$DY" rm -f web
step "$DY" history demo/small:1
step "$DY" save -o "$work/small.tar" demo/small:1
step "$DY" rmi demo/small:1
step "$DY" load -i "$work/small.tar"
step "$DY" image tree
step "$DY" system df
step "$DY" system check
