#!/bin/bash
# The seed walk-through, end to end, as a user runs it (needs the Debian mirror):
# bootstrap debian:bookworm, build the nginx Dockerfile, run it with a published port and a
# volume, and fetch a page through the port. Leaves nothing behind.
source "$(dirname "$0")/walkthrough.sh"
walkthrough acceptance hello-nginx
port=${PORT:-8080}

step "$DY" image bootstrap debian:bookworm
step "$DY" build -t hello-nginx examples/nginx
mkdir -p "$work/data" && echo "hello from the host" > "$work/data/index.html"
step "$DY" run -d --name hello-nginx -p "$port:80" -v "$work/data:/data" hello-nginx
step "$DY" ps
for i in $(seq 1 50); do
  if curl -fsS "http://127.0.0.1:$port/" -o "$work/page.html" 2>/dev/null; then break; fi
  sleep 0.2
done
printf '\nGET http://127.0.0.1:%s/ ->\n' "$port"
head -5 "$work/page.html"
grep -qi "nginx" "$work/page.html" || { echo "FAIL: nginx did not answer on port $port" >&2; exit 1; }
step "$DY" exec hello-nginx ls /data
step "$DY" logs hello-nginx
echo
echo "acceptance: PASS"
