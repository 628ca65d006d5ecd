"""What real clients see, the same from dockyard as from dockerd: the docker CLI's one-liners
and exit codes, docker-py's fields and their types, prune filters. Each test runs against
`dockyard serve` and, where it is installed, the host's dockerd (the anchor); names carry a
random suffix and prunes a label of the test's own, so the anchor's other objects are never touched."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import subprocess
import tarfile
import time
from pathlib import Path

import docker
import pytest

from tests.e2e.api.conftest import DOCKER, install_compose
from tests.integration.distribution.conftest import serve  # noqa: F401 - a fixture

pytestmark = pytest.mark.root


def on_dockerd(engine) -> bool:
    return hasattr(engine, "label")


def run_labels(engine) -> dict[str, str]:
    """The labels docker-py's containers need so the anchor's cleanup finds them."""
    return dict([engine.label.split("=", 1)]) if on_dockerd(engine) else {}


def test_container_commands_answer_as_dockerd(engine_api, tmp_path):
    run_makes_its_working_dir_and_refuses_as_dockerd(engine_api)
    d, u = engine_api.docker, secrets.token_hex(3)
    name, other, gone = f"par-{u}", f"par-{u}-q", f"par-{u}-gone"
    d("run", "-d", "--name", name, "busybox", "sleep", "300")
    d("create", "--name", other, "busybox", "sh", "-c", "echo one; echo two")

    # name terms are regular expressions, tried on the name with and without its slash
    for term in (f"^{name}$", f"^/{name}$", f"{u}$"):
        assert d("ps", "-a", "--filter", f"name={term}", "--format", "{{.Names}}").out.split() == [name], term
    # an argument with spaces is quoted in the listing; --size adds the image's size
    command = d("ps", "-a", "--no-trunc", "--filter", f"name={other}", "--format", "{{.Command}}").out.strip()
    assert command == "\"sh -c 'echo one; echo two'\""
    size = d("ps", "-a", "--size", "--filter", f"name={other}", "--format", "{{.Size}}").out.strip()
    assert re.fullmatch(r"0B \(virtual [\d.]+[kM]B\)", size), size

    res = d("top", name, "-bogus", check=False)  # ps's first line, not its usage text
    assert (res.code, res.err.strip()) == (1, "Error response from daemon: ps: error: unsupported SysV option")

    # publish= names a host port (the container's own is expose=)
    d("run", "-d", "--name", other + "p", "-p", "127.0.0.1::80", "busybox", "sleep", "300")
    host_port = d("port", other + "p", "80").out.strip().rsplit(":", 1)[1]
    for term, listed in (("publish=80", []), (f"publish={host_port}", [other + "p"]),
                         (f"publish={host_port}/udp", []), ("expose=80", [other + "p"])):
        assert d("ps", "--filter", term, "--filter", f"name={u}", "--format", "{{.Names}}").out.split() == listed, term
    d("rm", "-f", other + "p")

    # a restarted container runs with ExitCode 0 again, its RestartCount counting
    d("run", "-d", "--name", other + "r", "--restart", "on-failure:1", "busybox", "sh", "-c",
      "if [ -e /ran ]; then exec sleep 300; fi; touch /ran; exit 2")
    deadline = time.monotonic() + 30
    while (shown := d("inspect", "-f", "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}", other + "r").out.split()) \
            != ["1", "running", "0"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert shown == ["1", "running", "0"]
    d("rm", "-f", other + "r")

    # Mounts' Mode is the -v spec's options as written ("z" for a named volume without any)
    d("create", "--name", gone, "-v", f"{gone}-a:/a", "-v", f"{gone}-b:/b:ro,nocopy", "-v", f"{tmp_path}:/c:rw,z",
      "-v", f"{tmp_path}:/d", "-v", "/e", "--mount", f"type=volume,src={gone}-f,dst=/f", "busybox")
    modes = d("inspect", "-f", "{{range .Mounts}}{{.Destination}}={{.Mode}} {{end}}", gone).out.split()
    assert sorted(modes) == ["/a=z", "/b=ro,nocopy", "/c=rw,z", "/d=", "/e=", "/f=z"]
    d("rm", "-v", gone)
    d("volume", "rm", f"{gone}-a", f"{gone}-b", f"{gone}-f")

    d("pause", name)
    res = d("pause", name, check=False)
    assert res.code == 1 and re.fullmatch(r"Error response from daemon: Container [0-9a-f]{64} is already paused",
                                          res.err.strip()), res.err
    res = d("exec", name, "true", check=False)
    assert res.err.strip() == f"Error response from daemon: Container {name} is paused, unpause the container before exec"
    d("unpause", name)

    res = d("kill", "-s", "0", name, check=False)
    assert (res.code, res.err.strip()) == (1, "Error response from daemon: Invalid signal: 0")
    res = d("kill", gone, check=False)
    assert res.err.strip() == f"Error response from daemon: Cannot kill container: {gone}: No such container: {gone}"
    res = d("rename", name, other, check=False)
    assert res.code == 1 and "Error response from daemon: Error when allocating new name: Conflict." in res.err

    # an update asks only for what it names: the CLI sends zeros for the rest
    d("update", "--cpus", "0.5", name)
    d("update", "--restart", "on-failure:3", name)
    shown = d("inspect", "-f", "{{.HostConfig.NanoCpus}} {{.HostConfig.RestartPolicy.Name}}", name).out.split()
    assert shown == ["500000000", "on-failure"]

    d("exec", name, "sh", "-c", "echo in > /f; ln -s f /l; mkdir /sub; echo s > /sub/s; ln -s /sub /lsub")
    d("cp", f"{name}:/l", str(tmp_path / "l1"))  # a symlink is copied as one
    d("cp", "-L", f"{name}:/l", str(tmp_path / "l2"))  # -L: what it leads to (the CLI asks for its linkTarget)
    d("cp", f"{name}:/lsub/", str(tmp_path / "l3"))  # a trailing slash follows it too
    assert (os.readlink(tmp_path / "l1"), (tmp_path / "l2").read_text(), (tmp_path / "l3" / "s").read_text()) == \
        ("f", "in\n", "s\n")
    res = d("cp", f"{name}:/nosuch", str(tmp_path / "x"), check=False)
    assert res.err.strip() == f"Error response from daemon: Could not find the file /nosuch in container {name}"
    (tmp_path / "up").write_text("up\n")
    res = d("cp", str(tmp_path / "up"), f"{name}:/f/below", check=False)
    assert res.err.strip() == "Error response from daemon: extraction point is not a directory"
    d("exec", name, "sh", "-c", "chown 100:100 /f; chown 1:1 /sub/s")
    out = subprocess.run(["tar", "tvf", "-"], input=d_bytes(engine_api, "cp", f"{name}:/f", "-"),
                         capture_output=True).stdout.decode()
    assert out.split()[1] == "100/users", out  # names from the container's passwd and group, none for 100
    copies_over_mounts_as_dockerd(engine_api, tmp_path)


def d_bytes(engine_api, *args: str) -> bytes:
    return subprocess.run([DOCKER, *args], env=engine_api.env, capture_output=True, check=True).stdout


def copies_over_mounts_as_dockerd(engine_api, tmp_path):
    """A copy never replaces a mount point (a symlink to a bound file included), and a stopped
    container's volumes and binds are mounted for a copy."""
    d, u = engine_api.docker, secrets.token_hex(3)
    host, new = tmp_path / "hostdir", tmp_path / "new"
    host.mkdir()
    (host / "f").write_text("orig\n")
    new.write_text("new\n")
    name, stopped, vol = f"parmnt-{u}", f"parstop-{u}", f"parmntv-{u}"
    d("run", "-d", "--name", name, "-v", f"{host / 'f'}:/data/f", "busybox", "sh", "-c",
      "ln -s /data/f /link; touch /ready; sleep 300")
    d("create", "--name", stopped, "-v", f"{host}:/bd", "-v", f"{vol}:/nv", "busybox", "true")
    try:
        assert d("exec", name, "sh", "-c", "until [ -e /ready ]; do sleep 0.05; done; echo ok").out == "ok\n"
        res = d("cp", str(new), f"{name}:/link", check=False)
        assert (res.code, res.err.strip()) == (1, "Error response from daemon: Error processing tar file(exit status 1): "
                                                  "unlinkat /data/f: device or resource busy")
        assert d("exec", name, "cat", "/data/f", "/link").out == "orig\norig\n"  # still the bound file
        d("cp", str(new), f"{stopped}:/bd/x")
        d("cp", str(new), f"{stopped}:/nv/y")
        assert (host / "x").read_text() == "new\n"
        assert d("run", "--rm", "-v", f"{vol}:/nv", "busybox", "cat", "/nv/y").out == "new\n"
        assert d_bytes(engine_api, "cp", f"{stopped}:/bd/f", "-").count(b"orig\n") == 1
    finally:
        d("rm", "-f", name, stopped, check=False)
        d("volume", "rm", vol, check=False)


def test_docker_py_sees_dockerds_fields(engine_api):
    client = engine_api.client()
    c = client.containers.run("busybox", ["sleep", "300"], detach=True, labels=run_labels(engine_api),
                              healthcheck={"test": ["CMD", "true"], "interval": 200_000_000}, environment={"A": "1"})
    try:
        c.exec_run(["sh", "-c", "echo in > /f; chown 1000:1000 /f"])
        attrs = client.api.inspect_container(c.id)
        hc = attrs["HostConfig"]  # every field, though the request named few
        for key, kind in (("Binds", type(None)), ("CapAdd", type(None)), ("Privileged", bool), ("AutoRemove", bool),
                          ("ShmSize", int), ("PidsLimit", type(None)), ("MaskedPaths", list), ("ReadonlyPaths", list),
                          ("Dns", type(None)), ("Memory", int), ("IpcMode", str), ("CgroupnsMode", str)):
            assert isinstance(hc.get(key, KeyError), kind), (key, hc.get(key, "absent"))
        assert hc["ShmSize"] == 64 << 20
        assert attrs["Config"]["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 200_000_000}
        assert attrs["Config"]["Env"][0] == "A=1" and attrs["Config"]["Env"][1].startswith("PATH=")  # the request's first

        stats = c.stats(stream=False)
        usage = stats["cpu_stats"]["cpu_usage"]
        assert isinstance(usage["usage_in_usermode"], int) and isinstance(usage["usage_in_kernelmode"], int)
        assert "total_inactive_file" in stats["memory_stats"]["stats"] or "inactive_file" in stats["memory_stats"]["stats"]

        stream, _ = c.get_archive("/f")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.getmember("f")
        assert (member.uid, member.uname, member.gname, member.pax_headers) == (1000, "", "", {})

        with pytest.raises(docker.errors.APIError) as failed:  # the request's mistake: 400, not 500
            client.containers.run("busybox", "/nosuch", labels=run_labels(engine_api))
        assert failed.value.status_code == 400 and "/nosuch" in str(failed.value)
        assert client.volumes.prune(filters={"label": f"nosuch={secrets.token_hex(3)}"})["VolumesDeleted"] == []
        said = client.containers.run("busybox", ["sh", "-c", "echo 1; echo 2; sleep 0.3; echo e >&2"], detach=True,
                                     labels=run_labels(engine_api))
        try:  # a tail counts the last lines of both streams, then keeps the one asked for
            assert said.wait()["StatusCode"] == 0
            assert (said.logs(stderr=False, tail=2), said.logs(stdout=False, tail=1)) == (b"2\n", b"e\n")
        finally:
            said.remove()
        net = client.networks.create(f"parpy-{secrets.token_hex(3)}")
        try:  # connecting twice is forbidden (403), not a conflict
            net.connect(c, aliases=["al1"])
            with pytest.raises(docker.errors.APIError) as failed:
                net.connect(c)
            assert failed.value.status_code == 403 and "already exists in network" in str(failed.value)
            net.disconnect(c)
            with pytest.raises(docker.errors.APIError) as failed:
                net.disconnect(c)
            assert f"container {c.id} is not connected to network {net.name}" in str(failed.value)
        finally:
            net.remove()

        repo = f"parcommit-{secrets.token_hex(3)}"
        image = c.commit(repository=repo, tag="1", changes=["LABEL x=y"], conf={"Cmd": ["echo", "c"], "Env": ["A=1"]})
        try:  # the request's Config, the changes over it, the container's for the rest
            cfg = image.attrs["Config"]
            assert (cfg["Cmd"], cfg["Labels"]["x"]) == (["echo", "c"], "y")
            assert "A=1" in cfg["Env"] and any(e.startswith("PATH=") for e in cfg["Env"])
        finally:
            client.images.remove(f"{repo}:1")
    finally:
        c.remove(force=True)


def images_answer_as_dockerd(engine_api):
    d, u = engine_api.docker, secrets.token_hex(3)
    repo, made = f"partag-{u}", f"parimg-{u}"
    d("tag", "busybox", f"{repo}:1")
    d("tag", "busybox", f"{repo}:2")
    try:
        listed = d("images", "--filter", f"reference={repo}:1", "--format", "{{.Repository}}:{{.Tag}}").out.split()
        assert listed == [f"{repo}:1"]  # only the tags that match, though the image has others
        listed = d("images", "--filter", f"reference={repo}", "--format", "{{.Repository}}:{{.Tag}}").out.split()
        assert sorted(listed) == [f"{repo}:1", f"{repo}:2"]
        for args in (("rmi", f"nosuch-{u}"), ("history", f"nosuch-{u}"), ("tag", f"nosuch-{u}", "x:1")):
            res = d(*args, check=False)
            assert (res.code, res.err.strip()) == (1, f"Error response from daemon: No such image: nosuch-{u}:latest")

        d("create", "--name", made, "busybox", "true")
        d("commit", "--change", f"LABEL partest={u}", made, made)
        d("rm", made)
        kept = d("image", "prune", "-a", "-f", "--filter", f"label=partest={u}", "--filter", "until=1h").out
        assert made not in kept and d("image", "inspect", made, check=False).code == 0  # made within the hour
        pruned = d("image", "prune", "-a", "-f", "--filter", f"label=partest={u}").out
        assert f"untagged: {made}:latest" in pruned and d("image", "inspect", made, check=False).code == 1
        res = d("image", "prune", "-f", "--filter", "bogus=1", check=False)
        assert res.code == 1 and "invalid filter 'bogus'" in res.err.lower()
    finally:
        d("rmi", f"{repo}:1", f"{repo}:2", check=False)
        d("rmi", made, check=False)


def volumes_networks_and_events_answer_as_dockerd(engine_api):
    d, u = engine_api.docker, secrets.token_hex(3)
    vol, net = f"parvol-{u}", f"parnet-{u}"
    d("volume", "create", "--label", f"partest={u}", vol)
    d("network", "create", "--attachable", "--label", f"partest={u}", net)
    try:
        res = d("volume", "ls", "--filter", "dangling=maybe", check=False)
        assert res.code == 1 and "invalid filter 'dangling=[maybe]'" in res.err.lower()
        if not on_dockerd(engine_api):  # dockerd's own words, but it looks for the plugin for 15 s first
            res = d("volume", "create", "--driver", "nosuch", check=False)
            assert res.code == 1 and 'error looking up volume plugin nosuch: plugin "nosuch" not found' in res.err
            res = d("network", "create", "--driver", "nosuch", f"parx-{u}", check=False)
            assert res.err.strip() == 'Error response from daemon: plugin "nosuch" not found'
        # dockerd 20.10 speaks API 1.41, where prune takes named volumes without --all (1.42+)
        every = () if on_dockerd(engine_api) else ("--all",)
        assert vol in d("volume", "prune", "-f", *every, "--filter", f"label=partest={u}").out.split()

        assert d("network", "inspect", "-f", "{{.Attachable}}", net).out.strip() == "true"
        res = d("network", "ls", "--filter", "type=bogus", check=False)
        assert res.err.strip() == "Error response from daemon: invalid filter: 'type'='bogus'"
        kept = d("network", "prune", "-f", "--filter", f"label=partest={u}", "--filter", "until=1h").out
        assert net not in kept
        assert net in d("network", "prune", "-f", "--filter", f"label=partest={u}").out.split()

        res = d("events", "--since", "2030-01-01T00:00:00", "--until", "2029-01-01T00:00:00", check=False)
        assert res.code == 1 and "cannot be after `until` time" in res.err
    finally:
        d("volume", "rm", vol, check=False)
        d("network", "rm", net, check=False)


def test_prunes_spare_what_label_bang_names(api, busybox):
    """`label!=` (dockerd takes it too; not run against the anchor, where it would prune the host's other objects)."""
    d = api.docker
    for kind in ("volume", "network"):
        d(kind, "create", "--label", "keep=1", f"{kind}-kept")
        d(kind, "create", "--label", "keep=0", f"{kind}-gone")
    assert d("volume", "prune", "-a", "-f", "--filter", "label!=keep=1").out.split()[2:3] == ["volume-gone"]
    assert d("network", "prune", "-f", "--filter", "label!=keep=1").out.split()[2:3] == ["network-gone"]
    assert d("volume", "ls", "-q").out.split() == ["volume-kept"]
    assert "network-kept" in d("network", "ls", "--format", "{{.Name}}").out.split()
    d("create", "--name", "spared", "--label", "keep=1", "busybox", "true")
    d("create", "--name", "pruned", "busybox", "true")
    assert len(d("container", "prune", "-f", "--filter", "label!=keep=1").out.split()) >= 3
    assert d("ps", "-a", "--format", "{{.Names}}").out.split() == ["spared"]
    df = json.loads(d("system", "df", "-v", "--format", "{{json .}}").out)
    assert df["Images"][0]["SharedSize"] == "0B" and df["Images"][0]["Containers"] == "1"


COMPOSE = """\
services:
  init:
    image: busybox
    command: ["true"]
  web:
    image: busybox
    command: ["sleep", "300"]
    depends_on:
      init: {condition: service_completed_successfully}
"""


def test_compose_lists_what_runs(engine_api, tmp_path):
    """`compose ps` asks for running containers with label filters: a finished one-shot service
    is not among them; `compose images` shows when the image was tagged."""
    install_compose(Path(engine_api.env["DOCKER_CONFIG"]))
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    project = f"parc{secrets.token_hex(3)}"

    def compose(*args: str, check: bool = True):
        return engine_api.docker("compose", "--project-directory", str(tmp_path), "-p", project, *args,
                                 check=check, timeout=120)
    compose("up", "-d", "--wait")
    try:
        assert compose("ps", "--format", "{{.Service}}").out.split() == ["web"]
        assert sorted(compose("ps", "-a", "--format", "{{.Service}}").out.split()) == ["init", "web"]
        images = json.loads(compose("images", "--format", "json").out)
        assert images and all(not i["LastTagTime"].startswith("0001-") for i in images)
        compose("stop", "-t", "1", "web")
        res = compose("port", "web", "80", check=False)
        assert (res.code, res.err.strip()) == (1, 'service "web" is not running')
    finally:
        compose("down", "-v", "-t", "1", check=False)


def local_volume_options_mount_what_they_name(engine_api, tmp_path):
    """The local driver's type/device/o (compose's driver_opts): a tmpfs of a size, a bind of a
    host directory; removal unmounts, never deletes through the mount."""
    d, u = engine_api.docker, secrets.token_hex(3)
    host = tmp_path / "host"
    host.mkdir()
    (host / "h.txt").write_text("from host\n")
    tmp, bound = f"partmp-{u}", f"parbind-{u}"
    d("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", tmp)
    d("volume", "create", "-o", "type=none", "-o", f"device={host}", "-o", "o=bind", bound)
    try:
        options = json.loads(d("volume", "inspect", "-f", "{{json .Options}}", tmp).out)
        assert options == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
        script = "df -k /t | tail -1 | awk '{print $1, $2}'; cat /b/h.txt; echo back > /b/c.txt"
        out = d("run", "--rm", "-v", f"{tmp}:/t", "-v", f"{bound}:/b", "busybox", "sh", "-c", script).out
        assert out == "tmpfs 1024\nfrom host\n"
        assert (host / "c.txt").read_text() == "back\n"
        # mounted while a container uses it, unmounted when the last one stops: a tmpfs starts empty again
        point = d("volume", "inspect", "-f", "{{.Mountpoint}}", tmp).out.strip()
        assert not mounted(point)
        user = f"partmpu-{u}"
        d("run", "-d", "--name", user, "-v", f"{tmp}:/t", "busybox", "sleep", "300")
        assert mounted(point)
        assert d("run", "--rm", "-v", f"{tmp}:/t", "busybox", "sh", "-c", "echo x > /t/x; ls /t").out == "x\n"
        assert mounted(point)
        d("stop", "-t", "0", user)  # answered once its volumes are released
        assert not mounted(point)
        d("rm", user)
        assert d("run", "--rm", "-v", f"{tmp}:/t", "busybox", "ls", "/t").out == ""
        for opts, why in ((("-o", "bogus=1"), 'invalid option: "bogus"'),
                          (("-o", "device=/x"), 'missing required option: "type"'),
                          (("-o", "type=none", "-o", "o=bind"), 'missing required option: "device"')):
            res = d("volume", "create", *opts, f"parx-{u}", check=False)
            assert res.err.strip() == f"Error response from daemon: create parx-{u}: {why}"
    finally:
        d("volume", "rm", tmp, bound, check=False)
    assert sorted(p.name for p in host.iterdir()) == ["c.txt", "h.txt"]


def mounted(path: str) -> bool:
    return any(line.split()[4] == path for line in Path("/proc/self/mountinfo").read_text().splitlines())


def run_makes_its_working_dir_and_refuses_as_dockerd(engine_api):
    d, u = engine_api.docker, secrets.token_hex(3)
    name, blank = f"parwd-{u}", f"parep-{u}"
    assert d("run", "--name", name, "-w", "/new/dir", "busybox", "pwd").out == "/new/dir\n"  # made, as Docker does
    assert d("logs", "--details", name).out == " /new/dir\n"  # no extra attributes, then the space
    # Docker's init layer: /.dockerenv and /etc/mtab, never among the container's changes;
    # SizeRw counts the files' bytes, not directories'
    d("rm", name)
    d("create", "--name", name, "busybox", "sh", "-c",
      "ls -l /.dockerenv /etc/mtab | cut -c1-10; echo hello > /f; mkdir /d; rm -r /home")
    assert d("start", "-a", name).out == "-rwxr-xr-x\nlrwxrwxrwx\n"
    assert sorted(d("diff", name).out.split("\n")) == ["", "A /d", "A /f", "D /home"]
    assert d("inspect", "--size", "-f", "{{.SizeRw}}", name).out == "6\n"
    d("rm", name)
    d("create", "--name", blank, "--entrypoint", "", "busybox", "echo", "hi")
    assert d("inspect", "-f", "{{json .Config.Entrypoint}} {{json .Config.Cmd}}", blank).out.strip() == 'null ["echo","hi"]'
    # what the CLI sends for "not set" shows as dockerd keeps it
    shown = d("inspect", "-f", "{{json .HostConfig.MemorySwappiness}} {{json .HostConfig.PidsLimit}} "
                               "{{len .HostConfig.MaskedPaths}} {{len .HostConfig.ReadonlyPaths}}", blank).out.split()
    assert shown[:2] == ["null", "null"] and int(shown[2]) > 0 and int(shown[3]) > 0
    d("rm", blank)
    for flags, why in ((("-w", "rel"), "the working directory 'rel' is invalid, it needs to be an absolute path"),
                       (("--memory", "1k"), "Minimum memory limit allowed is 6MB"),
                       (("--stop-signal", "BOGUS"), "Invalid signal: BOGUS"),
                       (("--volumes-from", f"nosuch-{u}"), f"No such container: nosuch-{u}"),
                       (("--cap-add", "bogus"), 'invalid CapAdd: unknown capability: "CAP_BOGUS"')):
        res = d("run", "--rm", *flags, "busybox", "true", check=False)
        assert (res.code, res.err.splitlines()[0]) == (125, f"docker: Error response from daemon: {why}"), res.err


def test_images_volumes_and_networks_answer_as_dockerd(engine_api, tmp_path):
    """One engine for these (a server per test costs more than the checks)."""
    images_answer_as_dockerd(engine_api)
    volumes_networks_and_events_answer_as_dockerd(engine_api)
    local_volume_options_mount_what_they_name(engine_api, tmp_path)


def test_login_passes_the_token_servers_reason_on(engine_api, serve):  # noqa: F811
    """`docker login` refused by a registry's token server says what the server said (its
    `details`, or its registry errors), as dockerd's distribution client does."""
    from aiohttp import web
    answers = {"alice": {"details": "account locked: try again in 30 s"},
               "bob": {"errors": [{"code": "UNAUTHORIZED", "message": "this account needs a token"}]},
               "carol": "not json"}

    async def v2(request):
        return web.json_response({}, status=401, headers={
            "WWW-Authenticate": f'Bearer realm="http://{request.host}/token",service="parity"'})

    async def token(request):
        import base64
        user = base64.b64decode(request.headers["Authorization"].split()[1]).decode().split(":")[0]
        answer = answers[user]
        return web.json_response(answer, status=401) if isinstance(answer, dict) else web.Response(text=answer, status=401)

    app = web.Application()
    app.router.add_get("/v2/", v2)
    app.router.add_get("/token", token)
    host = serve(app)
    for user, reason in (("alice", "unauthorized: account locked: try again in 30 s"),
                         ("bob", "unauthorized: this account needs a token"),
                         ("carol", "unauthorized: authentication required")):
        res = engine_api.docker("login", host, "-u", user, "--password-stdin", input="secret\n", check=False)
        assert (res.code, res.err.strip()) == (1, f'Error response from daemon: Get "http://{host}/v2/": {reason}')


HARDLINKS = """\
FROM busybox AS one
RUN mkdir /src && echo hi > /src/a && ln /src/a /src/b && mkdir /src/sub && ln /src/a /src/sub/c
FROM busybox
COPY --from=one /src/ /dst/
COPY --from=one /src/a /src/b /two/
COPY d /ctx/
"""


def test_classic_build_keeps_hard_links(engine_api, tmp_path):
    """COPY of a directory (from a stage or the context) keeps the links among its files; files
    named as separate sources are copied apart, as dockerd's classic builder does."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_text("x\n")
    os.link(tmp_path / "d" / "a", tmp_path / "d" / "b")
    (tmp_path / "Dockerfile").write_text(HARDLINKS)
    tag = f"parlinks-{secrets.token_hex(3)}"
    engine_api.docker("build", "-q", "-t", tag, str(tmp_path), timeout=120)
    try:
        out = engine_api.docker("run", "--rm", tag, "stat", "-c", "%h", "/dst/a", "/dst/sub/c", "/two/a", "/ctx/b").out
        assert out.split() == ["3", "3", "1", "2"]
    finally:
        engine_api.docker("rmi", tag, check=False)
    # a prune whose filters select nothing reclaims nothing, the build's leftovers included
    pruned = engine_api.docker("system", "prune", "-f", "--filter", f"label=nosuch={secrets.token_hex(3)}").out
    assert pruned.strip() == "Total reclaimed space: 0B"


def test_attach_announces_its_stream_by_api_version(engine_api):
    """A non-tty attach's upgraded stream is raw-stream before API 1.42 (multiplexed-stream
    from 1.42, which dockerd 20.10 does not speak)."""
    import socket
    d, name = engine_api.docker, f"paratt-{secrets.token_hex(3)}"
    d("create", "--name", name, "busybox", "true")
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(engine_api.url.removeprefix("unix://"))
        sock.settimeout(30)
        sock.sendall(f"POST /v1.41/containers/{name}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\n"
                     "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096) or b"\r\n\r\n"
        sock.close()
        assert head.startswith(b"HTTP/1.1 101") and b"Content-Type: application/vnd.docker.raw-stream\r\n" in head
    finally:
        d("rm", name)


def test_exec_start_failures_answer_as_dockerd(engine_api):
    """A command that cannot start: 126 (dockerd 20.10 says 126 for a missing command too, later
    releases 127: that case is in test_exec_start_failures.py), Docker's words in the exec's
    stream, exec_create and exec_start but no exec_die; an unknown user fails at the start."""
    import time

    d, name = engine_api.docker, f"par-{secrets.token_hex(3)}"
    d("run", "-d", "--name", name, "busybox", "sleep", "300")
    since = f"{time.time():.3f}"
    prefix = "OCI runtime exec failed: exec failed: unable to start container process: "
    res = d("exec", name, "/etc/passwd", check=False)
    assert (res.code, res.out) == (126, f'{prefix}exec: "/etc/passwd": permission denied: unknown\n'), res
    res = d("exec", "-w", "/nonexist", name, "pwd", check=False)
    assert (res.code, res.out) == (126, f'{prefix}chdir to cwd ("/nonexist") set in config.json failed: '
                                        'no such file or directory: unknown\n'), res
    res = d("exec", "-u", "ghost", name, "true", check=False)
    assert (res.code, res.out) == (126, "unable to find user ghost: no matching entries in passwd file\n"), res
    assert d("exec", name, "sh", "-c", "exit 7", check=False).code == 7
    actions = d("events", "--since", since, "--until", f"{time.time():.3f}", "--filter", f"container={name}",
                "--format", "{{.Action}}").out.splitlines()
    assert actions == ["exec_create: /etc/passwd ", "exec_start: /etc/passwd ", "exec_create: pwd ", "exec_start: pwd ",
                       "exec_create: true ", "exec_start: true ", "exec_create: sh -c exit 7",
                       "exec_start: sh -c exit 7", "exec_die"]
