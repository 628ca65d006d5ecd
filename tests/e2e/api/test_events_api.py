"""Events through the Engine API, as the docker CLI reads them: the same sequence against
dockyard and, where it is installed, dockerd."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.root


def test_docker_run_logs_dockers_event_sequence(engine_api):
    since = str(int(time.time()) - 1)
    engine_api.docker("run", "--rm", "--name", "seq", "busybox", "true")
    out = engine_api.docker("events", "--since", since, "--until", str(int(time.time()) + 1), "--format",
                            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.ID}} "
                            "{{.Actor.Attributes.container}}").out.splitlines()
    cid = next(line.split()[3] for line in out if line.startswith("container create seq "))
    ours = [line.split()[:3] for line in out if line.split()[3] == cid or line.split()[-1] == cid]
    assert [" ".join(words) for words in ours] == [
        "container create seq", "container attach seq", "network connect bridge", "container start seq",
        "container die seq", "network disconnect bridge", "container destroy seq"]
