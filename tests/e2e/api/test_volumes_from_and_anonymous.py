"""Anonymous volumes of Config.Volumes (`docker run -v /data`, docker-py `volumes=`),
HostConfig.VolumesFrom (`name`, `name:ro`, `name:rw`) and HostConfig.VolumeDriver."""

from __future__ import annotations

import docker.errors
import pytest

pytestmark = pytest.mark.root


def test_anonymous_volumes_of_config_volumes(api, busybox):
    api.docker("run", "--name", "anon", "-v", "/data", "busybox", "sh", "-c", "echo kept > /data/f")
    (m,) = api.client().containers.get("anon").attrs["Mounts"]
    assert (m["Type"], m["Destination"], m["Driver"], m["RW"]) == ("volume", "/data", "local", True)
    assert m["Source"].endswith(f"/{m['Name']}/_data") and open(f"{m['Source']}/f").read() == "kept\n"
    assert m["Name"] in api.docker("volume", "ls", "-q").out.split()
    low = api.client().api
    cid = low.create_container("busybox", "sh -c 'mount | grep -c \" /py \"'", volumes=["/py"])["Id"]
    low.start(cid)
    assert low.wait(cid)["StatusCode"] == 0 and low.logs(cid) == b"1\n"
    (m,) = low.inspect_container(cid)["Mounts"]
    assert (m["Destination"], m["Driver"], m["RW"], m["Type"]) == ("/py", "local", True, "volume")
    low.remove_container(cid, v=True)
    assert m["Name"] not in api.docker("volume", "ls", "-q").out.split()  # rm -v takes it along


def test_volumes_from(api, busybox, tmp_path):
    (tmp_path / "b").write_text("bound\n")
    api.docker("run", "--name", "src", "-v", "/data", "-v", "named:/named", "-v", f"{tmp_path}:/bind:ro",
               "busybox", "sh", "-c", "echo d > /data/f; echo n > /named/f")
    out = api.docker("run", "--rm", "--volumes-from", "src", "busybox", "sh", "-c",
                     "cat /data/f /named/f /bind/b; touch /data/y && echo wrote; touch /bind/x || echo ro").out
    assert out.splitlines() == ["d", "n", "bound", "wrote", "ro"]
    r = api.docker("run", "--rm", "--volumes-from", "src:ro", "busybox", "touch", "/named/z", check=False)
    assert r.code == 1 and "Read-only file system" in r.err
    api.docker("create", "--name", "dst", "--volumes-from", "src:rw", "busybox", "true")
    src = {m["Destination"]: m for m in api.client().containers.get("src").attrs["Mounts"]}
    dst = {m["Destination"]: m for m in api.client().containers.get("dst").attrs["Mounts"]}
    assert {d: (m.get("Name"), m["Source"], m["RW"]) for d, m in dst.items()} == \
        {d: (m.get("Name"), m["Source"], m["RW"]) for d, m in src.items()}
    client = api.client()
    out = client.containers.run("busybox", "cat /data/f /data/y", volumes_from=["src:ro"], remove=True)
    assert out == b"d\n"  # /data/y was written by the first run, through the same volume
    with pytest.raises(docker.errors.APIError) as e:
        client.containers.create("busybox", "true", volumes_from=["src:zz"])
    assert e.value.status_code == 400 and "invalid mode: zz" in str(e.value)
    with pytest.raises(docker.errors.APIError) as e:  # dockerd's 400, not 404: a 404 sends clients to pull the image
        client.containers.create("busybox", "true", volumes_from=["ghost"])
    assert e.value.status_code == 400 and "No such container: ghost" in str(e.value)


def test_volume_driver(api, busybox):
    client = api.client()
    assert client.containers.run("busybox", "true", volumes=["/x"], volume_driver="local", remove=True) == b""
    with pytest.raises(docker.errors.NotFound) as e:
        client.api.create_container("busybox", "true", volumes=["/x"],
                                    host_config=client.api.create_host_config(volume_driver="flocker"))
    assert 'error looking up volume plugin flocker: plugin "flocker" not found' in str(e.value)
    before = api.docker("volume", "ls", "-q").out
    r = api.docker("run", "--rm", "--volume-driver", "flocker", "-v", "/x", "busybox", "true", check=False)
    assert r.code != 0 and api.docker("volume", "ls", "-q").out == before  # nothing half-made
    # a driver with nothing to create is never looked up, as in Docker
    assert api.docker("run", "--rm", "--volume-driver", "flocker", "busybox", "echo", "ok").out == "ok\n"
