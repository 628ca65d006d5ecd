"""Which stages a build needs, what each waits for, and running independent ones in parallel.

A stage depends on the stage its FROM names and on those its `COPY --from` and
`RUN --mount=from=` read. Only the target's dependency closure is built; each stage runs in
its own thread as soon as the stages it needs are done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from dockyard.builder.argscope import stage_base
from dockyard.builder.instructions import Dockerfile
from dockyard.builder.shellwords import expand

T = TypeVar("T")


def find_stage(dockerfile: Dockerfile, name: str, before: int) -> int | None:
    """The index of the earlier stage `name` refers to (by name or number), None for an image."""
    wanted = name.lower()
    for i, stage in enumerate(dockerfile.stages[:before]):
        if stage.name == wanted:
            return i
    if wanted.isdigit() and int(wanted) < before:
        return int(wanted)
    return None


def mount_sources(flags: list[str]) -> list[str]:
    """The `from=` values of RUN --mount flags."""
    out = []
    for spec in flags:
        for field in spec.split(","):
            key, _, value = field.partition("=")
            if key.strip().lower() == "from" and value:
                out.append(value)
    return out


def dependencies(dockerfile: Dockerfile, meta: Mapping[str, str | None], index: int) -> set[int]:
    stage = dockerfile.stages[index]
    env = {k: v or "" for k, v in meta.items()}
    names = [stage_base(stage, meta, dockerfile.escape)[0]]
    for instr in stage.instructions:
        if instr.cmd in ("COPY", "ADD") and instr.flag("from"):
            names.append(expand(instr.flag("from") or "", env, dockerfile.escape))
        elif instr.cmd == "RUN":
            names.extend(mount_sources(instr.flags.get("mount", [])))
    found = (find_stage(dockerfile, n, index) for n in names)
    return {i for i in found if i is not None}


def plan(dockerfile: Dockerfile, meta: Mapping[str, str | None], target: int) -> dict[int, set[int]]:
    """The stages `target` needs with their dependencies, in an order where each comes after
    what it needs (dict order)."""
    deps: dict[int, set[int]] = {}

    def visit(i: int) -> None:
        if i in deps:
            return
        needs = dependencies(dockerfile, meta, i)
        for j in sorted(needs):
            visit(j)
        deps[i] = needs

    visit(target)
    return deps


def run_parallel(deps: dict[int, set[int]], build: Callable[[int, dict[int, T], threading.Event], T]) -> dict[int, T]:
    """Run `build(index, results of its dependencies, cancelled)` for every stage, each in its
    own thread once its dependencies are done; the first failure cancels the rest and is raised."""
    cancelled = threading.Event()
    futures: dict[int, Future] = {}

    def task(i: int) -> T:
        try:
            results = {j: futures[j].result() for j in deps[i]}
            return build(i, results, cancelled)
        except BaseException:
            cancelled.set()
            raise

    with ThreadPoolExecutor(max_workers=len(deps), thread_name_prefix="stage") as pool:
        for i in deps:
            futures[i] = pool.submit(task, i)
        first_error: BaseException | None = None
        for i, fut in futures.items():
            err = fut.exception()
            if err is not None and first_error is None and not isinstance(err, StageCancelled):
                first_error = err
        if first_error is not None:
            raise first_error
        return {i: fut.result() for i, fut in futures.items()}


class StageCancelled(Exception):
    """Raised in a stage that stops because another one failed."""
