"""Layers stored uncompressed (after `load`) go compressed on push: gzip by default, zstd on
request, recompressed with --force-compression; a re-push names the same digests and sends nothing."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import Dockyard
from tests.integration.distribution.distribution_support import CountingProxy, start_registry
from tests.integration.registry.registry_harness import skopeo

pytestmark = pytest.mark.root

GZIP, ZSTD = b"\x1f\x8b", b"\x28\xb5\x2f\xfd"


@pytest.fixture
def loaded(dy, busybox, tmp_path):
    """A fresh root holding busybox loaded from a docker-archive: its layer stored as a plain tar."""
    archive = tmp_path / "bb.tar"
    dy("save", "-o", str(archive), "busybox")
    fresh = Dockyard(tmp_path / "loaded", tmp_path / "run-loaded")
    fresh("load", "-i", str(archive))
    layer = json.loads(fresh("image", "inspect", "busybox").out)[0]["RootFS"]["Layers"][0]
    with open(fresh.root / "blobs" / "sha256" / layer[7:], "rb") as f:
        assert f.read(2) not in (GZIP, ZSTD[:2])
    yield fresh
    fresh.cleanup()


def _layers(host: str, ref: str) -> list[dict]:
    raw = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{host}/{ref}").stdout)
    return raw["layers"]


def test_push_compresses_gzip_by_default_and_zstd_on_request(loaded, tmp_path):
    gen = start_registry(tmp_path)
    reg = next(gen)
    proxy = CountingProxy(int(reg.host.rsplit(":", 1)[1]))
    host = f"127.0.0.1:{proxy.port}"
    try:
        loaded("tag", "busybox", f"{host}/lib/bb:gz")
        loaded("push", f"{host}/lib/bb:gz")
        info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{host}/lib/bb:gz").stdout)
        layer = _layers(host, "lib/bb:gz")[0]
        assert info["Layers"] == [layer["digest"]]
        assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
        blob = httpx.get(f"http://{reg.host}/v2/lib/bb/blobs/{layer['digest']}").content
        assert blob[:2] == GZIP and len(blob) == layer["size"]

        before = proxy.sent
        out = loaded("push", f"{host}/lib/bb:gz").out
        assert "Layer already exists" in out and proxy.sent - before < 20_000  # remembered: nothing re-sent

        loaded("tag", "busybox", f"{host}/lib/bb:zst")
        loaded("push", "--compression-format", "zstd", "--compression-level", "5", f"{host}/lib/bb:zst")
        zst = _layers(host, "lib/bb:zst")[0]
        assert zst["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
        assert httpx.get(f"http://{reg.host}/v2/lib/bb/blobs/{zst['digest']}").content[:4] == ZSTD
        skopeo("copy", "--src-tls-verify=false", f"docker://{host}/lib/bb:zst", f"dir:{tmp_path / 'zdir'}")
        assert (tmp_path / "zdir" / zst["digest"].split(":")[1]).read_bytes()[:4] == ZSTD

        other = Dockyard(tmp_path / "r3", tmp_path / "run3")
        other("pull", f"{host}/lib/bb:zst")
        assert other("run", "--rm", "--network", "none", f"{host}/lib/bb:zst", "echo", "zstd ok").out == "zstd ok\n"

        # an already-compressed layer is kept as it is, unless forced
        other("push", f"{host}/lib/bb:zst")  # other's layer is zstd: no gzip unless forced
        assert _layers(host, "lib/bb:zst")[0]["digest"] == zst["digest"]
        other("tag", f"{host}/lib/bb:zst", f"{host}/lib/bb:forced")
        other("push", "--compression-format", "gzip", "--force-compression", f"{host}/lib/bb:forced")
        forced = _layers(host, "lib/bb:forced")[0]
        assert forced["mediaType"].endswith("+gzip") and forced["digest"] == layer["digest"]  # same bytes as before

        # skopeo compresses the same archive with zstd on its own; dockyard reads that back too
        skopeo("copy", "--dest-tls-verify=false", "--dest-compress-format", "zstd",
               f"docker-archive:{tmp_path / 'bb.tar'}", f"docker://{host}/lib/bb:skopeo")
        assert _layers(host, "lib/bb:skopeo")[0]["mediaType"].endswith("+zstd")
        other("pull", f"{host}/lib/bb:skopeo")
        assert other("run", "--rm", "--network", "none", f"{host}/lib/bb:skopeo", "echo", "ok").out == "ok\n"

        bad = loaded("push", "--compression-format", "zstd", "--compression-level", "40", f"{host}/lib/bb:zst",
                     check=False)
        assert bad.code != 0 and "out of range" in bad.err and "Traceback" not in bad.err
        other.cleanup()
    finally:
        proxy.close()
        gen.close()
