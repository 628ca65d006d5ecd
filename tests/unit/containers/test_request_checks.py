"""Docker's checks of a create request that need no kernel: log drivers, --volumes-from specs,
the docker CLI's "default" endpoint."""

from __future__ import annotations

import pytest

from dockyard.containers import logdrivers
from dockyard.containers.mounts import parse_volumes_from
from dockyard.containers.request import networking_config
from dockyard.errors import InvalidArgument


def test_log_drivers():
    assert logdrivers.check({}) == {"Type": "json-file", "Config": {}}
    assert logdrivers.check({"Type": "none", "Config": {"anything": "1"}})["Type"] == "none"
    local = {"Type": "local", "Config": {"max-file": "2"}}
    assert logdrivers.limits({"LogConfig": logdrivers.check(local)}) == {"max-size": "20m", "max-file": "2"}
    for log, words in [({"Type": "X"}, "logger: no log driver named 'X' is registered"),
                       ({"Type": "syslog"}, "log driver 'syslog' is not supported by dockyard"),
                       ({"Config": {"bad": "1"}}, "unknown log opt 'bad' for json-file log driver"),
                       ({"Type": "local", "Config": {"bad": "1"}}, "unknown log opt 'bad' for log driver local"),
                       ({"Config": {"mode": "sometimes"}}, "logger: logging mode not supported: sometimes"),
                       ({"Config": {"max-buffer-size": "1m"}}, "only supported with 'mode=non-blocking'")]:
        with pytest.raises(InvalidArgument, match=words):
            logdrivers.check(log)
    assert logdrivers.check({"Config": {"mode": "non-blocking", "max-buffer-size": "1m", "tag": "x"}})


def test_volumes_from_specs():
    assert parse_volumes_from("data") == ("data", False)
    assert parse_volumes_from("data:ro") == ("data", True)
    assert parse_volumes_from("data:rw") == ("data", False)
    with pytest.raises(InvalidArgument, match="invalid mode: z"):
        parse_volumes_from("data:z")
    with pytest.raises(InvalidArgument, match="cannot be an empty string"):
        parse_volumes_from("")


def test_the_default_endpoint_is_the_bridges():
    nc = {"EndpointsConfig": {"default": {"MacAddress": "02:42:ac:11:00:02"}}}
    assert networking_config(nc, "bridge") == {"EndpointsConfig": {"bridge": {"MacAddress": "02:42:ac:11:00:02"}}}
    assert networking_config({}, "bridge") == {"EndpointsConfig": {}}
