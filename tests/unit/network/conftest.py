"""The service under test, wired to recording fakes of the kernel seams."""

from ipaddress import IPv4Network

import pytest

from dockyard.network.config import NetworkConfig
from dockyard.network.files import parse_resolv
from dockyard.network.owners import Registry
from dockyard.network.service import NetworkService
from dockyard.store.metadata import MetadataDB

from .fakes import FakeDns, FakeFirewall, FakeNetlink


@pytest.fixture
def svc(tmp_path):
    db = MetadataDB(tmp_path / "dockyard.db")
    s = NetworkService(db, tmp_path / "root", tmp_path / "run", NetworkConfig("0123abcd", "dyt0", "10.213.200.0/24", "dyt"),
                       netlink=FakeNetlink(), fw=FakeFirewall(), dns=FakeDns(),
                       host_resolvers=lambda: (parse_resolv("nameserver 192.0.2.53\nsearch example.org\n"), None),
                       host_routes=lambda: [(IPv4Network("192.0.2.0/24"), "eth0")], registry=Registry(tmp_path / "registry"))
    yield s
    db.close()
