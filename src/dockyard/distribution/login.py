"""`login` / `logout`: check credentials against a registry, then keep or forget them.

Login proves the credentials work before saving them, the way Docker does: GET /v2/,
answer the challenge (Basic, or the bearer token flow with the user's password), and only
a 200 counts. Storing goes through `CredentialStore`, which honours `credsStore` helpers.
"""

from __future__ import annotations

from typing import Sequence

from dockyard.distribution.auth import Unauthorized
from dockyard.distribution.client import RegistryClient
from dockyard.distribution.credentials import CredentialStore, Credentials
from dockyard.distribution.endpoints import normalize_host
from dockyard.errors import DockyardError, InvalidArgument


def login(registry: str | None, username: str, password: str, config_dir=None, *,
          insecure_registries: Sequence[str] = ()) -> str:
    """Verify and store credentials for `registry` (None = Docker Hub); returns Docker's success line."""
    if not username or not password:
        raise InvalidArgument("login needs both a username and a password")
    host = normalize_host(registry or "")
    creds = Credentials(username, password)
    refused = Unauthorized(f"login to {host} failed: unauthorized: incorrect username or password")
    with RegistryClient(host, credentials=creds, insecure_registries=insecure_registries) as client:
        try:
            resp = client.request("GET", "/v2/")
        except Unauthorized:
            raise refused from None
        if resp.status_code == 401:
            raise refused
        if resp.status_code != 200:
            raise client.error(resp, f"registry {host}")
    CredentialStore(config_dir).store(host, creds)
    return "Login Succeeded"


def logout(registry: str | None, config_dir=None) -> str:
    """Forget stored credentials; an error if there were none, like `docker logout`."""
    host = normalize_host(registry or "")
    if not CredentialStore(config_dir).erase(host):
        raise DockyardError(f"not logged in to {host}")
    return f"Removing login credentials for {host}"
