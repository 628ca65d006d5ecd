"""Events and state of a container's life, the same from dockyard as from dockerd: detached
execs, restarts by policy, exits. Each test runs against `dockyard serve` and, where it is
installed, the host's dockerd (the anchor), with the real docker CLI and docker-py."""

from __future__ import annotations

import secrets
import time

import pytest

pytestmark = pytest.mark.root


def until(condition, timeout: float = 30):
    """Poll `condition` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def events(engine, since: str, name: str, fmt: str = "{{.Action}} {{index .Actor.Attributes \"exitCode\"}}") -> list[str]:
    out = engine.docker("events", "--since", since, "--until", f"{time.time():.3f}", "--filter",
                        f"container={name}", "--format", fmt).out
    return [line.strip() for line in out.splitlines()]


def test_detached_exec_ends_with_exec_die(engine_api):
    """`exec -d` (the API's exec start with Detach) records the command's end: exec_die with
    its code, and exec inspect's Running and ExitCode; with a terminal too."""
    d, name = engine_api.docker, f"parx-{secrets.token_hex(3)}"
    d("run", "-d", "--name", name, "busybox", "sleep", "300")
    since = f"{time.time():.3f}"
    d("exec", "-d", name, "sh", "-c", "sleep 0.3; exit 4")
    d("exec", "-dt", name, "sh", "-c", "yes | head -c 200000; exit 5")  # more than a pty holds unread
    api = engine_api.client().api
    eid = api.exec_create(name, ["sh", "-c", "exit 6"])["Id"]
    assert not api.exec_start(eid, detach=True)
    assert until(lambda: not api.exec_inspect(eid)["Running"] and api.exec_inspect(eid))["ExitCode"] == 6
    shown = until(lambda: (e := events(engine_api, since, name)) and sum(x.startswith("exec_die") for x in e) == 3 and e)
    assert sorted(e for e in shown if e.startswith("exec_die")) == ["exec_die 4", "exec_die 5", "exec_die 6"]
    assert [e.split(":")[0] for e in shown if not e.startswith("exec_die")] == ["exec_create", "exec_start"] * 3


def test_policy_restarts_log_die_and_start(engine_api):
    """Each restart by the policy is a `die` with the code, then a `start`; RestartCount
    counts them and the last exit stays; a container without a policy is never `restarting`
    on its way out."""
    d, name, plain = engine_api.docker, f"parr-{secrets.token_hex(3)}", f"parn-{secrets.token_hex(3)}"
    since = f"{time.time():.3f}"
    d("run", "-d", "--name", name, "--restart", "on-failure:2", "busybox", "sh", "-c", "sleep 0.2; exit 3")
    d("run", "-d", "--name", plain, "busybox", "sh", "-c", "sleep 0.2; exit 2")
    seen = set()
    until(lambda: seen.add(d("inspect", "-f", "{{.State.Status}}", plain).out.strip()) or "exited" in seen)
    assert seen <= {"running", "exited"}, seen
    assert until(lambda: len(e := events(engine_api, since, name)) == 7 and e) == [
        "create", "start", "die 3", "start", "die 3", "start", "die 3"]
    shown = d("inspect", "-f", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}", name).out.split()
    assert shown == ["exited", "2", "3"]
    assert until(lambda: len(e := events(engine_api, since, plain)) == 3 and e) == ["create", "start", "die 2"]
    # names (and IDs) match by their beginning, so `parr-` is the policy container
    assert len(events(engine_api, since, name[:5])) == 7
    # stopped whether running or restarting: one die per run that started, never two
    always = name + "-a"
    d("run", "-d", "--name", always, "--restart", "always", "busybox", "sh", "-c", "sleep 0.2; exit 1")
    until(lambda: int(d("inspect", "-f", "{{.RestartCount}}", always).out) >= 2)
    d("stop", always)
    assert d("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", always).out.split()[0] == "exited"
    shown = [e.split()[0] for e in events(engine_api, since, always)]
    assert shown.count("die") == shown.count("start") and shown[-1] == "stop", shown


SIZED = """FROM busybox
RUN printf 12345 > /a && ln /a /b && ln -s /a /c && mkdir /d && rm /bin/ls
"""


def test_image_size_counts_unpacked_files(engine_api, tmp_path):
    """An image's Size (inspect, `images`, the API's list, history) is its layers' unpacked
    sizes as Docker counts them: files' lengths, a hard-linked file once, symlinks' targets,
    nothing for directories and whiteouts."""
    (tmp_path / "Dockerfile").write_text(SIZED)
    d, tag = engine_api.docker, f"parsize-{secrets.token_hex(3)}"
    base = int(d("image", "inspect", "-f", "{{.Size}}", "busybox").out)
    assert base == 1983007  # the bootstrapped busybox is the one dockerd has (the same image ID)
    d("build", "-q", "-t", tag, str(tmp_path), timeout=120)
    try:
        assert int(d("image", "inspect", "-f", "{{.Size}}", tag).out) == base + 5 + 2
        assert d("history", "--format", "{{.Size}}", tag).out.split()[0] == "7B"
        listed = engine_api.client().api.images(name=tag)
        assert [i["Size"] for i in listed] == [base + 7]
    finally:
        d("rmi", tag, check=False)


def test_hostname_and_domainname_in_etc_hosts(engine_api):
    """The container's address names its full name (--hostname plus --domainname) and, when
    that has a dot, its first label: `hostname -f` and `-d` find them; /etc/hostname and the
    kernel's names keep them apart."""
    script = "tail -n1 /etc/hosts | cut -f2; hostname; hostname -f; hostname -d; cat /etc/hostname; " \
             "cat /proc/sys/kernel/domainname"
    out = engine_api.docker("run", "--rm", "--hostname", "h1", "--domainname", "example.org", "busybox",
                            "sh", "-c", script).out
    assert out.splitlines() == ["h1.example.org h1", "h1", "h1.example.org", "example.org", "h1", "example.org"]
    out = engine_api.docker("run", "--rm", "--hostname", "h1.sub.example.org", "busybox", "sh", "-c", script).out
    assert out.splitlines()[:3] == ["h1.sub.example.org h1", "h1.sub.example.org", "h1.sub.example.org"]
    out = engine_api.docker("run", "--rm", "--hostname", "plain", "busybox", "sh", "-c", script).out
    assert out.splitlines()[:3] == ["plain", "plain", "plain"]


def test_cgroupns_host_and_private(engine_api):
    """--cgroupns host: the container sees its cgroup's path from the host's root (its ID in
    it); private: its own cgroup is the root."""
    d, name = engine_api.docker, f"parcg-{secrets.token_hex(3)}"
    d("run", "-d", "--name", name, "--cgroupns", "host", "busybox", "sleep", "300")
    cid = d("inspect", "-f", "{{.Id}} {{.HostConfig.CgroupnsMode}}", name).out.split()
    assert cid[1] == "host"
    assert cid[0] in d("exec", name, "cat", "/proc/self/cgroup").out
    own = d("run", "--rm", "--cgroupns", "private", "busybox", "cat", "/proc/self/cgroup").out.splitlines()
    assert own and all(line.endswith(":/") for line in own), own
    # --cpus beyond the host's CPUs: refused at start and update, in dockerd's words
    import os
    n = len(os.sched_getaffinity(0))
    words = f"Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"
    res = d("update", "--cpus", "1000", name, check=False)
    assert res.code == 1 and words in res.err, res
    res = d("run", "--rm", "--cpus", "1000", "busybox", "true", check=False)
    assert res.code == 125 and words in res.err, res
    # a missing --device: dockerd's words, which the CLI turns into 127
    res = d("run", "--rm", "--device", "/dev/nonexistent", "busybox", "true", check=False)
    assert res.code == 127 and 'error gathering device information while adding custom device "/dev/nonexistent": ' \
        "no such file or directory" in res.err, res
    # (and a Config with no exposed ports has no ExposedPorts: omitempty)
    assert d("inspect", "-f", "{{json .Config.ExposedPorts}}", name).out.strip() == "null"
    assert "ExposedPorts" not in engine_api.client().api.inspect_container(name)["Config"]


def test_events_carry_the_old_fields_only_for_containers_and_images(engine_api):
    """`status`, `id` and `from` (the pre-1.22 fields) come with container events (and image
    ones), not with volume or network events."""
    import json
    d, name = engine_api.docker, f"parev-{secrets.token_hex(3)}"
    since = f"{time.time():.3f}"
    d("run", "--rm", "--name", name, "-v", f"{name}:/x", "busybox", "true")
    try:
        shown = [json.loads(line) for line in events(engine_api, since, name, "{{json .}}")]
        by_type = {e["Type"]: e for e in shown}
        assert set(by_type) == {"container", "volume"}, shown  # the volume named as the container
        assert by_type["container"]["status"] == by_type["container"]["Action"]
        assert by_type["container"]["from"] == "busybox" and by_type["container"]["id"] == by_type["container"]["Actor"]["ID"]
        assert not {"status", "id", "from"} & set(by_type["volume"]), by_type["volume"]
    finally:
        d("volume", "rm", name)


def test_ipc_modes_share_dev_shm(engine_api):
    """--ipc host sees the host's /dev/shm; --ipc container:X sees X's, when X is shareable
    (a private donor is refused in dockerd's words)."""
    import os
    d, name = engine_api.docker, f"paripc-{secrets.token_hex(3)}"
    probe = f"/dev/shm/{name}"
    with open(probe, "w") as f:
        f.write("host\n")
    try:
        assert d("run", "--rm", "--ipc", "host", "busybox", "cat", probe).out == "host\n"
    finally:
        os.unlink(probe)
    d("run", "-d", "--name", name, "--ipc", "shareable", "busybox", "sh", "-c", "echo donor > /dev/shm/f; sleep 300")
    until(lambda: d("exec", name, "test", "-e", "/dev/shm/f", check=False).code == 0)
    assert d("run", "--rm", "--ipc", f"container:{name}", "busybox", "cat", "/dev/shm/f").out == "donor\n"
    d("run", "-d", "--name", name + "p", "busybox", "sleep", "300")
    res = d("run", "--rm", "--ipc", f"container:{name}p", "busybox", "true", check=False)
    assert res.code == 125 and "non-shareable IPC (hint: use IpcMode:shareable for the donor container)" in res.err


def test_attach_sends_the_streams_asked_for_and_start_a_reattaches(engine_api):
    """`run -a stdout` gets stdout only (the CLI has no writer for the other stream: a frame of
    it would crash it), `-a stderr` stderr only; `start -a` of an exited container attaches
    again and shows the new run's output."""
    d, name = engine_api.docker, f"para-{secrets.token_hex(3)}"
    script = "echo out; echo err >&2"
    res = d("run", "--name", name, "-a", "stdout", "busybox", "sh", "-c", script)
    assert (res.out, res.err) == ("out\n", "")
    res = d("run", "--rm", "-a", "stderr", "busybox", "sh", "-c", script)
    assert (res.out, res.err) == ("", "err\n")
    res = d("start", "-a", name)
    assert (res.code, res.out, res.err) == (0, "out\n", "err\n")


def test_stop_and_kill_log_kill_events(engine_api):
    """stop logs a kill per signal it sends (the stop signal, then 9 after the timeout), then
    the die and the stop; kill logs its signal before the die."""
    d, name = engine_api.docker, f"park-{secrets.token_hex(3)}"
    since = f"{time.time():.3f}"
    d("run", "-d", "--name", name, "busybox", "sleep", "300")  # pid 1 ignores TERM and INT: the timeout runs out
    d("stop", "-t", "1", name)
    d("start", name)
    d("kill", "-s", "INT", name)  # ignored as well: still running
    d("kill", name)
    fmt = '{{.Action}} {{index .Actor.Attributes "signal"}}{{index .Actor.Attributes "exitCode"}}'
    assert until(lambda: len(e := events(engine_api, since, name, fmt)) == 10 and e) == [
        "create", "start", "kill 15", "kill 9", "die 137", "stop", "start", "kill 2", "kill 9", "die 137"]
