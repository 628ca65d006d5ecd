"""Health checks through the dockyard CLI: the shim probes every container, started from the
CLI (adopted by the shim) or by another route, and `inspect`, `ps`, filters and events show
the results as docker shows them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.root

FAST = ("--health-interval", "100ms")


def health(dy, name: str) -> dict | None:
    return json.loads(dy("inspect", name).out)[0]["State"].get("Health")


def status_of(dy, name: str) -> str:
    return (health(dy, name) or {}).get("Status", "")


def test_healthy_probe_shows_in_inspect_ps_filter_and_events(dy, busybox):
    dy("run", "-d", "--name", "ok", "--health-cmd", "echo fine", *FAST, "busybox", "sleep", "300")
    dy("run", "-d", "--name", "plain", "busybox", "sleep", "300")
    assert health(dy, "plain") is None
    wait_for(lambda: status_of(dy, "ok") == "healthy", what="ok to be healthy")
    h = health(dy, "ok")
    assert h["FailingStreak"] == 0
    entry = h["Log"][-1]
    assert entry["ExitCode"] == 0 and entry["Output"] == "fine\n"
    assert entry["Start"] <= entry["End"] and entry["Start"].endswith("Z")
    assert "(healthy)" in dy("ps", "--filter", "name=ok", "--format", "{{.Status}}").out
    assert dy("ps", "-q", "--filter", "health=healthy").out.split() == [dy("ps", "-q", "--filter", "name=ok").out.strip()]
    assert dy("ps", "--filter", "health=none", "--format", "{{.Names}}").out.split() == ["plain"]
    bad = dy("ps", "--filter", "health=sick", check=False)
    assert bad.code != 0 and "Unrecognised filter value for health: sick" in bad.err
    events = dy("events", "--since", "5m", "--until", "0s", "--filter", "event=health_status",
                "--format", "{{.Action}} {{.Actor.Attributes.name}}").out
    assert "health_status: healthy ok" in events.splitlines()


def test_unhealthy_after_retries_and_log_keeps_five(dy, busybox):
    dy("run", "-d", "--name", "bad", "--health-cmd", "echo nope; exit 3", *FAST, "--health-retries", "3",
       "busybox", "sleep", "300")
    wait_for(lambda: status_of(dy, "bad") == "unhealthy", what="bad to be unhealthy")
    wait_for(lambda: len(health(dy, "bad")["Log"]) == 5, what="five log entries")
    h = health(dy, "bad")
    assert h["FailingStreak"] >= 3
    assert all(e["ExitCode"] == 3 and e["Output"] == "nope\n" for e in h["Log"])
    assert "(unhealthy)" in dy("ps", "--format", "{{.Status}}").out
    assert dy("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}").out.split() == ["bad"]


def test_a_probe_past_its_timeout_is_killed_and_fails(dy, busybox):
    dy("run", "-d", "--name", "slow", "--health-cmd", "echo started; sleep 60", "--health-timeout", "300ms",
       *FAST, "--health-retries", "1", "busybox", "sleep", "300")
    wait_for(lambda: status_of(dy, "slow") == "unhealthy", what="slow to be unhealthy")
    entry = health(dy, "slow")["Log"][0]
    assert entry["ExitCode"] == -1
    assert entry["Output"] == "Health check exceeded timeout (300ms): started\n"
    # the probe and what it started are gone: only the container's own process is left
    # (a probe may be running right now, so look for the killed one's sleep only)
    top = dy("top", "slow").out
    assert "sleep 60" not in top or top.count("sleep 60") <= 1


def test_start_period_failures_do_not_count(dy, busybox):
    dy("run", "-d", "--name", "boot", "--health-cmd", "exit 1", *FAST, "--health-retries", "1",
       "--health-start-period", "60s", "--health-start-interval", "100ms", "busybox", "sleep", "300")
    wait_for(lambda: len((health(dy, "boot") or {}).get("Log", [])) >= 3, what="three probes")
    h = health(dy, "boot")
    assert h["Status"] == "starting" and h["FailingStreak"] == 0


def test_probe_runs_inside_the_container_as_its_user(dy, busybox):
    dy("run", "-d", "--name", "who", "-u", "1000:1000", "-w", "/tmp", "-h", "probed", "-e", "MARK=x1",
       "--health-cmd", 'echo "$(id -u) $(hostname) $(pwd) $MARK"; tr "\\0" " " </proc/1/cmdline; echo; grep CapEff /proc/self/status',
       *FAST, "busybox", "sleep", "301")
    wait_for(lambda: status_of(dy, "who") == "healthy", what="who to be healthy")
    out = health(dy, "who")["Log"][-1]["Output"]
    first, cmdline, caps = out.split("\n")[:3]
    assert first == "1000 probed /tmp x1"
    assert cmdline == "sleep 301 "  # pid 1 of the probe's pid namespace is the container's
    assert caps.split()[-1] == "0000000000000000"  # a non-root user keeps no capabilities


def test_missing_probe_command_is_reported_like_docker(dy, busybox, tmp_path: Path):
    body = {"Image": "busybox", "Cmd": ["sleep", "300"],
            "Healthcheck": {"Test": ["CMD", "no-such-probe"], "Interval": 100_000_000, "Retries": 1}}
    c = dy.engine().containers.create(body, "missing")
    dy.engine().containers.start(c.id)
    wait_for(lambda: status_of(dy, "missing") == "unhealthy", what="missing to be unhealthy")
    entry = health(dy, "missing")["Log"][0]
    assert entry["ExitCode"] == -1
    assert entry["Output"] == ('OCI runtime exec failed: exec failed: unable to start container process: '
                               'exec: "no-such-probe": executable file not found in $PATH: unknown')


def test_stop_reports_unhealthy_and_a_restart_starts_over(dy, busybox):
    dy("run", "-d", "--name", "cycle", "--health-cmd", "true", *FAST, "busybox", "sleep", "300")
    wait_for(lambda: status_of(dy, "cycle") == "healthy", what="cycle to be healthy")
    dy("stop", "-t", "0", "cycle")
    h = health(dy, "cycle")
    assert h["Status"] == "unhealthy" and h["Log"]
    logged = h["Log"][-1]
    dy("start", "cycle")
    after = health(dy, "cycle")
    assert after["Status"] in ("starting", "healthy") and logged in after["Log"]
    wait_for(lambda: status_of(dy, "cycle") == "healthy", what="cycle to be healthy again")


def test_no_healthcheck_overrides_the_image_and_flags_are_checked(dy, busybox, tmp_path: Path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nHEALTHCHECK --interval=100ms --retries=2 CMD exit 0\n")
    dy("build", "-q", "-t", "checked", str(tmp_path))
    dy("run", "-d", "--name", "from-image", "checked", "sleep", "300")
    wait_for(lambda: status_of(dy, "from-image") == "healthy", what="the image's HEALTHCHECK to pass")
    dy("run", "-d", "--name", "overridden", "--health-retries", "5", "checked", "sleep", "300")
    cfg = json.loads(dy("inspect", "overridden").out)[0]["Config"]["Healthcheck"]
    assert cfg["Test"] == ["CMD-SHELL", "exit 0"] and cfg["Retries"] == 5 and cfg["Interval"] == 100_000_000
    dy("run", "-d", "--name", "off", "--no-healthcheck", "checked", "sleep", "300")
    off = json.loads(dy("inspect", "off").out)[0]
    assert off["Config"]["Healthcheck"]["Test"] == ["NONE"] and "Health" not in off["State"]
    for args, message in ((("--no-healthcheck", "--health-cmd", "true"), "--no-healthcheck conflicts with --health-* options"),
                          (("--health-interval", "-1s"), "--health-interval cannot be negative"),
                          (("--health-retries", "-1"), "--health-retries cannot be negative"),
                          (("--health-timeout", "soon"), 'invalid argument "soon" for "--health-timeout" flag')):
        r = dy("create", *args, "busybox", check=False)
        assert r.code != 0 and message in r.err, r.err
        assert "Traceback" not in r.err


@pytest.mark.parametrize("runtime", ["runc", "crun"])
def test_probes_work_under_other_runtimes(dy, busybox, runtime):
    import shutil
    if not shutil.which(runtime):
        pytest.skip(f"{runtime} is not installed")
    r = dy("run", "-d", "--runtime", runtime, "--name", "other", "--health-cmd", "hostname", *FAST,
           "busybox", "sleep", "300", check=False)
    if r.code != 0 and runtime == "crun":
        pytest.skip(f"crun cannot run containers on this host: {r.err.strip()}")
    assert r.code == 0, r.err
    wait_for(lambda: status_of(dy, "other") == "healthy", what=f"the {runtime} container to be healthy")
    cid = json.loads(dy("inspect", "other").out)[0]["Config"]["Hostname"]
    assert health(dy, "other")["Log"][-1]["Output"] == cid + "\n"


def _shim_usage(dy, name: str) -> tuple[int, int]:
    """(fewest open descriptors, least anonymous memory in kB) of the container's shim over a
    few looks, so a probe running at one look does not count. Anonymous memory (heap, stack) is
    what a leak grows; file pages come and go as code paths first run."""
    cid = json.loads(dy("inspect", name).out)[0]["Id"]
    pid = int(next(dy.run_dir.glob(f"s/{cid[:16]}/shim.pid")).read_text().split()[0])
    looks = []
    for _ in range(20):
        rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("RssAnon:"))
        looks.append((len(list(Path(f"/proc/{pid}/fd").iterdir())), rss))
        __import__("time").sleep(0.01)
    return min(f for f, _ in looks), min(r for _, r in looks)


def test_many_probes_leak_nothing_in_the_shim(dy, busybox):
    dy("run", "-d", "--name", "busy", "--health-cmd", "echo $RANDOM", "--health-interval", "5ms", "busybox",
       "sleep", "300")
    wait_for(lambda: len((health(dy, "busy") or {}).get("Log", [])) == 5, what="five probes")
    first = health(dy, "busy")["Log"][-1]["Start"]
    wait_for(lambda: health(dy, "busy")["Log"][0]["Start"] > first, what="the log to have turned over")
    fds, rss = _shim_usage(dy, "busy")
    # a few hundred probes later (each one is a fork, two pipes, a log entry and a file write)
    __import__("time").sleep(3)
    fds_after, rss_after = _shim_usage(dy, "busy")
    assert fds_after == fds
    assert rss_after - rss < 32, f"the shim grew from {rss} to {rss_after} kB"


def test_no_probe_runs_while_paused(dy, busybox):
    dy("run", "-d", "--name", "napping", "--health-cmd", "true", *FAST, "busybox", "sleep", "300")
    wait_for(lambda: status_of(dy, "napping") == "healthy", what="napping to be healthy")
    dy("pause", "napping")
    __import__("time").sleep(0.3)  # let a probe that was running finish
    last = health(dy, "napping")["Log"][-1]["Start"]
    __import__("time").sleep(1)
    assert health(dy, "napping")["Log"][-1]["Start"] == last
    assert "(Paused)" in dy("ps", "--format", "{{.Status}}").out
    assert status_of(dy, "napping") == "unhealthy"  # docker's monitor stops, which says so
    dy("unpause", "napping")
    wait_for(lambda: health(dy, "napping")["Log"][-1]["Start"] > last, what="probes after unpause")
    wait_for(lambda: status_of(dy, "napping") == "healthy", what="napping healthy again")


def test_long_output_is_cut_at_4_kib_with_dots(dy, busybox):
    dy("run", "-d", "--name", "chatty", "--health-cmd", "head -c 5000 /dev/zero | tr '\\0' a", *FAST,
       "busybox", "sleep", "300")
    wait_for(lambda: status_of(dy, "chatty") == "healthy", what="chatty to be healthy")
    assert health(dy, "chatty")["Log"][-1]["Output"] == "a" * 4096 + "..."
