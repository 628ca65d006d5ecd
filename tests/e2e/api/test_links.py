"""Legacy links on the default bridge through the docker CLI and docker-py: /etc/hosts
entries, Docker's link variables, inspect's form, the refusals, and removing a link."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.root


def test_legacy_links_on_the_default_bridge(engine_api):
    d = engine_api.docker
    d("run", "-d", "--name", "lnk-db", "-e", "SECRET=s1", "--expose", "5432", "--expose", "5433", "busybox",
      "sleep", "300")
    db = json.loads(d("inspect", "lnk-db").out)[0]
    ip = db["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    out = d("run", "--rm", "--name", "lnk-web", "--link", "lnk-db:db", "busybox", "sh", "-c",
            "grep -w db /etc/hosts; env | grep ^DB_ | sort").out.splitlines()
    assert out[0].split() == [ip, "db", db["Config"]["Hostname"], "lnk-db"]
    each = ["DB_ENV_SECRET=s1", "DB_NAME=/lnk-web/db", f"DB_PORT=tcp://{ip}:5432",
            f"DB_PORT_5432_TCP=tcp://{ip}:5432", f"DB_PORT_5432_TCP_ADDR={ip}", "DB_PORT_5432_TCP_PORT=5432",
            "DB_PORT_5432_TCP_PROTO=tcp", f"DB_PORT_5433_TCP=tcp://{ip}:5433", f"DB_PORT_5433_TCP_ADDR={ip}",
            "DB_PORT_5433_TCP_PORT=5433", "DB_PORT_5433_TCP_PROTO=tcp"]
    # consecutive ports also make a range (moby's links.ToEnv); the 20.10 anchor did not
    ranged = [f"DB_PORT_5432_TCP_START=tcp://{ip}:5432", "DB_PORT_5432_TCP_PORT_START=5432",
              f"DB_PORT_5432_TCP_END=tcp://{ip}:5433", "DB_PORT_5432_TCP_PORT_END=5433"]
    assert out[1:] in (sorted(each + ranged), *((sorted(each),) if hasattr(engine_api, "label") else ()))
    # reachable by the alias
    assert d("run", "--rm", "--link", "lnk-db:db", "busybox", "ping", "-c", "1", "-W", "5", "db").code == 0

    d("create", "--name", "lnk-app", "--link", "lnk-db", "busybox", "true")
    assert json.loads(d("inspect", "lnk-app").out)[0]["HostConfig"]["Links"] == ["/lnk-db:/lnk-app/lnk-db"]
    client = engine_api.client()
    client.api.remove_container("/lnk-app/lnk-db", link=True)
    assert not json.loads(d("inspect", "lnk-app").out)[0]["HostConfig"]["Links"]

    r = d("create", "--link", "no-such-container:x", "busybox", "true", check=False)
    assert r.code != 0 and "could not get container for no-such-container" in r.err
    r = d("create", "--network", "host", "--link", "lnk-db:x", "busybox", "true", check=False)
    assert r.code != 0 and "conflicting options: host type networking can't be used with links" in r.err
    d("stop", "-t", "0", "lnk-db")
    r = d("run", "--rm", "--link", "lnk-db:db", "busybox", "true", check=False)
    assert r.code != 0 and "Cannot link to a non running container: /lnk-db AS /" in r.err
    client.close()
