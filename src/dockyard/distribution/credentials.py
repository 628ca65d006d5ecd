"""Registry credentials in Docker's `config.json` format, so `docker login` and `dockyard login` share them.

The file lives in `$DOCKER_CONFIG` (default `~/.docker`). Credentials are kept either inline
under `auths` (base64 `user:password`, as Docker does) or in an external helper named by
`credHelpers[host]` or `credsStore`, run as `docker-credential-<name> get|store|erase` with the
server address or a JSON record on stdin, exactly the protocol Docker's helpers speak.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.distribution.endpoints import HUB_DOMAIN, normalize_host
from dockyard.errors import DockyardError

HUB_AUTH_KEY = "https://index.docker.io/v1/"
TOKEN_USERNAME = "<token>"


@dataclass(frozen=True)
class Credentials:
    """A username and secret; an `identity_token` replaces the password for OAuth2 refresh flows,
    and a `registry_token` is a bearer token sent to the registry as it is. The secrets stay out
    of the repr, so a logged or formatted object never shows them."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    registry_token: str = field(default="", repr=False)

    def given(self) -> bool:
        """Whether these say who the caller is (an empty AuthConfig does not)."""
        return bool(self.username or self.password or self.identity_token or self.registry_token)


def default_config_dir() -> Path:
    """`$DOCKER_CONFIG`, else `~/.docker`: the same place the docker CLI looks."""
    env = os.environ.get("DOCKER_CONFIG")
    return Path(env) if env else Path.home() / ".docker"


def server_key(registry: str) -> str:
    """The key Docker files a registry under: the legacy index URL for Docker Hub, else `host[:port]`."""
    host = normalize_host(registry)
    return HUB_AUTH_KEY if host == HUB_DOMAIN else host


class CredentialStore:
    """Reads and writes credentials for registries; one instance per config directory."""

    def __init__(self, config_dir: str | os.PathLike | None = None) -> None:
        self.config_dir = Path(config_dir) if config_dir is not None else default_config_dir()
        self.path = self.config_dir / "config.json"

    def _load(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise DockyardError(f"cannot read {self.path}: {e}") from None
        if not isinstance(data, dict):
            raise DockyardError(f"cannot read {self.path}: expected a JSON object")
        return data

    def _save(self, data: dict) -> None:
        """Write through a temporary file and rename, so a crash never leaves a truncated config."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent="\t")
            f.write("\n")
        os.replace(tmp, self.path)

    def _helper(self, data: dict, host: str) -> str:
        helpers = data.get("credHelpers") or {}
        return helpers.get(host) or helpers.get(server_key(host)) or data.get("credsStore") or ""

    def get(self, registry: str) -> Credentials | None:
        """Credentials for a registry, or None when nothing is stored (anonymous access)."""
        host = normalize_host(registry)
        data = self._load()
        helper = self._helper(data, host)
        if helper:
            return _helper_get(helper, server_key(host))
        for key, entry in (data.get("auths") or {}).items():
            if normalize_host(key) == host and isinstance(entry, dict):
                return _decode_entry(entry, self.path)
        return None

    def store(self, registry: str, creds: Credentials) -> None:
        """Save credentials, through the configured helper when there is one (Docker's rule)."""
        host = normalize_host(registry)
        key = server_key(host)
        data = self._load()
        helper = self._helper(data, host)
        auths = data.setdefault("auths", {})
        for old in [k for k in auths if normalize_host(k) == host]:
            del auths[old]
        if helper:
            secret = creds.identity_token or creds.password
            username = TOKEN_USERNAME if creds.identity_token else creds.username
            _run_helper(helper, "store", json.dumps({"ServerURL": key, "Username": username, "Secret": secret}))
            auths[key] = {}
        else:
            entry: dict = {"auth": base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()}
            if creds.identity_token:
                entry = {"auth": base64.b64encode(f"{creds.username}:".encode()).decode(),
                         "identitytoken": creds.identity_token}
            auths[key] = entry
        self._save(data)

    def erase(self, registry: str) -> bool:
        """Forget a registry's credentials; False when there were none."""
        host = normalize_host(registry)
        key = server_key(host)
        data = self._load()
        helper = self._helper(data, host)
        auths = data.get("auths") or {}
        keys = [k for k in auths if normalize_host(k) == host]
        for k in keys:
            del auths[k]
        found = bool(keys)
        if helper:
            found = _helper_get(helper, key) is not None or found
            if found:
                _run_helper(helper, "erase", key)
        if keys:
            self._save(data)
        return found


def _decode_entry(entry: dict, path: Path) -> Credentials | None:
    auth = entry.get("auth") or ""
    username, password = entry.get("username", ""), entry.get("password", "")
    if auth:
        try:
            username, _, password = base64.b64decode(auth).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise DockyardError(f"invalid auth entry in {path}: `auth` is not base64 of user:password") from None
    token = entry.get("identitytoken", "")
    if not (username or password or token):
        return None
    return Credentials(username, password, token)


def _helper_get(helper: str, key: str) -> Credentials | None:
    out = _run_helper(helper, "get", key, missing_ok=True)
    if out is None:
        return None
    try:
        record = json.loads(out)
        username, secret = record.get("Username", ""), record.get("Secret", "")
    except (ValueError, AttributeError):
        raise DockyardError(f"credential helper docker-credential-{helper} returned malformed JSON") from None
    if username == TOKEN_USERNAME:
        return Credentials(identity_token=secret)
    return Credentials(username, secret)


def _run_helper(helper: str, action: str, stdin: str, *, missing_ok: bool = False) -> str | None:
    """Run `docker-credential-<helper> <action>`; None for "not found" when `missing_ok`."""
    program = f"docker-credential-{helper}"
    try:
        proc = subprocess.run([program, action], input=stdin, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise DockyardError(f"credential helper {program} not found in PATH (configured in config.json)") from None
    except subprocess.TimeoutExpired:
        raise DockyardError(f"credential helper {program} {action} timed out") from None
    if proc.returncode != 0:
        detail = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
        text = detail[-1] if detail else f"exit status {proc.returncode}"
        if missing_ok and "credentials not found" in text.lower():
            return None
        raise DockyardError(f"credential helper {program} {action} failed: {text}")
    return proc.stdout
