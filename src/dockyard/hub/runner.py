"""Running builds: a worker in the hub server takes queued builds from hub.db, one per source at a time.

A build is: clone the repository and check out the pushed commit in a temporary directory,
load the base images the hub's library has into the hub's own engine root, `dockyard build`
there with the source's build arguments and secrets, and publish the image from the engine's
content store into the registry under the tags of the build's rule. Every step's output goes to the build's log
file as it happens, so a page or `hub builds -f` can follow it. Each step runs in its own
process group, so the time limit (or a hub shutdown) ends the whole tree of a stuck step.

The worker polls the spool git hooks write to and hub.db (builds are also queued and
cancelled by the CLI in other processes); a webhook or a button in this process wakes it at once.
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
from collections.abc import Callable, Sequence
from pathlib import Path

from dockyard.errors import DockyardError, InvalidArgument
from dockyard.hub.builds import library
from dockyard.hub.builds.rules import REF_PREFIX, Rule
from dockyard.hub.builds.spool import drain
from dockyard.hub.builds.store import CANCELLED, MASK, BuildBook
from dockyard.hub.failure import failing_line
from dockyard.hub.publish import publish_built
from dockyard.hub.state import FAILED, SUCCEEDED, Build, HubState, Source
from dockyard.registry.storage import RegistryStorage

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1  # how soon a build queued by a git hook (which cannot wake us) starts; one cheap SQLite read
OUTPUT_CHUNK = 1 << 16
STOP_GRACE = 10.0  # seconds a cancelled step has to clean up before its process group is killed
Published = Callable[[int, str, list[str], str], None]
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

    def __init__(self, state: HubState, storage: RegistryStorage, build: Build, source: Source,
                 book: BuildBook, on_published: Sequence[Published] = ()) -> None:
        self.state, self.storage, self.build, self.source, self.book = state, storage, build, source, book
        self.on_published = on_published
        self.rule = _rule_of(book, build)
        self.vars = book.vars(source.repo)
        self.secrets = [v.value for v in self.vars if v.secret]
        self.log_path = state.log_path(build.id)
        self.proc: asyncio.subprocess.Process | None = None
        self.cancelled_by = ""
        self._stopping: asyncio.Task | None = None

    def note(self, text: str) -> None:
        with open(self.log_path, "a") as f:
            f.write(self.mask(text) + "\n")

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    async def step(self, title: str, argv: list[str], cwd: Path | None = None) -> int:
        """Run one command with its output appended to the log; returns the log offset it started at."""
        self.check_cancelled()
        self.note(f"==> {title}\n$ {shlex.join(argv)}")
        start = self.log_path.stat().st_size
        with open(self.log_path, "ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
            await self._copy_output(self.proc.stdout, out)
            code = await self.proc.wait()
        self.proc = None
        self.check_cancelled()
        if code != 0:
            raise StepFailed(f"{title} failed (exit code {code})", start)
        return start

    async def _copy_output(self, stream: asyncio.StreamReader, out) -> None:
        """Append a step's output to the log as it comes, whole lines at a time, secrets masked."""
        pending = b""
        while chunk := await stream.read(OUTPUT_CHUNK):
            pending += chunk
            cut = pending.rfind(b"\n") + 1 if len(pending) < OUTPUT_CHUNK else len(pending)
            if cut:
                out.write(self._masked(pending[:cut]))
                out.flush()
                pending = pending[cut:]
        out.write(self._masked(pending))

    def _masked(self, data: bytes) -> bytes:
        for secret in self.secrets:
            data = data.replace(secret.encode(), MASK.encode())
        return data

    def cancel(self, who: str) -> None:
        if not self.cancelled_by:
            self.cancelled_by = who
            self._stopping = asyncio.get_running_loop().create_task(self.stop_process())

    def check_cancelled(self) -> None:
        if self.cancelled_by:
            raise StepFailed(f"cancelled by {self.cancelled_by}")

    async def stop_process(self) -> None:
        """Stop the running step: SIGTERM first (`dockyard build` then cancels, killing its RUN
        container and cleaning up), its whole process group killed after a grace period."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        try:
            os.kill(proc.pid, signal.SIGTERM)
            await asyncio.wait_for(asyncio.shield(proc.wait()), STOP_GRACE)
            return
        except (ProcessLookupError, TimeoutError):
            pass
        self.kill(proc)
        await proc.wait()
        # a build killed outright leaves its step's mounts, cgroups and snapshot: released now,
        # not by whatever command next runs on the build engine's root (perhaps never)
        await asyncio.get_running_loop().run_in_executor(None, self._reclaim)

    def _reclaim(self) -> None:
        from dockyard.builder.unfinished import reclaim
        from dockyard.engine import Engine
        reclaim(Engine(self.state.engine_root, self.state.dir / "run"))

    def kill(self, proc: asyncio.subprocess.Process | None = None) -> None:
        proc = proc or self.proc
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    async def prepare_bases(self, dockerfile: str, args: dict[str, str], engine: tuple[str, ...], work: Path) -> list[str]:
        """Load the bases the hub's library holds into the build engine; returns the names found nowhere."""
        missing = []
        for i, base in enumerate(library.bases(dockerfile, args)):
            image_id = library.hub_image(self.storage, base)
            if image_id is None:
                if not library.engine_has(self.state.engine_root, base):
                    missing.append(base.name)
                self.note(f"base {base.name}: not on this hub, from the engine's registries")
            elif library.engine_has(self.state.engine_root, base, image_id):
                self.note(f"base {base.name}: {base.repo}:{base.reference} of this hub ({image_id[7:19]}, loaded)")
            else:
                archive = work / f"base-{i}.tar"
                await asyncio.get_running_loop().run_in_executor(
                    None, library.export, self.storage, base.repo, base.reference, base.full, archive)
                await self.step(f"load base {base.name} from {base.repo}:{base.reference} of this hub",
                                [*DOCKYARD, *engine, "load", "-q", "-i", str(archive)])
        return missing

    async def run(self) -> None:
        b, s, rule = self.build, self.source, self.rule
        work = Path(tempfile.mkdtemp(prefix=f"dockyard-hub-build-{b.id}-"))
        checkout = work / "src"
        engine = ("--root", str(self.state.engine_root), "--run-dir", str(self.state.dir / "run"))
        dockerfile = ""
        missing: list[str] = []
        try:
            self.note(f"build {b.id} of {s.repo}: {s.git_url} {self.rule.source_type} {b.branch} at {b.sha}"
                      f" (rule {rule.label})")
            await self.step("clone", ["git", "clone", "--quiet", "--no-checkout", s.git_url, str(checkout)])
            await self.step("checkout", ["git", "-C", str(checkout), "-c", "advice.detachedHead=false",
                                         "checkout", "--quiet", "--detach", b.sha])
            message = await _output(["git", "-C", str(checkout), "log", "-1", "--format=%s", b.sha])
            self.state.update(b.id, message=message)
            matched = rule.match(REF_PREFIX[rule.source_type] + b.branch)
            try:
                tags = rule.tags_for(b.branch, b.sha, matched[1] if matched else ())
            except InvalidArgument as exc:
                raise StepFailed(exc.message) from None
            dockerfile_path = _inside(checkout, rule.dockerfile, "dockerfile")
            context = _inside(checkout, rule.context, "context")
            dockerfile = dockerfile_path.read_text(errors="replace") if dockerfile_path.is_file() else ""
            if not dockerfile:
                raise StepFailed(f"no Dockerfile at {rule.dockerfile} in commit {b.short_sha}")
            args = {v.name: v.value for v in self.vars if not v.secret}
            missing = await self.prepare_bases(dockerfile, args, engine, work)
            options = [a for k, v in args.items() for a in ("--build-arg", f"{k}={v}")]
            secrets = work / "secrets"
            secrets.mkdir(mode=0o700)
            for v in self.vars:
                if v.secret:
                    (secrets / v.name).write_text(v.value)
                    options += ["--secret", f"id={v.name},src={secrets / v.name}"]
            local = f"{s.repo}:hub-build-{b.id}"
            iidfile = work / "image.id"
            await self.step("build", [*DOCKYARD, *engine, "build", "-t", local, "--iidfile", str(iidfile), *options,
                                      "-f", str(dockerfile_path), str(context)])
            self.check_cancelled()
            self.note(f"==> publish {', '.join(f'{s.repo}:{t}' for t in tags)}")
            digest = await asyncio.get_running_loop().run_in_executor(
                None, publish_built, self.storage, self.state.engine_root, iidfile.read_text().strip(), s.repo, tags)
            self.state.update(b.id, tags=",".join(tags), digest=digest)
            for hook in self.on_published:
                hook(b.id, s.repo, tags, digest)
            self.note(f"published {digest}")
            self.state.finish(b.id, SUCCEEDED)
        except StepFailed as exc:
            self.note(f"==> {'cancelled' if self.cancelled_by else 'failed'}: {exc.reason}")
            if self.cancelled_by:
                self.state.finish(b.id, CANCELLED, f"cancelled by {self.cancelled_by}")
                return
            line = ""
            if exc.output_from is not None and dockerfile:
                with open(self.log_path, errors="replace") as f:
                    f.seek(exc.output_from)
                    line = failing_line(f.read(), dockerfile)
            reason = library.missing_hint(missing) if missing and exc.reason.startswith("build ") else exc.reason
            if reason != exc.reason:
                self.note(reason)
            self.state.finish(b.id, FAILED, reason, line)
        except (DockyardError, OSError) as exc:
            reason = getattr(exc, "message", None) or str(exc)
            self.note(f"==> failed: {reason}")
            self.state.finish(b.id, FAILED, reason)
        finally:
            await self.stop_process()
            shutil.rmtree(work, ignore_errors=True)


def _rule_of(book: BuildBook, build: Build) -> Rule:
    """The rule that queued `build`; the source's first rule if it is gone (or the build predates rules)."""
    meta = book.meta(build.id)
    rules = book.rules(build.source)
    return next((r for r in rules if r.id == meta.rule), rules[0])


async def _output(argv: list[str]) -> str:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    return out.decode(errors="replace").strip()


class Worker:
    """Takes queued builds and runs them, at most `parallel` at once and one per source."""

    def __init__(self, state: HubState, storage: RegistryStorage, timeout: float, parallel: int = 2) -> None:
        self.state, self.storage, self.timeout, self.parallel = state, storage, timeout, parallel
        self.book = BuildBook(state)
        self.on_published: list[Published] = []  # told (build id, repository, tags, digest) of each image a build stores
        self.wake = asyncio.Event()
        self.running: dict[int, asyncio.Task] = {}
        self.jobs: dict[int, BuildJob] = {}
        self.finished_hooks: list[Callable[[Build], None]] = []  # told of every build a job ran, once it ended
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
            try:
                drain(self.book)
            except Exception:  # a spool file it cannot read must not stop the worker
                log.exception("could not queue the pushes git hooks spooled")
            while len(self.running) < self.parallel:
                build = self.state.claim_next()
                if build is None:
                    break
                self.running[build.id] = asyncio.get_running_loop().create_task(self._run(build))
            for build_id, who in self.book.cancel_requests(list(self.jobs)).items():
                self.jobs[build_id].cancel(who)  # asked for by `hub builds cancel` in another process
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), POLL_SECONDS)
            except TimeoutError:
                pass

    async def _run(self, build: Build) -> None:
        try:
            job = BuildJob(self.state, self.storage, build, self.state.source(build.source), self.book,
                           self.on_published)
        except DockyardError as exc:
            self.state.finish(build.id, FAILED, exc.message)
            self.running.pop(build.id, None)
            return
        started = time.monotonic()
        self.jobs[build.id] = job
        try:
            await asyncio.wait_for(job.run(), self.timeout)
        except TimeoutError:
            job.note(f"==> failed: time limit of {self.timeout:g} s reached")
            self.state.finish(build.id, FAILED, f"timed out after {time.monotonic() - started:.0f} s "
                                                f"(limit {self.timeout:g} s)")
        except Exception as exc:  # a bug here must fail the build, not the worker
            log.exception("build %d crashed", build.id)
            self.state.finish(build.id, FAILED, f"internal error: {exc}")
        finally:
            self.running.pop(build.id, None)
            self.jobs.pop(build.id, None)
            self.wake.set()
        ended = self.state.build(build.id)
        for hook in self.finished_hooks:
            try:
                hook(ended)
            except Exception:  # a listener's bug must not stop the worker
                log.exception("build %d: a finished-build listener failed", build.id)

    def cancel(self, build_id: int, who: str) -> str:
        """Cancel a queued build, or stop a running one now; returns the status it has or will have."""
        status = self.book.cancel(build_id, who)
        job = self.jobs.get(build_id)
        if job is not None:
            job.cancel(who)
        return CANCELLED if status != "running" else status
