"""Docker Compose v2, the official binary, against `dockyard serve`: builds, a user network,
a named volume, a published port, environment, a healthcheck that gates a dependant, scaling,
ps, logs, exec, restart and down -v, leaving nothing behind."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from dockyard.containers.views import epoch
from tests.e2e.api.conftest import install_compose

pytestmark = pytest.mark.root

COMPOSE = """\
services:
  db:
    build: ./db
    environment:
      ROLE: db
    volumes:
      - data:/data
    networks: [back]
    healthcheck:
      test: ["CMD-SHELL", "test -f /data/ready"]
      interval: 100ms
      timeout: 5s
      retries: 50
  web:
    build: ./web
    depends_on:
      db:
        condition: service_healthy
    ports:
      - "8080"
    environment:
      ROLE: web
    networks: [back]
networks:
  back: {}
volumes:
  data: {}
"""
DB = """\
FROM busybox
CMD ["sh", "-c", "trap 'exit 0' TERM; sleep 0.5; echo ready > /data/ready; echo db up; while true; do sleep 0.1; done"]
"""
WEB = """\
FROM busybox
RUN mkdir /www && echo hello from web > /www/index.html
CMD ["sh", "-c", "echo web $ROLE up; exec httpd -f -p 8080 -h /www"]
"""


def test_compose_scenario(api, busybox, tmp_path: Path):
    install_compose(Path(api.env["DOCKER_CONFIG"]))
    project = tmp_path / "app"
    (project / "db").mkdir(parents=True)
    (project / "web").mkdir()
    (project / "compose.yaml").write_text(COMPOSE)
    (project / "db" / "Dockerfile").write_text(DB)
    (project / "web" / "Dockerfile").write_text(WEB)

    def compose(*args: str, check: bool = True):
        return api.docker("compose", "--project-directory", str(project), "-p", "app", *args, check=check, timeout=180)

    up = compose("up", "-d")
    assert "app-db-1  Healthy" in up.err.replace("Container ", "")
    db = json.loads(api.docker("inspect", "app-db-1").out)[0]
    assert db["State"]["Health"]["Status"] == "healthy"
    web = json.loads(api.docker("inspect", "app-web-1").out)[0]
    first_healthy = min(epoch(e["End"]) for e in db["State"]["Health"]["Log"] if e["ExitCode"] == 0)
    assert epoch(web["State"]["StartedAt"]) >= first_healthy  # compose waited for the healthcheck
    assert "ROLE=web" in web["Config"]["Env"]
    assert set(web["NetworkSettings"]["Networks"]) == {"app_back"}

    compose("up", "-d", "--scale", "web=3")
    rows = [json.loads(line) for line in compose("ps", "--format", "json").out.splitlines() if line.strip()]
    assert sorted(r["Name"] for r in rows) == ["app-db-1", "app-web-1", "app-web-2", "app-web-3"]
    assert all(r["State"] == "running" for r in rows)
    assert next(r for r in rows if r["Name"] == "app-db-1")["Health"] == "healthy"

    logs = compose("logs", "web").out
    assert logs.count("web web up") == 3 and "db up" not in logs
    assert compose("exec", "-T", "db", "cat", "/data/ready").out == "ready\n"
    assert compose("exec", "-T", "web", "wget", "-qO-", "http://web:8080/").out == "hello from web\n"
    for index in (1, 2, 3):
        port = compose("port", "--index", str(index), "web", "8080").out.strip().rsplit(":", 1)[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            assert r.read() == b"hello from web\n"

    compose("restart", "db")
    assert json.loads(api.docker("inspect", "app-db-1").out)[0]["RestartCount"] == 0
    compose("down", "-v")
    assert api.docker("ps", "-aq").out == ""
    assert "app_data" not in api.docker("volume", "ls", "-q").out
    assert "app_back" not in api.docker("network", "ls", "--format", "{{.Name}}").out
