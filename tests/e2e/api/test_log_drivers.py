"""HostConfig.LogConfig.Type: json-file, local (read back like json-file, shown as local) and
none (nothing kept: reading answers Docker's 501); unknown drivers refused at create."""

from __future__ import annotations

import docker.errors
import pytest

from tests.helpers.rawhttp import upgraded

pytestmark = pytest.mark.root


def test_local_and_none_through_the_cli(api, busybox):
    assert api.docker("run", "--name", "loc", "--log-driver", "local", "busybox", "echo", "kept").out == "kept\n"
    assert api.docker("logs", "loc").out == "kept\n"
    assert api.docker("inspect", "-f", "{{.HostConfig.LogConfig.Type}}", "loc").out.strip() == "local"
    # attached output still reaches the client; nothing is kept to read later
    assert api.docker("run", "--name", "quiet", "--log-driver", "none", "busybox", "echo", "gone").out == "gone\n"
    r = api.docker("logs", "quiet", check=False)
    assert r.code == 1 and "configured logging driver does not support reading" in r.err
    assert api.docker("inspect", "-f", "{{.HostConfig.LogConfig.Type}}/{{.LogPath}}/", "quiet").out.strip() == "none//"
    r = api.docker("run", "--rm", "--log-driver", "nosuch", "busybox", "true", check=False)
    assert r.code == 125 and "logger: no log driver named 'nosuch' is registered" in r.err
    r = api.docker("run", "--rm", "--log-driver", "local", "--log-opt", "bad=1", "busybox", "true", check=False)
    assert r.code == 125 and "unknown log opt 'bad' for log driver local" in r.err


def test_log_drivers_through_docker_py(api, busybox):
    from docker.types import LogConfig
    client = api.client()
    c = client.containers.run("busybox", "echo local", detach=True, log_config=LogConfig(type="local"))
    assert c.wait()["StatusCode"] == 0 and c.logs() == b"local\n"
    c = client.containers.run("busybox", "echo none", detach=True, log_config=LogConfig(type="none"))
    c.wait()
    with pytest.raises(docker.errors.APIError) as e:
        c.logs()
    assert e.value.status_code == 501 and "configured logging driver does not support reading" in str(e.value)
    assert c.attrs["HostConfig"]["LogConfig"] == {"Type": "none", "Config": {}}
    # attach's log replay says so on the stream, as dockerd does (read raw: docker-py loses
    # bytes that arrive with the upgrade's headers, against dockerd as well)
    s = upgraded(api.sock, f"/v1.47/containers/{c.id}/attach?logs=1&stdout=1&stderr=1")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    text = b"Error attaching: configured logging driver does not support reading\n"
    assert data == b"\x01\x00\x00\x00" + len(text).to_bytes(4, "big") + text  # one stdout frame
    with pytest.raises(docker.errors.APIError) as e:
        client.containers.create("busybox", "true", log_config=LogConfig(type="nosuch"))
    assert e.value.status_code == 400 and "logger: no log driver named 'nosuch' is registered" in str(e.value)
    with pytest.raises(docker.errors.APIError) as e:
        client.containers.create("busybox", "true", log_config=LogConfig(type="json-file", config={"mode": "x"}))
    assert e.value.status_code == 400 and "logger: logging mode not supported: x" in str(e.value)
