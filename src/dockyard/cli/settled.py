"""`pull` and `push` with nothing to transfer, answered before the command-line parser loads.

Docker answers an up-to-date pull or a push the registry already holds in ~20 ms; click, the
full registry client and rich would cost us ~45 ms before the first request. So `main` hands
the plain forms (`pull [-q] REF`, `push [-q] REF`, no global options) here first, and the
click commands ask here too for their other forms. Only a settled answer is printed, in
docker's words; anything else returns False and the full command runs as it always would.
"""

from __future__ import annotations

import sys

# The (command, reference) that before_parsing asked about and found unsettled: the click
# command that runs next skips asking the registry the same thing again.
_asked: tuple[str, str] | None = None


def pull(engine, ref, quiet: bool) -> bool:
    """Print a pull that has nothing to do, if the registry's digest shows it (uptodate.py)."""
    from dockyard.distribution.uptodate import pulled_already
    from dockyard.oci.digest import short_id

    if _asked == ("pull", str(ref)):
        return False
    done = pulled_already(engine, ref)
    if done is None or not _host_image(engine, done.manifest):
        return False
    lines = []
    if not quiet:
        lines.append(f"{ref.tag}: Pulling from {ref.path}")
        lines += [f"{short_id(d.get('digest', ''))}: Already exists"
                  for d in [done.manifest.get("config") or {}, *(done.manifest.get("layers") or [])]]
        lines += [f"Digest: {done.digest}", f"Status: Image is up to date for {ref.familiar}"]
    _print(lines + [str(ref)])
    return True


def push(engine, ref, quiet: bool) -> bool:
    """Print a push the registry needs nothing of, if HEAD requests show it (uptodate.py)."""
    from dockyard.distribution.uptodate import pushed_already
    from dockyard.oci.digest import short_id

    if _asked == ("push", str(ref)):
        return False
    done = pushed_already(engine, ref)
    if done is None:
        return False
    if quiet:
        _print([str(ref)])
        return True
    _print([f"The push refers to repository [{ref.repository}]"]
           + [f"{short_id(d.get('digest', ''))}: Layer already exists"
              for d in [*(done.manifest.get("layers") or []), done.manifest.get("config") or {}]]
           + [f"{ref.tag}: digest: {done.digest} size: {done.manifest_size}"])
    return True


def before_parsing(args: list[str]) -> bool:
    """Settle `pull|push [-q|--quiet] REF` without click; False for anything else or unsettled."""
    global _asked
    if not args or args[0] not in ("pull", "push"):
        return False
    rest = [a for a in args[1:] if a not in ("-q", "--quiet")]
    if len(rest) != 1 or rest[0].startswith("-"):
        return False
    from dockyard.engine import Engine
    from dockyard.errors import DockyardError
    from dockyard.oci.reference import parse

    try:
        ref = parse(rest[0])
        if args[0] == "pull" and not ref.tag and not ref.digest:
            return False  # docker says "Using default tag" first: the full command does
        engine = Engine()
        ref = ref.with_default_tag()
        if (pull if args[0] == "pull" else push)(engine, ref, len(rest) < len(args) - 1):
            return True
        _asked = (args[0], str(ref))
        return False
    except (DockyardError, OSError, ValueError):
        return False  # the full command reports it properly


def _host_image(engine, manifest: dict) -> bool:
    """The local image is the host's platform (a `pull --platform` of another one leaves the tag
    on that one; a plain pull then brings the host's, as docker's does)."""
    import json

    from dockyard.errors import DockyardError
    from dockyard.oci.platform import host_platform, of_document
    try:
        config = json.loads(engine.content.read((manifest.get("config") or {}).get("digest", "")))
    except (DockyardError, OSError, ValueError):
        return False
    return of_document(config).matches(host_platform())


def _print(lines: list[str]) -> None:
    sys.stdout.write("".join(line + "\n" for line in lines))
