"""config.json credentials: inline `auths` and `docker-credential-*` helpers."""

from __future__ import annotations

import base64
import json
import stat

import pytest

from dockyard.distribution.credentials import (
    HUB_AUTH_KEY, CredentialStore, Credentials, default_config_dir, normalize_host, server_key,
)
from dockyard.errors import DockyardError

HELPER = """#!/usr/bin/env python3
import json, pathlib, sys
db = pathlib.Path(__file__).with_name("helper-db.json")
data = json.loads(db.read_text()) if db.exists() else {}
action, stdin = sys.argv[1], sys.stdin.read()
if action == "store":
    rec = json.loads(stdin); data[rec["ServerURL"]] = [rec["Username"], rec["Secret"]]
elif action == "get":
    if stdin.strip() not in data:
        print("credentials not found in native keychain"); sys.exit(1)
    user, secret = data[stdin.strip()]
    print(json.dumps({"ServerURL": stdin.strip(), "Username": user, "Secret": secret}))
elif action == "erase":
    data.pop(stdin.strip(), None)
db.write_text(json.dumps(data))
"""


def test_auths_round_trip_in_docker_format(tmp_path):
    store = CredentialStore(tmp_path)
    assert store.get("registry.example:5000") is None
    store.store("https://registry.example:5000/v2/", Credentials("bob", "pa:ss"))
    saved = json.loads((tmp_path / "config.json").read_text())
    assert base64.b64decode(saved["auths"]["registry.example:5000"]["auth"]) == b"bob:pa:ss"
    assert stat.S_IMODE((tmp_path / "config.json").stat().st_mode) == 0o600
    assert store.get("registry.example:5000") == Credentials("bob", "pa:ss")
    assert store.erase("registry.example:5000") is True
    assert store.get("registry.example:5000") is None
    assert store.erase("registry.example:5000") is False


def test_docker_written_entries_and_hub_key_are_understood(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({
        "auths": {HUB_AUTH_KEY: {"auth": base64.b64encode(b"hubuser:tok").decode()},
                  "http://legacy.example": {"username": "u", "password": "p"}},
        "HttpHeaders": {"X-Keep": "me"},
    }))
    store = CredentialStore(tmp_path)
    assert store.get("docker.io") == Credentials("hubuser", "tok")
    assert store.get("legacy.example") == Credentials("u", "p")
    store.store("other.example", Credentials("x", "y"))
    assert json.loads((tmp_path / "config.json").read_text())["HttpHeaders"] == {"X-Keep": "me"}


def test_config_dir_follows_docker_config(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    assert default_config_dir() == tmp_path / "cfg"
    assert CredentialStore().path == tmp_path / "cfg" / "config.json"


def test_host_normalisation():
    assert normalize_host("https://index.docker.io/v1/") == "docker.io"
    assert normalize_host("Registry.Example:5000/v2") == "registry.example:5000"
    assert server_key("docker.io") == HUB_AUTH_KEY
    assert server_key("http://localhost:5000") == "localhost:5000"


@pytest.fixture
def helper_on_path(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker-credential-test"
    script.write_text(HELPER)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    return bin_dir / "helper-db.json"


def test_creds_store_helper_round_trip(tmp_path, helper_on_path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"credsStore": "test"}))
    store = CredentialStore(config)
    store.store("registry.example", Credentials("carol", "secret"))
    assert json.loads(helper_on_path.read_text()) == {"registry.example": ["carol", "secret"]}
    saved = json.loads((config / "config.json").read_text())
    assert saved["auths"] == {"registry.example": {}}, "the secret must live in the helper, not the file"
    assert store.get("registry.example") == Credentials("carol", "secret")
    assert store.get("unknown.example") is None
    assert store.erase("registry.example") is True
    assert json.loads(helper_on_path.read_text()) == {}


def test_per_host_cred_helper_and_identity_token(tmp_path, helper_on_path):
    (tmp_path / "config.json").write_text(json.dumps({"credHelpers": {"tok.example": "test"}}))
    helper_on_path.write_text(json.dumps({"tok.example": ["<token>", "refresh-me"]}))
    store = CredentialStore(tmp_path)
    assert store.get("tok.example") == Credentials(identity_token="refresh-me")
    assert store.get("plain.example") is None


def test_missing_helper_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "nonexistent"}))
    with pytest.raises(DockyardError, match="credential helper docker-credential-nonexistent not found in PATH"):
        CredentialStore(tmp_path).get("registry.example")
