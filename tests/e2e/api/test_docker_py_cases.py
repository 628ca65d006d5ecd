"""Cases docker-py's own integration suite checks, where dockyard answered otherwise than
dockerd: each runs against `dockyard serve` and the host's dockerd (the anchor), with docker-py's
low-level client as that suite uses it. Objects carry a random suffix, containers the anchor's
label, so nothing else on the anchor is touched."""

from __future__ import annotations

import secrets

import docker
import pytest

from tests.e2e.api.test_client_parity import on_dockerd, run_labels

pytestmark = pytest.mark.root


def low_level(engine) -> docker.APIClient:
    return engine.client().api


def test_commit_with_pause_while_the_container_exits(engine_api):
    """docker-py's test_commit_with_changes: start a container that ends at once and commit
    it (pause=True, the default). The freeze races the exit; the commit must not fail."""
    api = low_level(engine_api)
    for _ in range(6):
        cid = api.create_container("busybox", ["touch", "/test"], labels=run_labels(engine_api))["Id"]
        try:
            api.start(cid)
            image = api.commit(cid, changes=["EXPOSE 8000", 'CMD ["sh"]'])["Id"]
            config = api.inspect_image(image)["Config"]
            assert "8000/tcp" in config["ExposedPorts"] and config["Cmd"] == ["sh"]
            api.remove_image(image)
        finally:
            api.remove_container(cid, force=True)


def test_runtime_beside_host_config(engine_api):
    """create_container(runtime="runc") sends Runtime beside HostConfig; inspect shows runc."""
    api = low_level(engine_api)
    cid = api.create_container("busybox", ["true"], runtime="runc", labels=run_labels(engine_api))["Id"]
    try:
        assert api.inspect_container(cid)["HostConfig"]["Runtime"] == "runc"
    finally:
        api.remove_container(cid, force=True)


def test_ipam_options_as_the_request_gave_them(engine_api):
    """IPAM.Options is null when the request had none (docker-py), {} or the map when it had
    one (the docker CLI always sends one)."""
    api, u = low_level(engine_api), secrets.token_hex(3)
    pool = docker.types.IPAMPool(subnet="172.28.0.0/16", iprange="172.28.5.0/24", gateway="172.28.5.254")
    net = api.create_network(f"ipam-{u}", ipam=docker.types.IPAMConfig(pool_configs=[pool]))["Id"]
    try:
        ipam = api.inspect_network(net)["IPAM"]
        assert ipam["Options"] is None
        assert ipam["Config"] == [{"Subnet": "172.28.0.0/16", "IPRange": "172.28.5.0/24", "Gateway": "172.28.5.254"}]
    finally:
        api.remove_network(net)
    for args, shown in (((), {}), (("--ipam-opt", "a=b"), {"a": "b"})):
        engine_api.docker("network", "create", *args, f"ipam-{u}")
        try:
            assert api.inspect_network(f"ipam-{u}")["IPAM"]["Options"] == shown
        finally:
            engine_api.docker("network", "rm", f"ipam-{u}")


def test_volume_created_without_a_name_is_pruned(engine_api):
    """docker-py's test_prune_volumes: a volume created without a name goes with a plain prune
    (moby marks it anonymous, and since 1.42 a prune takes only anonymous ones; the 20.10 anchor
    takes every unused one). An unnamed volume a container names in -v outlives `rm -v` of it."""
    api, u = low_level(engine_api), secrets.token_hex(3)
    mine = {"dockyard.test.volume": u}  # the prune takes this test's volumes only
    unnamed, named = api.create_volume(labels=mine)["Name"], api.create_volume(f"kept-{u}", labels=mine)["Name"]
    kept = api.create_volume()["Name"]
    cid = api.create_container("busybox", ["true"], labels=run_labels(engine_api),
                               host_config=api.create_host_config(binds=[f"{kept}:/data"]))["Id"]
    api.remove_container(cid, v=True)
    try:
        assert api.inspect_volume(kept)["Name"] == kept
        if not on_dockerd(engine_api):  # the label came with moby 23
            assert api.inspect_volume(unnamed)["Labels"] == {**mine, "com.docker.volume.anonymous": ""}
        deleted = api.prune_volumes(filters={"label": f"dockyard.test.volume={u}"})["VolumesDeleted"] or []
        assert unnamed in deleted
        assert (named in deleted) == on_dockerd(engine_api)
    finally:
        for name in (named, kept):
            try:
                api.remove_volume(name, force=True)
            except docker.errors.NotFound:
                pass


def test_body_keys_match_whatever_their_case(engine_api):
    """Go decodes a body's keys into struct fields without regard to case: docker-py sends an
    exec's `detachKeys` so (its test_detach_with_config_file), and lower-case create fields work."""
    api = low_level(engine_api)
    made = api._post_json(api._url("/containers/create"), data={
        "image": "busybox", "cmd": ["sh", "-c", "cat"], "openStdin": True,
        "labels": {"Lower": "case", **run_labels(engine_api)}, "hostConfig": {"init": False}})
    assert made.status_code == 201, made.text
    cid = made.json()["Id"]
    try:
        config = api.inspect_container(cid)["Config"]
        assert config["Cmd"] == ["sh", "-c", "cat"] and config["OpenStdin"] is True
        assert config["Labels"]["Lower"] == "case"  # a map's own keys keep their case
        api.start(cid)
        exec_id = api.exec_create(cid, "cat", stdin=True, tty=True, stdout=True, detach_keys="ctrl-p")
        assert api.exec_inspect(exec_id)["DetachKeys"] == "EA=="  # the keys' bytes, as a Go []byte shows them
        sock = api.exec_start(exec_id, tty=True, socket=True)._sock
        try:
            sock.sendall(b"\x10")
            sock.settimeout(10)
            after = b""
            try:
                sock.sendall(b"not for cat\n")
                after = sock.recv(128)
            except OSError:
                pass  # closed already
            assert after == b"" or after.startswith(b"exec attach failed: error on attach stdin: read escape sequence")
        finally:
            sock.close()
    finally:
        api.remove_container(cid, force=True)
