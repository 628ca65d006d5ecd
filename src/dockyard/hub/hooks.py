"""What starts a build: a `post-receive` hook in a local bare repository, or a signed webhook.

The hook does not talk to the server: a few lines of shell write the pushed refs into the
hub's spool (see dockyard.hub.builds.spool). A running hub queues them within a poll; a
stopped one when it starts. So a `git push` never fails, or waits, because of the hub.

Webhooks are signed like GitHub's: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`
with the source's secret; a source without a secret accepts no webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shlex
from pathlib import Path

from dockyard.errors import InvalidArgument
from dockyard.hub.builds.spool import SUFFIX, spool_dir

HOOK_MARK = "# installed by dockyard hub"
ZERO_SHA = "0" * 40


def signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value a sender with `secret` puts on `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of a webhook signature; always False without a secret or a header."""
    if not secret or not header:
        return False
    return hmac.compare_digest(signature(secret, body), header.strip())


def parse_push(body: bytes) -> tuple[str, str]:
    """(ref, sha) from a push payload: GitHub/Gitea/GitLab `{"ref": "refs/heads/B" or "refs/tags/T", "after": SHA}`."""
    try:
        doc = json.loads(body)
        ref, sha = doc["ref"], doc.get("after") or doc.get("checkout_sha")
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument("webhook body is not a push event: expected JSON with 'ref' and 'after'") from None
    if not isinstance(ref, str) or not ref.startswith(("refs/heads/", "refs/tags/")):
        raise InvalidArgument(f"webhook ref {ref!r} is not a branch or a tag")
    if not isinstance(sha, str) or len(sha) < 7 or sha == ZERO_SHA or not all(c in "0123456789abcdef" for c in sha):
        raise InvalidArgument("webhook 'after' is not a commit id (or the branch was deleted)")
    return ref, sha


def local_repository(git_url: str) -> Path | None:
    """The directory of a bare repository on this machine named by `git_url`, if it is one."""
    path = Path(git_url.removeprefix("file://")) if not git_url.startswith(("http", "ssh://", "git@", "git://")) else None
    if path is not None and (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "hooks").exists():
        return path
    return None


def hook_script(root: Path, repo: str) -> str:
    """A post-receive hook that spools every pushed branch and tag for the hub (which applies the rules)."""
    spool = shlex.quote(str(spool_dir(root.resolve())))
    return f"""#!/bin/sh
{HOOK_MARK} for {repo}
spool={spool}
tmp="$spool/.hook-$$"
while read old new ref; do
  case "$ref" in refs/heads/*|refs/tags/*) ;; *) continue ;; esac
  [ "$new" = {ZERO_SHA} ] && continue
  echo {shlex.quote(repo)} "$new" "$ref" >> "$tmp"
done
[ -s "$tmp" ] || exit 0
mv "$tmp" "$spool/$(date +%s%N)-$${SUFFIX}" && echo "dockyard hub: push of {repo} queued for building"
"""


def install_hook(repository: Path, root: Path, repo: str) -> Path:
    """Write the post-receive hook; refuses to replace a hook somebody else wrote."""
    hook = repository / "hooks" / "post-receive"
    if hook.exists() and HOOK_MARK not in hook.read_text(errors="replace"):
        raise InvalidArgument(f"{hook} exists and was not written by dockyard hub; merge it by hand")
    hook.parent.mkdir(exist_ok=True)
    spool_dir(root).mkdir(parents=True, exist_ok=True)
    tmp = hook.with_name(".post-receive.tmp")
    tmp.write_text(hook_script(root, repo))
    os.chmod(tmp, 0o755)
    os.replace(tmp, hook)
    return hook


def remove_hook(repository: Path) -> None:
    hook = repository / "hooks" / "post-receive"
    if hook.exists() and HOOK_MARK in hook.read_text(errors="replace"):
        hook.unlink()
