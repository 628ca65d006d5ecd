"""The dockerfile.v0 frontend's attributes, as buildx sends them, read into BuildOptions; what
is not served is an UNIMPLEMENTED naming it, a malformed value an INVALID_ARGUMENT."""

from __future__ import annotations

import pytest

from dockyard.buildkit.h2grpc import INVALID_ARGUMENT, UNIMPLEMENTED, GrpcError
from dockyard.buildkit.solve import frontend_options
from dockyard.oci.image import host_platform

HERE = f"linux/{host_platform()['architecture']}"


def test_the_attributes_buildx_sends():
    opts = frontend_options(None, {
        "filename": "Dockerfile", "target": "final", "build-arg:GREETING": "hi", "build-arg:EMPTY": "",
        "label:com.example": "x", "no-cache": "", "platform": HERE, "add-hosts": "db=10.0.0.2,cache=10.0.0.3",
        "force-network-mode": "none", "shm-size": "67108864", "attest:provenance": "mode=min",
        "image-resolve-mode": "pull", "local-sessionid:context": "abc", "frontend.caps": "x",
        "build-arg:SOURCE_DATE_EPOCH": "1700000000"})
    assert opts.target == "final" and opts.no_cache and opts.pull and opts.network == "none"
    assert opts.build_args == {"GREETING": "hi", "EMPTY": "", "SOURCE_DATE_EPOCH": "1700000000"}
    assert opts.labels == {"com.example": "x"}
    assert opts.extra_hosts == ["db:10.0.0.2", "cache:10.0.0.3"]
    assert opts.limits == {"shm_size": 64 << 20} and opts.source_date_epoch == 1700000000


def test_defaults():
    opts = frontend_options(None, {})
    assert (opts.target, opts.no_cache, opts.network, opts.extra_hosts) == (None, False, "default", [])


@pytest.mark.parametrize("opts, code, words", [
    ({"context:base": "docker-image://busybox"}, UNIMPLEMENTED, "named build contexts (context:base)"),
    ({"platform": "linux/s390x"}, UNIMPLEMENTED, "platform linux/s390x is not served"),
    ({"multi-platform": "true"}, UNIMPLEMENTED, "option 'multi-platform' is not served"),
    ({"ulimit": "nofile=1024:1024"}, UNIMPLEMENTED, "option 'ulimit' is not served"),
    ({"force-network-mode": "bridge"}, INVALID_ARGUMENT, "invalid force-network-mode 'bridge'"),
    ({"shm-size": "64m"}, INVALID_ARGUMENT, "invalid shm-size '64m'"),
    ({"add-hosts": "db=not-an-ip"}, INVALID_ARGUMENT, "not-an-ip"),
])
def test_refusals(opts, code, words):
    with pytest.raises(GrpcError) as err:
        frontend_options(None, opts)
    assert err.value.code == code and words in err.value.message
