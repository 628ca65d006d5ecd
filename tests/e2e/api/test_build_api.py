"""POST /build as Docker's classic builder answers it, through the docker CLI (DOCKER_BUILDKIT=0)
and docker-py: the step stream, failures, cache-from, extra hosts, user networks, parameters."""

from __future__ import annotations

import io
import json
import re
import tarfile
import urllib.parse

import pytest

from tests.integration.distribution.test_cli_push_pull import own_registry  # noqa: F401 - a fixture

pytestmark = pytest.mark.root


def _tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _post_build(api, params: dict | list, body: bytes) -> tuple[int, list[dict] | str]:
    """A raw POST /build on the server's socket: (status, the JSON messages or the error text)."""
    import http.client
    import socket

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(str(api.sock))

    conn = Conn("localhost", timeout=60)
    conn.request("POST", "/v1.47/build?" + urllib.parse.urlencode(params, doseq=True), body,
                 {"Content-Type": "application/x-tar"})
    resp = conn.getresponse()
    data = resp.read().decode()
    conn.close()
    if resp.status != 200:
        return resp.status, json.loads(data)["message"]
    return resp.status, [json.loads(line) for line in data.splitlines() if line.strip()]


def _leave_build(api, query: str, dockerfile: str, until: bytes, before_leaving=None) -> None:
    """Start a build, read its stream until `until` shows (then call `before_leaving`), then
    hang up as a ^C'd client does."""
    import socket

    client = socket.socket(socket.AF_UNIX)
    client.connect(str(api.sock))
    body = _tar({"Dockerfile": dockerfile})
    client.sendall(b"POST /v1.47/build?%s HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\n"
                   b"Content-Length: %d\r\n\r\n" % (query.encode(), len(body)) + body)
    seen = b""
    while until not in seen:
        chunk = client.recv(65536)
        assert chunk, seen
        seen += chunk
    if before_leaving is not None:
        before_leaving()
    client.close()


def _unix_sockets(path) -> int:
    """How many sockets are bound to `path`: the listener and the server's ends of its connections."""
    with open("/proc/net/unix") as f:
        return sum(1 for line in f if line.split()[-1] == str(path))


def _short(image_id: str) -> str:
    return image_id.split(":")[-1][:12]


def test_stream_is_the_classic_builders(api, busybox, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nARG WHO=nobody\nRUN echo out-$WHO; echo err-$WHO >&2\n"
                                    "ENV A=1\n")
    out = api.docker("build", "-t", "classic", "-t", "classic:v2", "--build-arg", "WHO=api", "--build-arg", "ZZ=1",
                     "--build-arg", "AA=2", "--label", "team=x", str(ctx)).out
    image = api.docker("image", "inspect", "-f", "{{.Id}}", "classic").out.strip()
    lines = out.splitlines()
    steps = [line for line in lines if line.startswith("Step ")]
    assert steps == ["Step 1/5 : FROM busybox", "Step 2/5 : ARG WHO=nobody",
                     "Step 3/5 : RUN echo out-$WHO; echo err-$WHO >&2", "Step 4/5 : ENV A=1",
                     "Step 5/5 : LABEL team=x"], out
    assert lines[lines.index(steps[0]) + 1] == f" ---> {_short(busybox)}"
    run_at = lines.index(steps[2])
    running = re.fullmatch(r" ---> Running in ([0-9a-f]{12})", lines[run_at + 1])
    assert running, out
    assert "out-api\n" in out and "\033[91merr-api\n\033[0m" in out, out  # stderr in red, as dockerd sends it
    assert f" ---> Removed intermediate container {running.group(1)}\n" in out
    assert lines[-5:] == [f" ---> {_short(image)}", "[Warning] One or more build-args [AA ZZ] were not consumed",
                          f"Successfully built {_short(image)}",
                          "Successfully tagged classic:latest", "Successfully tagged classic:v2"], out
    labels = json.loads(api.docker("image", "inspect", "-f", "{{json .Config.Labels}}", "classic").out)
    assert labels == {"team": "x"}

    again = api.docker("build", "-t", "classic", "--build-arg", "WHO=api", "--label", "team=x", str(ctx)).out
    assert again.count(" ---> Using cache") == 3 and "Running in" not in again
    assert f"Successfully built {_short(image)}" in again

    # the raw stream: stderr in red as dockerd marks it, the image ID in aux
    status, msgs = _post_build(api, {"t": "raw", "buildargs": json.dumps({"WHO": "raw"}), "nocache": "1"},
                               _tar({"Dockerfile": (ctx / "Dockerfile").read_text()}))
    assert status == 200
    assert {"stream": "\033[91merr-raw\n\033[0m"} in msgs and {"stream": "out-raw\n"} in msgs, msgs
    raw = api.docker("image", "inspect", "-f", "{{.Id}}", "raw").out.strip()
    assert [m["aux"]["ID"] for m in msgs if "aux" in m] == [raw]

    quiet = api.docker("build", "-q", "--build-arg", "WHO=api", "--label", "team=x", str(ctx)).out
    assert quiet.strip() == image
    assert api.docker("build", "-q", "-", input="FROM busybox\n").out.strip() == busybox  # nothing added


def test_failing_run_says_what_docker_says(api, busybox, tmp_path):
    res = api.docker("build", "-", input="FROM busybox\nRUN echo before; exit 3\n", check=False)
    assert res.code == 3, res.out + res.err
    assert "before" in res.out
    assert res.err.strip().endswith("The command '/bin/sh -c echo before; exit 3' returned a non-zero code: 3"), res.err
    status, msgs = _post_build(api, {}, _tar({"Dockerfile": 'FROM busybox\nRUN ["false"]\n'}))
    assert msgs[-1] == {"errorDetail": {"code": 1, "message": "The command 'false' returned a non-zero code: 1"},
                        "error": "The command 'false' returned a non-zero code: 1"}
    assert not any("Removed intermediate" in m.get("stream", "") for m in msgs)
    status, msgs = _post_build(api, {"forcerm": "1"}, _tar({"Dockerfile": 'FROM busybox\nRUN ["false"]\n'}))
    assert msgs[-2]["stream"].startswith(" ---> Removed intermediate container ") and "errorDetail" in msgs[-1]
    status, msgs = _post_build(api, {"rm": "0"}, _tar({"Dockerfile": "FROM busybox\nRUN true\n"}))
    assert status == 200 and not any("Removed intermediate" in m.get("stream", "") for m in msgs), msgs
    quiet = api.docker("build", "-q", "-", input="FROM busybox\nRUN exit 1\n", check=False)
    assert quiet.code == 1 and "Step 2/2 : RUN exit 1" in quiet.err + quiet.out
    assert "The command '/bin/sh -c exit 1' returned a non-zero code: 1" in quiet.err


def test_run_limits(api, busybox):
    dockerfile = ("FROM busybox\nRUN test \"$(ulimit -Sn) $(ulimit -Hn)\" = \"512 1024\" && "
                  "df -k /dev/shm | grep -q ' 4096 '\n")
    out = api.docker("build", "--ulimit", "nofile=512:1024", "--shm-size", "4m", "-", input=dockerfile).out
    assert "Successfully built" in out, out
    # limits are not part of a step's cache key (nor are they in dockerd's), hence --no-cache
    wrong = api.docker("build", "--no-cache", "--ulimit", "nofile=512:1024", "-", input=dockerfile, check=False)
    assert wrong.code == 1 and "returned a non-zero code: 1" in wrong.err, wrong.out + wrong.err


def test_a_client_that_leaves_cancels_the_build(api, busybox):
    import socket

    from tests.helpers.waiting import wait_for

    signal = socket.create_server(("127.0.0.1", 0))
    signal.settimeout(120)  # a bound on a wedged build, never reached by a working one
    port = signal.getsockname()[1]
    dockerfile = f"FROM busybox\nRUN echo one | nc 127.0.0.1 {port}\nRUN echo two | nc 127.0.0.1 {port}\n"
    held = []
    # the client leaves once the first RUN is in nc, talking to us: the step is surely running
    _leave_build(api, "t=cancelled", dockerfile, b"Running in", before_leaving=lambda: held.append(signal.accept()[0]))
    (first,) = held
    first.settimeout(120)
    assert first.recv(100) == b"one\n"
    # the server has seen us go once its end of the connection is closed too (only the listener left)
    wait_for(lambda: _unix_sockets(api.sock) == 1, what="the server to drop the connection")
    wait_for(lambda: "build cancelled" in api.log, what="the server to cancel the build")
    first.close()
    signal.settimeout(0.5)
    with pytest.raises(TimeoutError):  # the second RUN never ran: the build had ended before
        signal.accept()
    signal.close()
    assert api.docker("images", "-q", "cancelled").out == ""


def test_a_client_that_leaves_stops_a_running_step(api, busybox):
    from tests.helpers.waiting import wait_for

    _leave_build(api, "", "FROM busybox\nRUN echo started; sleep 600\n", b"started")
    wait_for(lambda: "build cancelled" in api.log, what="the server to stop the sleeping step")


def test_onbuild_triggers_run_under_from(api, busybox):
    api.docker("build", "-t", "onb", "-", input="FROM busybox\nONBUILD RUN echo triggered > /t\n")
    out = api.docker("build", "-t", "child", "-", input="FROM onb\nRUN cat /t\n").out
    lines = out.splitlines()
    at = lines.index("Step 1/2 : FROM onb")
    assert lines[at + 1:at + 3] == ["# Executing 1 build trigger", lines[at + 2]], out
    assert lines[at + 2].startswith(" ---> Running in ") and "Step 2/2 : RUN cat /t" in lines, out
    assert lines.count("triggered") == 1, out  # cat of what the trigger wrote


def test_each_stage_ends_on_its_image_id(api, busybox):
    """Steps before a stage's last show an ID of their own; the last one shows the image's, here
    the trigger's when a child adds nothing of its own, and the label's after many labels."""
    api.docker("build", "-t", "onb2", "-", input="FROM busybox\nONBUILD LABEL from=trigger\n")
    for name, dockerfile in [("child2", "FROM onb2\n"),
                             ("labels", "FROM busybox\n" + "".join(f"LABEL l{i}={i}\n" for i in range(50)))]:
        out = api.docker("build", "-t", name, "-", input=dockerfile).out
        image = api.docker("image", "inspect", "-f", "{{.Id}}", name).out.strip()
        shown = [line.removeprefix(" ---> ") for line in out.splitlines() if re.fullmatch(r" ---> [0-9a-f]{12}", line)]
        assert shown[-1] == _short(image) and f"Successfully built {_short(image)}" in out, out
        assert len(set(shown)) == len(shown), out


def test_base_images_are_pulled_when_missing_or_asked(api, busybox, own_registry):  # noqa: F811
    ref = f"{own_registry}/team/base:1"
    api.docker("tag", "busybox", ref)
    api.docker("push", ref)
    api.docker("rmi", ref)
    out = api.docker("build", "-", input=f"FROM {ref}\nRUN true\n").out
    assert f"Step 1/2 : FROM {ref}\n1: Pulling from team/base\n" in out, out  # named, then pulled
    assert f"Status: Downloaded newer image for {ref}\n ---> {_short(busybox)}\n" in out, out
    again = api.docker("build", "-", input=f"FROM {ref}\nRUN true\n").out
    assert "Pulling from" not in again, again
    pulled = api.docker("build", "--pull", "-", input=f"FROM {ref}\nRUN true\n").out
    assert "Pulling from team/base" in pulled, pulled


def test_cache_from_is_the_only_cache(api, busybox, tmp_path):
    dockerfile = "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n"
    api.docker("build", "-t", "src:1", "-", input=dockerfile)
    source = api.docker("image", "inspect", "-f", "{{.Id}}", "src:1").out.strip()
    # the local cache would hit both steps, but the named image does not have them
    api.docker("build", "-t", "other", "-", input="FROM busybox\nLABEL x=y\n")
    out = api.docker("build", "--cache-from", "other", "-t", "fresh", "-", input=dockerfile).out
    assert "Using cache" not in out and out.count("Running in") == 2, out
    # with the source named, every step comes from it, and so does the image
    out = api.docker("build", "--cache-from", "src:1", "-t", "again", "-", input=dockerfile).out
    assert out.count(" ---> Using cache") == 2 and "Running in" not in out, out
    assert api.docker("image", "inspect", "-f", "{{.Id}}", "again").out.strip() == source
    # a changed command misses there and in everything after it
    changed = "FROM busybox\nRUN echo one > /one\nRUN echo 2 > /two\nRUN echo three\n"
    out = api.docker("build", "--cache-from", "src:1", "-", input=changed).out
    assert out.count(" ---> Using cache") == 1 and out.count("Running in") == 2, out


def test_extra_hosts_and_user_network(api, busybox):
    api.docker("network", "create", "buildnet")
    api.docker("run", "-d", "--name", "peer", "--network", "buildnet", "busybox", "sleep", "60")
    dockerfile = ("FROM busybox\nRUN grep -E '^10\\.1\\.2\\.3\\s+db\\.example$' /etc/hosts && "
                  "grep -E '^[0-9.]+\\s+gw$' /etc/hosts\n"
                  "RUN nslookup peer > /ns && ping -c1 -W5 peer\n")
    hosts = ["--add-host", "db.example:10.1.2.3", "--add-host", "gw:host-gateway"]
    out = api.docker("build", *hosts, "--network", "buildnet", "--no-cache", "-", input=dockerfile, timeout=120).out
    assert "Successfully built" in out, out
    host = api.docker("build", *hosts, "--network", "host", "-", input=dockerfile.split("RUN nslookup")[0]).out
    assert "Successfully built" in host
    unreachable = api.docker("build", "--network", "none", "-", input="FROM busybox\nRUN ping -c1 -W2 peer\n",
                             check=False)
    assert unreachable.code == 1, unreachable.out
    # the default bridge when named (a namespace of its own: lo and eth0), the host's network by default
    bridge = "FROM busybox\nRUN ls /sys/class/net && test \"$(ls /sys/class/net | wc -l)\" = 2\n"
    assert "Successfully built" in api.docker("build", "--network", "bridge", "-", input=bridge).out
    assert api.docker("build", "-", input=bridge, check=False).code == 1
    missing = api.docker("build", "--network", "nosuchnet", "-", input="FROM busybox\nRUN true\n", check=False)
    assert missing.code == 1 and "nosuchnet" in missing.err and "not found" in missing.err
    api.docker("rm", "-f", "peer")
    api.docker("network", "rm", "buildnet")


def test_docker_py_build_options(api, busybox, tmp_path):
    client = api.client()
    memory = "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null"  # v2 or v1
    context = _tar({"sub/Dockerfile.app": "ARG BASE=busybox\nFROM $BASE AS base\nRUN echo base\nFROM base AS final\nARG V\n"
                    f"RUN {memory} | grep -qx 67108864 && df -k /dev/shm | grep -q 8192 && echo \"v=$V\" > /v\n",
                    "ignored": "x"})
    image, logs = client.images.build(fileobj=io.BytesIO(context), custom_context=True, dockerfile="sub/Dockerfile.app",
                                      tag="py:1", buildargs={"V": "7"}, labels={"a": "b", "c": "$V"}, shmsize=8 << 20,
                                      container_limits={"memory": 64 << 20}, target="final", rm=True,
                                      platform="linux")
    logs = list(logs)
    streams = "".join(m.get("stream", "") for m in logs)
    assert len([m for m in logs if "aux" in m]) == 2 and logs[-3] == {"aux": {"ID": image.id}}, logs  # one a stage
    assert "Step 1/8 : ARG BASE=busybox\nStep 2/8 : FROM $BASE AS base\n" in streams, streams
    assert "Step 8/8 : LABEL c=$V" in streams, streams
    assert "py:1" in image.tags and image.labels == {"a": "b", "c": "$V"}  # never expanded
    stage = client.images.build(fileobj=io.BytesIO(context), custom_context=True, dockerfile="sub/Dockerfile.app",
                                target="base")[0]
    assert stage.id != image.id

    from docker.errors import APIError, BuildError
    with pytest.raises(BuildError) as err:
        client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 4\n"))
    assert str(err.value) == "The command '/bin/sh -c exit 4' returned a non-zero code: 4"
    with pytest.raises(APIError) as err:
        client.images.build(fileobj=io.BytesIO(context), custom_context=True, dockerfile="nope")
    assert err.value.status_code == 404 and "Cannot locate specified Dockerfile: nope" in str(err.value)


@pytest.mark.parametrize("params, status, message", [
    ({"buildargs": "{not json"}, 400, "error reading build args"),
    ({"labels": '{"a": 1}'}, 400, "error reading labels"),
    ({"cachefrom": '"busybox"'}, 400, "error reading cache-from"),
    ({"shmsize": "big"}, 400, "shmsize"),
    ({"memory": "1000"}, 400, "Minimum memory limit allowed is 6MB"),
    ({"platform": "windows/arm64"}, 400, "windows/arm64"),
    ({"t": "x@sha256:" + "a" * 64}, 400, "build tag cannot contain a digest"),
    ({"target": "nosuch"}, 400, 'target stage "nosuch" could not be found'),
    ({"remote": "/etc"}, 400, "could not be recognized as URL"),
    ({"dockerfile": "../../../../etc/passwd"}, 404, "Cannot locate specified Dockerfile"),
    ({"squash": "1"}, 400, "squash is only supported with experimental mode"),
    ({"version": "3"}, 400, "invalid version '3'"),
    ({"version": "2", "remote": "client-session"}, 400, "BuildKit clients build over POST /grpc"),
    ({"networkmode": "nosuchnet"}, 404, "nosuchnet"),
    ({"networkmode": "container:abc"}, 400, "not supported for builds"),
    ({"extrahosts": "nonsense"}, 400, "invalid --add-host nonsense"),
    ({"ulimits": '[{"Name": "nofile"}]'}, 400, "error reading ulimit settings"),
    ({"ulimits": '[{"Name": "nofiles", "Soft": 1, "Hard": 1}]'}, 400, "invalid ulimit type: nofiles"),
    ({"cgroupparent": "elsewhere"}, 400, "cgroupparent is not supported for builds"),
])
def test_bad_parameters_are_refused_before_building(api, busybox, params, status, message):
    got, text = _post_build(api, params, _tar({"Dockerfile": "FROM busybox\nRUN true\n"}))
    assert (got, message in text) == (status, True), text
    assert "Traceback" not in api.log


def test_remote_context(api, busybox, tmp_path):
    import http.server
    import threading

    (tmp_path / "ctx.tar").write_bytes(_tar({"Dockerfile": "FROM busybox\nCOPY hello /hello\n", "hello": "hi\n"}))
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/ctx.tar"
        status, msgs = _post_build(api, {"remote": url, "t": "remote"}, b"")  # as docker-py sends it
    finally:
        server.shutdown()
        server.server_close()
    out = "".join(m.get("stream", "") for m in msgs)
    assert status == 200 and "Step 2/2 : COPY hello /hello" in out and "Successfully tagged remote:latest" in out, msgs
    assert api.docker("run", "--rm", "remote", "cat", "/hello").out == "hi\n"
