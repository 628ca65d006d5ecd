"""testcontainers-python against `dockyard serve`: a container waited on by its logs, its
exposed port found and reached, exec, and cleanup."""

from __future__ import annotations

import urllib.request

import pytest

pytestmark = pytest.mark.root


def test_testcontainers_container(api, busybox, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", api.url)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")  # its reaper image is not to be had offline
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    script = "mkdir /www && echo served > /www/index.html && echo ready && exec httpd -f -p 8080 -h /www"
    container = DockerContainer("busybox").with_command(["sh", "-c", script]).with_exposed_ports(8080)
    with container.waiting_for(LogMessageWaitStrategy("ready").with_startup_timeout(30)) as c:
        host, port = c.get_container_host_ip(), c.get_exposed_port(8080)
        with urllib.request.urlopen(f"http://{host}:{port}/", timeout=10) as r:
            assert r.read() == b"served\n"
        code, out = c.exec(["cat", "/www/index.html"])
        assert code == 0 and out == b"served\n"
        cid = c.get_wrapped_container().id
    assert api.docker("ps", "-aq", "--no-trunc").out.split().count(cid) == 0


def test_testcontainers_wait_strategies_and_aliases(api, busybox, monkeypatch):
    """A port, an HTTP answer and a health check waited on; a network alias another container reaches."""
    monkeypatch.setenv("DOCKER_HOST", api.url)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network
    from testcontainers.core.wait_strategies import HealthcheckWaitStrategy, HttpWaitStrategy, PortWaitStrategy

    script = "mkdir /www && echo served > /www/index.html && touch /tmp/up && exec httpd -f -p 8080 -h /www"
    health = {"test": ["CMD", "test", "-e", "/tmp/up"], "interval": 200_000_000}
    with Network() as net:
        server = (DockerContainer("busybox").with_command(["sh", "-c", script]).with_exposed_ports(8080)
                  .with_network(net).with_network_aliases("web").with_kwargs(healthcheck=health))
        wait = [PortWaitStrategy(8080), HttpWaitStrategy(8080, "/index.html").for_status_code(200),
                HealthcheckWaitStrategy()]
        with server.waiting_for(wait[0].with_startup_timeout(30)) as s:
            for strategy in wait[1:]:
                strategy.with_startup_timeout(30).wait_until_ready(s)
            wrapped = s.get_wrapped_container()
            wrapped.reload()
            assert wrapped.attrs["State"]["Health"]["Status"] == "healthy"
            with DockerContainer("busybox").with_command(["sleep", "30"]).with_network(net) as client:
                code, out = client.exec(["wget", "-qO-", "http://web:8080/index.html"])
                assert (code, out) == (0, b"served\n")
