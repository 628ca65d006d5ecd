"""One HTTP session with one registry: endpoint and scheme choice, auth challenges, error mapping.

Built on httpx's synchronous client: the callers (CLI, image service) are synchronous, and the
transfers run in a thread pool where hashing and file writes release the GIL, so threads give
the parallelism asyncio would without making every caller async. The httpx client is
thread-safe and keeps connections alive across the parallel blob transfers.
"""

from __future__ import annotations

import threading
from typing import Callable, Iterable, Iterator, Sequence

import httpx

from dockyard.distribution.auth import Authenticator, Challenge, Denied, parse_challenges, refused
from dockyard.distribution.credentials import Credentials
from dockyard.distribution.endpoints import endpoint_host, is_insecure
from dockyard.errors import DockyardError, NotFound

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0

Body = bytes | Callable[[], Iterable[bytes]] | None


class RegistryUnreachable(DockyardError):
    """No TCP/TLS connection to the registry could be made."""

    status = 502


class TransferInterrupted(DockyardError):
    """The connection broke in the middle of a body; the transfer can be resumed."""

    status = 502


class RegistryClient:
    """Requests against one registry with auth handled; use as a context manager to close connections."""

    def __init__(self, domain: str, *, credentials: Credentials | None = None,
                 insecure_registries: Sequence[str] = (), offline_token: bool = False) -> None:
        self.domain = domain
        self.host = endpoint_host(domain)
        self.insecure = is_insecure(self.host, insecure_registries)
        self.auth = Authenticator(domain, credentials, offline=offline_token)
        self._http = httpx.Client(
            verify=not self.insecure,
            follow_redirects=True,
            timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
            headers={"User-Agent": "dockyard"},
        )
        self._base: str | None = None
        self._challenge: Challenge | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> "RegistryClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def base_url(self) -> str:
        """`https://host` or, for insecure registries that do not speak TLS, `http://host`."""
        with self._lock:
            if self._base is None:
                self._ping()
            return self._base  # type: ignore[return-value]

    def _ping(self) -> None:
        """GET /v2/ to pick the scheme and learn the auth challenge before the first real request."""
        schemes = ("https", "http") if self.insecure else ("https",)
        last: Exception | None = None
        for scheme in schemes:
            try:
                resp = self._http.get(f"{scheme}://{self.host}/v2/")
            except httpx.TransportError as e:
                last = e
                continue
            self._base = f"{scheme}://{self.host}"
            self._remember_challenge(resp)
            return
        raise self._unreachable(last)

    def _remember_challenge(self, resp: httpx.Response) -> None:
        if resp.status_code == 401:
            challenges = parse_challenges(resp.headers.get("WWW-Authenticate", ""))
            preferred = [c for c in challenges if c.scheme == "bearer"] or challenges
            if preferred:
                self._challenge = preferred[0]

    def _unreachable(self, e: Exception | None) -> RegistryUnreachable:
        text = str(e).lower() if e else "no answer"
        if "refused" in text:
            reason = "connection refused; is it running?"
        elif "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text:
            reason = "no such host"
        elif isinstance(e, httpx.TimeoutException):
            reason = "connection timed out"
        else:
            reason = text or type(e).__name__
        return RegistryUnreachable(f"cannot reach registry {self.domain}: {reason}")

    def _authorization(self, scopes: tuple[str, ...]) -> str | None:
        challenge = self._challenge
        return self.auth.header(self._http, challenge, scopes) if challenge else None

    def request(self, method: str, url: str, *, scopes: tuple[str, ...] = (), headers: dict | None = None,
                body: Body = None, params: dict | None = None, stream: bool = False) -> httpx.Response:
        """Send a request (path or absolute URL), answering one auth challenge; the caller checks the status.

        A body given as a callable is called again if the request has to be repeated with new auth.
        With `stream=True` the caller must close the response (use it as a context manager).
        """
        full = httpx.URL(self.base_url).join(url)
        if params:
            full = full.copy_merge_params(params)  # keep the upload URL's own query (`_state=…`)
        hdrs = dict(headers or {})
        auth = self._authorization(scopes)
        if auth:
            hdrs["Authorization"] = auth
        resp = self._send(method, full, hdrs, body, stream)
        if resp.status_code == 401 and resp.headers.get("WWW-Authenticate"):
            self._remember_challenge(resp)
            self.auth.forget(scopes)
            retry = self._authorization(scopes)
            if retry and retry != auth:
                resp.close()
                hdrs["Authorization"] = retry
                resp = self._send(method, full, hdrs, body, stream)
        return resp

    def _send(self, method: str, url: httpx.URL, headers: dict, body: Body, stream: bool) -> httpx.Response:
        content = body() if callable(body) else body
        request = self._http.build_request(method, url, headers=headers, content=content)
        try:
            return self._http.send(request, stream=stream)
        except httpx.ConnectError as e:
            raise self._unreachable(e) from None
        except httpx.TransportError as e:
            raise TransferInterrupted(f"connection to registry {self.domain} broke: {e or type(e).__name__}") from None

    def iter_body(self, resp: httpx.Response) -> Iterator[bytes]:
        """A streamed body as it arrives (no re-chunking, which would lose the buffered tail
        of a broken download); a broken connection becomes TransferInterrupted."""
        try:
            yield from resp.iter_bytes()
        except httpx.TransportError as e:
            raise TransferInterrupted(f"download from {self.domain} broke off: {e or type(e).__name__}") from None

    def error(self, resp: httpx.Response, subject: str) -> DockyardError:
        """Turn an error answer into one line naming `subject` (e.g. "manifest for host/repo:tag")."""
        code, message = _registry_error(resp)
        status = resp.status_code
        if status == 401:
            return refused(self.domain, self.auth.creds)
        if status == 403:
            return Denied(f"denied: requested access to {subject} is denied{': ' + message if message else ''}")
        if status == 404:
            reason = (code or "not found").lower().replace("_", " ")
            return NotFound(f"{subject} not found: {reason}")
        if status == 429:
            return DockyardError(f"toomanyrequests: registry {self.domain} is rate limiting: {message or 'try later'}")
        detail = f"{code.lower()}: {message}" if code else (message or resp.reason_phrase)
        return DockyardError(f"registry {self.domain} answered {status} for {subject}: {detail}")


def _registry_error(resp: httpx.Response) -> tuple[str, str]:
    """The first (code, message) of a distribution-spec error body, or empty strings."""
    try:
        resp.read()
        errors = resp.json().get("errors") or []
        first = errors[0]
        return str(first.get("code", "")), str(first.get("message", ""))
    except (ValueError, AttributeError, IndexError, TypeError, httpx.HTTPError):
        return "", ""


def connect(domain: str, *, credentials: Credentials | None = None, config_dir=None,
            insecure_registries: Sequence[str] = ()) -> RegistryClient:
    """A client for `domain` with `credentials` when given (a caller's own, as an Engine API
    request brings them), else with those stored for it (in `config_dir`/config.json or its helper)."""
    from dockyard.distribution.credentials import CredentialStore

    creds = credentials if credentials is not None else CredentialStore(config_dir).get(domain)
    return RegistryClient(domain, credentials=creds, insecure_registries=insecure_registries)


def repository_scope(path: str, actions: str = "pull") -> str:
    """The token scope for a repository: `repository:library/busybox:pull,push`."""
    return f"repository:{path}:{actions}"
