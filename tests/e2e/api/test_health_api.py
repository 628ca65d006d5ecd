"""Health checks through the Engine API, with the docker CLI and docker-py: the same
assertions against dockyard and, where it is installed, dockerd."""

from __future__ import annotations

import json

import pytest

from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.root


def state(engine_api, name: str) -> dict:
    return json.loads(engine_api.docker("inspect", "--type", "container", name).out)[0]["State"]


def health_status(engine_api, name: str) -> str:
    return (state(engine_api, name).get("Health") or {}).get("Status", "")


def test_docker_cli_health_flags_ps_filters_and_events(engine_api):
    d = engine_api.docker
    since = d("version", "--format", "{{.Server.Version}}") and str(int(__import__("time").time()) - 1)
    d("run", "-d", "--name", "hc-ok", "--health-cmd", "echo ok", "--health-interval", "100ms", "busybox", "sleep", "120")
    d("run", "-d", "--name", "hc-bad", "--health-cmd", "exit 2", "--health-interval", "100ms", "--health-retries", "2",
      "busybox", "sleep", "120")
    wait_for(lambda: health_status(engine_api, "hc-ok") == "healthy", what="hc-ok healthy")
    wait_for(lambda: health_status(engine_api, "hc-bad") == "unhealthy", what="hc-bad unhealthy")
    ok = state(engine_api, "hc-ok")["Health"]
    assert ok["FailingStreak"] == 0 and ok["Log"][-1]["ExitCode"] == 0 and ok["Log"][-1]["Output"] == "ok\n"
    bad = state(engine_api, "hc-bad")["Health"]
    assert bad["FailingStreak"] >= 2 and bad["Log"][-1]["ExitCode"] == 2
    rows = dict(line.split(" ", 1) for line in d("ps", "--format", "{{.Names}} {{.Status}}").out.splitlines())
    assert rows["hc-ok"].endswith("(healthy)") and rows["hc-bad"].endswith("(unhealthy)")
    assert d("ps", "--filter", "health=healthy", "--format", "{{.Names}}").out.split() == ["hc-ok"]
    assert d("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}").out.split() == ["hc-bad"]
    events = d("events", "--since", since, "--until", str(int(__import__("time").time()) + 1),
               "--filter", "event=health_status", "--format", "{{.Action}} {{.Actor.Attributes.name}}").out
    assert "health_status: healthy hc-ok" in events and "health_status: unhealthy hc-bad" in events
    cfg = json.loads(d("inspect", "hc-bad").out)[0]["Config"]["Healthcheck"]
    assert cfg == {"Test": ["CMD-SHELL", "exit 2"], "Interval": 100_000_000, "Retries": 2}


def test_docker_cli_refusals(engine_api):
    d = engine_api.docker
    r = d("run", "--rm", "--health-interval", "10ns", "busybox", "true", check=False)
    assert r.code == 125 and "Interval in Healthcheck cannot be less than 1ms" in r.err
    r = d("run", "--rm", "--health-cmd", "true", "--no-healthcheck", "busybox", "true", check=False)
    assert r.code != 0 and "--no-healthcheck conflicts with --health-* options" in r.err


def test_docker_py_healthcheck_timeout_and_stop(engine_api):
    client = engine_api.client()
    labels = dict([engine_api.label.split("=", 1)]) if hasattr(engine_api, "label") else {}
    c = client.containers.run("busybox", ["sleep", "120"], detach=True, name="hc-slow", labels=labels,
                              healthcheck={"test": ["CMD-SHELL", "echo begun; sleep 30"], "interval": 100_000_000,
                                           "timeout": 300_000_000, "retries": 1})
    try:
        def unhealthy():
            c.reload()
            return c.attrs["State"].get("Health", {}).get("Status") == "unhealthy"
        wait_for(unhealthy, what="hc-slow unhealthy")
        entry = c.attrs["State"]["Health"]["Log"][0]
        assert entry["ExitCode"] == -1
        # current dockerd adds what the probe wrote (moby's daemon/health.go); the 20.10 anchor did not
        assert entry["Output"] in ("Health check exceeded timeout (300ms): begun\n",
                                   *(("Health check exceeded timeout (300ms)",) if hasattr(engine_api, "label") else ()))
        c.stop(timeout=0)
        c.reload()
        assert c.attrs["State"]["Health"]["Status"] == "unhealthy"
    finally:
        c.remove(force=True)
    client.close()

