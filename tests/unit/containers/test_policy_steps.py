"""The restart policy's runs as dockerd shows them (containers/exit.policy_steps): from the
shim's started.json and a restart's exit.json to the record's state, restart count and
events, however late the record looks."""

from __future__ import annotations

from dockyard.containers.exit import policy_steps
from dockyard.containers.record import Container, new_state
from dockyard.store.events import matches

T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-01T00:00:02Z", "2026-01-01T00:00:03Z"


def running(count: int = 0) -> Container:
    return Container("c" * 64, "c", 0.0, "busybox", "sha256:x", {}, {},
                     state={**new_state(), "Status": "running", "Running": True, "Pid": 10, "StartedAt": T0},
                     restart_count=count)


def test_an_exit_the_policy_restarts_is_a_die_and_restarting():
    c = running()
    steps = policy_steps(c, {"restart_count": 0, "pid": 10, "started_at": T0},
                         {"exit_code": 3, "restart_count": 0, "final": False, "finished_at": T1})
    assert steps == [("die", {"exitCode": "3", "execDuration": "2"})]
    assert (c.status, c.restart_count, c.state["Pid"], c.state["ExitCode"], c.state["Restarting"]) == \
        ("restarting", 1, 0, 3, True)
    # looked at again before the restart: nothing new
    assert policy_steps(c, {"restart_count": 0, "pid": 10, "started_at": T0},
                        {"exit_code": 3, "restart_count": 0, "final": False, "finished_at": T1}) == []
    # the next run: a start, running with exit code 0
    assert policy_steps(c, {"restart_count": 1, "pid": 11, "started_at": T2, "last_exit_code": 3}, None) == [("start", {})]
    assert (c.status, c.restart_count, c.state["Pid"], c.state["ExitCode"], c.state["StartedAt"]) == \
        ("running", 1, 11, 0, T2)


def test_runs_nobody_saw_end_get_their_die_and_start():
    c = running()
    steps = policy_steps(c, {"restart_count": 2, "pid": 12, "started_at": T2, "last_exit_code": 5},
                         {"exit_code": 6, "restart_count": 2, "final": False, "finished_at": T2})
    assert [a for a, _ in steps] == ["die", "start", "die", "start", "die"]
    assert steps[-1][1]["exitCode"] == "6" and steps[1:3] == [("start", {}), ("die", {"exitCode": "5"})]
    assert (c.status, c.restart_count) == ("restarting", 3)


def test_a_final_exit_is_left_to_finalize():
    c = running(1)
    assert policy_steps(c, {"restart_count": 1, "pid": 10, "started_at": T0},
                        {"exit_code": 3, "restart_count": 1, "final": True, "finished_at": T1}) == []
    assert c.status == "running"


def test_event_filters_match_as_moby():
    """Names and IDs by prefix for container, volume and network filters (whatever the event's
    type); images exactly, by ID or name, with or without the tag."""
    event = {"Type": "container", "Action": "start",
             "Actor": {"ID": "abc123", "Attributes": {"name": "web-1", "image": "busybox:1.36"}}}
    for wanted, hit in [({"container": ["web"]}, True), ({"container": ["abc"]}, True), ({"container": ["eb"]}, False),
                        ({"image": ["busybox"]}, True), ({"image": ["busybox:1.36"]}, True),
                        ({"image": ["busy"]}, False), ({"image": ["busybox:latest"]}, False),
                        ({"network": ["web"]}, True), ({"event": ["start"], "type": ["image"]}, False)]:
        assert matches(event, wanted) is hit, wanted
