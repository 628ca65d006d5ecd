"""`POST /containers/{id}/wait` answers once the exit is recorded for good, as dockerd's: the
`die` event is in the log at the moment the client has the answer (and `destroy` too, for the
`removed` condition of an autoremoved container). Each case runs on `dockyard serve` and,
where it is installed, the host's dockerd. The containers run long enough that the wait is
under way when they exit, the race this is about; the events asked for end at the moment
the answer came, so one written just after it does not count."""

from __future__ import annotations

import secrets
import time

import pytest

pytestmark = pytest.mark.root

ROUNDS = 2  # the race it guards against is one of timing: a few rounds make a regression show
COMMAND = ["sh", "-c", "sleep 0.3; exit 3"]


def actions_until_now(client, cid: str, since: float) -> list[str]:
    until = f"{time.time():.9f}"  # the events written before this moment only
    return [e["Action"] for e in client.events(since=int(since), until=until, filters={"container": cid}, decode=True)]


def labels(engine) -> dict[str, str]:
    """The label the anchor's cleanup finds its containers by (the anchor alone has one)."""
    return dict([engine.label.split("=", 1)]) if hasattr(engine, "label") else {}


def test_wait_answers_after_the_die_event(engine_api, request):
    client = engine_api.client()
    for condition in ("not-running", "next-exit", "removed"):
        for _ in range(ROUNDS):
            since = time.time() - 1
            c = client.containers.run("busybox", COMMAND, detach=True, name=f"wd-{secrets.token_hex(3)}",
                                      auto_remove=condition == "removed", labels=labels(engine_api))
            assert c.wait(condition=condition)["StatusCode"] == 3
            actions = actions_until_now(client.api, c.id, since)
            if condition == "removed":
                assert actions[-2:] == ["die", "destroy"], (condition, actions)
            else:
                assert actions[-1] == "die", (condition, actions)
                c.remove()
    if hasattr(engine_api, "label"):
        return
    # a container the dockyard CLI started: its exit hook (in the server) records the exit,
    # unless the wait under way does it first
    dy = request.getfixturevalue("dy")
    for _ in range(ROUNDS):
        since = time.time() - 1
        cid = dy("run", "-d", "busybox", *COMMAND).out.strip()
        assert client.api.wait(cid)["StatusCode"] == 3
        assert actions_until_now(client.api, cid, since)[-1] == "die"
        dy("rm", cid)
