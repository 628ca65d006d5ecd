"""Running builds: a worker in the hub server takes queued builds from hub.db, one per source at a time.

A build is: clone the repository and check out the pushed commit in a temporary directory,
`dockyard build` it in the hub's own engine root, `dockyard save` it and publish it into the
registry under the tags of the source's rule. Every step's output goes to the build's log
file as it happens, so a page or `hub builds -f` can follow it. Each step runs in its own
process group, so the time limit (or a hub shutdown) ends the whole tree of a stuck step.

The worker polls hub.db, because builds are also queued by git hooks in other processes; a
webhook arriving in this process wakes it at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from dockyard.errors import DockyardError, InvalidArgument
from dockyard.hub import tagrule
from dockyard.hub.failure import failing_line
from dockyard.hub.publish import publish
from dockyard.hub.state import FAILED, SUCCEEDED, Build, HubState, Source
from dockyard.registry.storage import RegistryStorage

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1  # how soon a build queued by a git hook (which cannot wake us) starts; one cheap SQLite read
DOCKYARD = (sys.executable, "-c", "from dockyard.cli.main import main; main()")


class StepFailed(Exception):
    def __init__(self, reason: str, output_from: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.output_from = output_from  # log offset where the failing step's output starts


def _inside(base: Path, relative: str, what: str) -> Path:
    path = (base / relative).resolve()
    if not path.is_relative_to(base.resolve()):
        raise StepFailed(f"{what} {relative!r} points outside the repository")
    return path


class BuildJob:
    """One build, from checkout to publish."""

    def __init__(self, state: HubState, storage: RegistryStorage, build: Build, source: Source) -> None:
        self.state, self.storage, self.build, self.source = state, storage, build, source
        self.log_path = state.log_path(build.id)
        self.proc: asyncio.subprocess.Process | None = None

    def note(self, text: str) -> None:
        with open(self.log_path, "a") as f:
            f.write(text + "\n")

    async def step(self, title: str, argv: list[str], cwd: Path | None = None) -> int:
        """Run one command with its output appended to the log; returns the log offset it started at."""
        self.note(f"==> {title}\n$ {shlex.join(argv)}")
        start = self.log_path.stat().st_size
        with open(self.log_path, "ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
            code = await self.proc.wait()
        self.proc = None
        if code != 0:
            raise StepFailed(f"{title} failed (exit code {code})", start)
        return start

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    async def run(self) -> None:
        b, s = self.build, self.source
        work = Path(tempfile.mkdtemp(prefix=f"dockyard-hub-build-{b.id}-"))
        checkout = work / "src"
        engine = ("--root", str(self.state.engine_root), "--run-dir", str(self.state.dir / "run"))
        dockerfile = ""
        try:
            self.note(f"build {b.id} of {s.repo}: {s.git_url} {b.branch} at {b.sha}")
            await self.step("clone", ["git", "clone", "--quiet", "--no-checkout", s.git_url, str(checkout)])
            await self.step("checkout", ["git", "-C", str(checkout), "-c", "advice.detachedHead=false",
                                         "checkout", "--quiet", "--detach", b.sha])
            message = await _output(["git", "-C", str(checkout), "log", "-1", "--format=%s", b.sha])
            self.state.update(b.id, message=message)
            try:
                tags = tagrule.expand(s.tag_rule, b.branch, b.sha)
            except InvalidArgument as exc:
                raise StepFailed(exc.message) from None
            dockerfile_path = _inside(checkout, s.dockerfile, "dockerfile")
            context = _inside(checkout, s.context, "context")
            dockerfile = dockerfile_path.read_text(errors="replace") if dockerfile_path.is_file() else ""
            if not dockerfile:
                raise StepFailed(f"no Dockerfile at {s.dockerfile} in commit {b.short_sha}")
            local = f"{s.repo}:hub-build-{b.id}"
            await self.step("build", [*DOCKYARD, *engine, "build", "-t", local, "-f", str(dockerfile_path), str(context)])
            archive = work / "image.tar"
            await self.step("save", [*DOCKYARD, *engine, "save", "--format", "oci", "-o", str(archive), local])
            self.note(f"==> publish {', '.join(f'{s.repo}:{t}' for t in tags)}")
            digest = await asyncio.get_running_loop().run_in_executor(None, publish, self.storage, archive, s.repo, tags)
            self.state.update(b.id, tags=",".join(tags), digest=digest)
            self.note(f"published {digest}")
            self.state.finish(b.id, SUCCEEDED)
        except StepFailed as exc:
            self.note(f"==> failed: {exc.reason}")
            line = ""
            if exc.output_from is not None and dockerfile:
                with open(self.log_path, errors="replace") as f:
                    f.seek(exc.output_from)
                    line = failing_line(f.read(), dockerfile)
            self.state.finish(b.id, FAILED, exc.reason, line)
        except (DockyardError, OSError) as exc:
            reason = getattr(exc, "message", None) or str(exc)
            self.note(f"==> failed: {reason}")
            self.state.finish(b.id, FAILED, reason)
        finally:
            self.kill()
            shutil.rmtree(work, ignore_errors=True)


async def _output(argv: list[str]) -> str:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    return out.decode(errors="replace").strip()


class Worker:
    """Takes queued builds and runs them, at most `parallel` at once and one per source."""

    def __init__(self, state: HubState, storage: RegistryStorage, timeout: float, parallel: int = 2) -> None:
        self.state, self.storage, self.timeout, self.parallel = state, storage, timeout, parallel
        self.wake = asyncio.Event()
        self.running: dict[int, asyncio.Task] = {}
        self._loop_task: asyncio.Task | None = None

    def start(self) -> None:
        interrupted = self.state.fail_interrupted()
        if interrupted:
            log.warning("marked %d build(s) failed: the hub stopped while they ran", interrupted)
        self._loop_task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        tasks = [t for t in (self._loop_task, *self.running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            while len(self.running) < self.parallel:
                build = self.state.claim_next()
                if build is None:
                    break
                self.running[build.id] = asyncio.get_running_loop().create_task(self._run(build))
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), POLL_SECONDS)
            except TimeoutError:
                pass

    async def _run(self, build: Build) -> None:
        try:
            job = BuildJob(self.state, self.storage, build, self.state.source(build.source))
        except DockyardError as exc:
            self.state.finish(build.id, FAILED, exc.message)
            self.running.pop(build.id, None)
            return
        started = time.monotonic()
        try:
            await asyncio.wait_for(job.run(), self.timeout)
        except TimeoutError:
            job.kill()
            job.note(f"==> failed: time limit of {self.timeout:g} s reached")
            self.state.finish(build.id, FAILED, f"timed out after {time.monotonic() - started:.0f} s "
                                                f"(limit {self.timeout:g} s)")
        except Exception as exc:  # a bug here must fail the build, not the worker
            log.exception("build %d crashed", build.id)
            self.state.finish(build.id, FAILED, f"internal error: {exc}")
        finally:
            self.running.pop(build.id, None)
            self.wake.set()
