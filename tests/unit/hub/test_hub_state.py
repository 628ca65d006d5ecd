"""hub.db: sources, the queue (one running build per source), restarts, private flags."""

from __future__ import annotations

import pytest

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.hub.state import FAILED, QUEUED, RESTARTED, RUNNING, HubState, Source


def _source(repo: str) -> Source:
    return Source(repo, "/srv/git/app.git", "main", "Dockerfile", ".", "latest", "")


def test_sources_round_trip_and_refuse_duplicates(tmp_path):
    state = HubState(tmp_path)
    state.add_source(_source("team/app"))
    assert [s.repo for s in HubState(tmp_path).sources()] == ["team/app"]
    with pytest.raises(Conflict):
        state.add_source(_source("team/app"))
    with pytest.raises(InvalidArgument):
        state.add_source(_source("Bad Name"))
    with pytest.raises(NotFound):
        state.enqueue("team/none", "abc1234", "main")


def test_one_build_per_source_at_a_time_in_queue_order(tmp_path):
    state = HubState(tmp_path)
    state.add_source(_source("a/one"))
    state.add_source(_source("b/two"))
    first = state.enqueue("a/one", "1" * 40, "main")
    second = state.enqueue("a/one", "2" * 40, "main")
    other = state.enqueue("b/two", "3" * 40, "main")
    assert state.claim_next().id == first
    assert state.claim_next().id == other  # a/one is busy, so b/two goes next
    assert state.claim_next() is None
    state.finish(first, FAILED, "boom")
    assert state.claim_next().id == second


def test_restart_fails_running_builds_and_keeps_queued_ones(tmp_path):
    state = HubState(tmp_path)
    state.add_source(_source("a/one"))
    running = state.enqueue("a/one", "1" * 40, "main")
    queued = state.enqueue("a/one", "2" * 40, "main")
    assert state.claim_next().status == RUNNING
    assert HubState(tmp_path).fail_interrupted() == 1
    assert state.build(running).status == FAILED and state.build(running).reason == RESTARTED
    assert state.build(queued).status == QUEUED


def test_private_flags(tmp_path):
    state = HubState(tmp_path)
    state.set_private("team/secret", True)
    assert state.private_repos() == {"team/secret"}
    state.set_private("team/secret", False)
    assert state.private_repos() == frozenset()
