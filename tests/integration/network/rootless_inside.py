"""What a rootless engine does inside its namespaces, for tests/integration/network/test_rootless_net.py:
run as the throwaway user inside the stand-in pause process's user, mount and network namespaces.

    python rootless_inside.py up DIR PORT     a user network "rn" with containers c1 (port 80 published on
                                              PORT) and c2; prints {"c1": {...}, "c2": {...}} as JSON
    python rootless_inside.py attach DIR NAME PORT    one more container on "rn", port 80 published on PORT
    python rootless_inside.py detach DIR NAME         its network gone
    python rootless_inside.py publish DIR HOST_IP HOST_PORT IP PORT [PROTO]
    python rootless_inside.py unpublish DIR HOST_IP HOST_PORT [PROTO]
    python rootless_inside.py down DIR        every container and network gone
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dockyard.errors import DockyardError
from dockyard.network import owners, rootless
from dockyard.network.config import NetworkConfig
from dockyard.network.ports import PortBinding, parse_publish
from dockyard.network.rootless.publishing import Publishing
from dockyard.network.service import NetworkService
from dockyard.store.metadata import MetadataDB


def service(directory: Path) -> Publishing:
    """The engine's network service, wrapped as the core wraps it for a rootless engine."""
    db = MetadataDB(directory / "dockyard.db")
    return Publishing(NetworkService(db, directory, directory / "run", NetworkConfig("dyrnt", "dyrnt0", None, "dyrnt"),
                                     registry=owners.Registry(directory / "roots")), rootless.Outside(directory / "run"))


def main(argv: list[str]) -> None:
    what, directory = argv[0], Path(argv[1])
    outside = rootless.Outside(directory / "run")
    if what == "up":
        svc = service(directory)
        svc.create("rn")
        out = {}
        for name, ports in (("c1", parse_publish(f"{argv[2]}:80")), ("c2", [])):
            a = svc.attach(name * 32, name, hostname=name, files_dir=directory / name, ports=ports, mode="rn")
            out[name] = {"ip": a.ip, "gateway": a.gateway, "netns": a.netns_path}
        print(json.dumps(out))
    elif what == "attach":
        svc = service(directory)
        cid = argv[2] * (64 // len(argv[2]))
        try:
            svc.attach(cid, argv[2], hostname=argv[2], files_dir=directory / argv[2],
                       ports=parse_publish(f"{argv[3]}:80"), mode="rn")
        finally:
            print(json.dumps({"attached": svc.attachment(cid) is not None,
                              "published": [b.host_port for b, _ in rootless.published(outside)]}))
    elif what == "detach":
        service(directory).detach(argv[2] * (64 // len(argv[2])))
    elif what == "publish":
        rootless.publish(outside, [PortBinding(argv[2], int(argv[3]), int(argv[5]), (argv[6:] or ["tcp"])[0])], argv[4])
    elif what == "unpublish":
        rootless.unpublish(outside, [PortBinding(argv[2], int(argv[3]), 0, (argv[4:] or ["tcp"])[0])])
    elif what == "down":
        svc = service(directory)
        svc.reconcile(set())
        assert rootless.published(outside) == [], "a published port outlived its container"
        svc.remove("rn")
        svc.prune()


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except DockyardError as e:
        sys.stderr.write(f"{e.message}\n")
        sys.exit(125)
