"""`login` / `logout`: check credentials against a registry, then keep or forget them.

Login proves the credentials work before saving them, the way Docker does: GET /v2/,
answer the challenge (Basic, or the bearer token flow asking for a refresh token), and only
a 200 counts. The Engine API's POST /auth does the same check without keeping anything (the
client stores what it sent). Storing goes through `CredentialStore`, which honours
`credsStore` helpers.
"""

from __future__ import annotations

from typing import Sequence

from dockyard.distribution.auth import Unauthorized
from dockyard.distribution.client import RegistryClient
from dockyard.distribution.credentials import CredentialStore, Credentials
from dockyard.distribution.endpoints import normalize_host
from dockyard.errors import DockyardError, InvalidArgument


def verify(registry: str | None, creds: Credentials, *, insecure_registries: Sequence[str] = ()) -> str:
    """Check `creds` against `registry` (None = Docker Hub), raising dockerd's errors when they
    do not work; returns the identity token the registry's token service gave ("" for none)."""
    host = normalize_host(registry or "")
    with RegistryClient(host, credentials=creds, insecure_registries=insecure_registries,
                        offline_token=True) as client:
        url = f"{client.base_url}/v2/"
        try:
            resp = client.request("GET", "/v2/")
        except Unauthorized as e:  # the token server refused the credentials: its reason, as dockerd gives it
            raise Unauthorized(f'Get "{url}": {e.reason or "unauthorized: incorrect username or password"}') from None
        if resp.status_code != 200:
            error = Unauthorized if resp.status_code == 401 else DockyardError
            raise error(f"login attempt to {url} failed with status: {resp.status_code} {resp.reason_phrase}")
        return client.auth.refresh_token or creds.identity_token


def login(registry: str | None, username: str, password: str, config_dir=None, *,
          insecure_registries: Sequence[str] = ()) -> str:
    """Verify and store credentials for `registry` (None = Docker Hub); returns Docker's success line.
    An identity token the registry gives is stored instead of the password, as the docker CLI does."""
    if not username or not password:
        raise InvalidArgument("login needs both a username and a password")
    host = normalize_host(registry or "")
    token = verify(host, Credentials(username, password), insecure_registries=insecure_registries)
    kept = Credentials(username, identity_token=token) if token else Credentials(username, password)
    CredentialStore(config_dir).store(host, kept)
    return "Login Succeeded"


def logout(registry: str | None, config_dir=None) -> str:
    """Forget stored credentials; an error if there were none, like `docker logout`."""
    host = normalize_host(registry or "")
    if not CredentialStore(config_dir).erase(host):
        raise DockyardError(f"not logged in to {host}")
    return f"Removing login credentials for {host}"
