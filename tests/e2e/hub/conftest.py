"""Fixtures for the hub's accounts and discovery: a hub with `--auth accounts` and its people.

The hub, image layouts and the browser are the integration tests' fixtures (tests/integration/hub);
the docker CLI against a real `dockyard serve` is the Engine API tests' (tests/e2e/api).
"""

from __future__ import annotations

import pytest

from tests.e2e.api.conftest import api, engine_api, serve_options, serve_prefix  # noqa: F401 - fixtures
from tests.e2e.hub.accounts_harness import PEOPLE, People
from tests.integration.hub.conftest import browser, git_source, hub, layout, screenshot, start_hub  # noqa: F401 - fixtures


@pytest.fixture
def people(tmp_path) -> People:
    """The organization `team` and its people, written to hub.db before the hub starts:
    owner (team/owners), admin (team/leads: admin on team/app), writer (write on team/app
    directly), reader (team/readers: read on team/app), outsider (no grant), and root, a
    site administrator."""
    from dockyard.hub.accounts import policy
    from dockyard.hub.accounts.store import Accounts
    from dockyard.hub.state import HubState

    root = tmp_path / "hub"
    accounts = Accounts(HubState(root).db)
    for name, password in PEOPLE.items():
        accounts.add_user(name, password, site_admin=name == "root", rounds=4)
    accounts.add_org("team", "owner")
    for team, member in (("leads", "admin"), ("readers", "reader")):
        accounts.add_team("team", team)
        accounts.set_member("team", team, member, True)
    accounts.grant("team/app", "team:team/leads", policy.ADMIN)
    accounts.grant("team/app", "team:team/readers", policy.READ)
    accounts.grant("team/app", "user:writer", policy.WRITE)
    return People(root, accounts)


@pytest.fixture
def accounts_hub(start_hub, people):
    return start_hub("--auth", "accounts", root=people.root)
