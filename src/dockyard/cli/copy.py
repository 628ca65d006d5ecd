"""`cp` between the host and a container, docker's way: `CONTAINER:PATH` on one side, `-` for a tar stream."""

from __future__ import annotations

import os
import shutil
import sys
import tarfile

from dockyard.errors import InvalidArgument


def _split(arg: str) -> tuple[str | None, str]:
    """`name:path` is a container path; anything starting with / or . or without a colon is local."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    name, _, path = arg.partition(":")
    return name, path


def copy(engine, src: str, dest: str) -> None:
    s_name, s_path = _split(src)
    d_name, d_path = _split(dest)
    if (s_name is None) == (d_name is None):
        raise InvalidArgument("copying between containers or between local paths is not supported: "
                              "one side must be CONTAINER:PATH")
    if s_name is not None:
        _from_container(engine, s_name, s_path, d_path)
    else:
        _to_container(engine, s_path, d_name, d_path)


def _from_container(engine, name: str, path: str, dest: str) -> None:
    from dockyard.layers.apply import apply_layer
    st, stream = engine.containers.archive_get(name, path)
    with stream:
        if dest == "-":
            shutil.copyfileobj(stream, sys.stdout.buffer, 1 << 20)
            return
        if os.path.isdir(dest):
            apply_layer(stream, dest, whiteout_mode="delete")
            return
        parent = os.path.dirname(os.path.abspath(dest)) or "."
        if not os.path.isdir(parent):
            raise InvalidArgument(f"destination directory {parent} does not exist")
        # copy to a new name: extract beside it, then rename to the wanted name
        tmp = os.path.join(parent, f".dockyard-cp-{os.getpid()}")
        os.mkdir(tmp)
        try:
            apply_layer(stream, tmp, whiteout_mode="delete")
            os.replace(os.path.join(tmp, st["name"]), dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _to_container(engine, src: str, name: str, path: str) -> None:
    if src == "-":
        engine.containers.archive_put(name, path, sys.stdin.buffer)
        return
    if not os.path.lexists(src):
        raise InvalidArgument(f"could not find the file {src} on the host")
    c = engine.containers.get(name)
    try:
        st = engine.containers.archive_stat(c.id, path)
        is_dir = bool(st["mode"] & (1 << 31))
    except Exception:  # noqa: BLE001 - a missing destination means "copy to this new name"
        is_dir = False
    target_dir, arcname = (path, os.path.basename(os.path.abspath(src))) if is_dir else \
        (os.path.dirname(path.rstrip("/")) or "/", os.path.basename(path.rstrip("/")))
    r, w = os.pipe()
    import threading

    def produce() -> None:
        with os.fdopen(w, "wb") as out, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            tar.add(src, arcname=arcname)

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    with os.fdopen(r, "rb") as stream:
        engine.containers.archive_put(c.id, target_dir, stream)
    t.join()
