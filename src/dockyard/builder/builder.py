"""The builder: a parsed Dockerfile and a context in, an image out.

Each stage starts from its base (an image, `scratch`, or an earlier stage) and walks its
instructions; every step is first looked up in the build cache by a key that chains back to
the base, and only run on a miss. Config-only steps change the image config; RUN, COPY, ADD
and WORKDIR run in a mounted snapshot and commit their changes as one layer each. Nothing is
tagged until the whole build succeeded, so a failure never leaves a half image behind.

A classic build (the Engine API's, as Docker's legacy builder does it) builds every stage up to
the target one after another, numbers its steps as that builder does and reports the ID the
image has after each step; with cache-from images, they are its only cache.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import os
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from dockyard.builder import copy as copying
from dockyard.builder import run as running
from dockyard.builder.argscope import StageScope, meta_args, stage_base
from dockyard.builder.cache import CacheRecord, step_key
from dockyard.builder.changes import CONFIG_ONLY, apply_instruction, env_map
from dockyard.builder.context import BuildContext
from dockyard.builder.dockerfile import parse
from dockyard.builder.instructions import DockerfileError, Instruction, Stage
from dockyard.builder.progress import Progress, Step
from dockyard.builder.shellwords import expand
from dockyard.builder.sources import SourceError, SourceTree, join_dest
from dockyard.builder.stages import StageCancelled, find_stage, plan, run_parallel
from dockyard.builder.unfinished import Marker
from dockyard.builder.workspace import View, Workspace
from dockyard.errors import DockyardError
from dockyard.oci.image import chain_ids, host_platform, new_config, now_rfc3339
from dockyard.oci.platform import of_document, parse_platform


@dataclass
class BuildOptions:
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    network: str = "default"      # default | none | host | a network's name or ID
    secrets: dict[str, str] = field(default_factory=dict)  # id -> host file
    source_date_epoch: int | None = None
    extra_hosts: list[str] = field(default_factory=list)  # name:ip, added to RUN steps' /etc/hosts
    cache_from: list[str] | None = None  # images that are then the only cache (see build.cachefrom)
    cache_imports: list[str] = field(default_factory=list)  # images whose steps add to the build cache (BuildKit's)
    platform: str | None = None   # the target platform (os/arch[/variant]); default: this host's
    limits: dict = field(default_factory=dict)  # RunOptions resource fields for RUN: memory, shm_size...
    # Docker's classic builder: every stage up to the target built in order, steps numbered as it
    # numbers them (meta ARGs, FROMs, ARGs and --label's LABELs included), intermediate image IDs
    classic: bool = False
    remove: bool = True           # report intermediate containers removed after a successful step
    force_remove: bool = False    # ... and after a failed one
    ssh: dict[str, str] = field(default_factory=dict)  # id -> an SSH agent's socket on the host
    image_contexts: dict[str, str] = field(default_factory=dict)  # named contexts: name -> the image it means
    dir_contexts: dict[str, str] = field(default_factory=dict)    # ... name -> a directory (COPY/mount --from)


class BuildCancelled(DockyardError):
    """The build stopped because whoever asked for it went away."""

    def __init__(self) -> None:
        super().__init__("Build cancelled")


@dataclass
class StageState:
    """Where a stage is: its image config so far, its layers, and its cache key."""

    config: dict
    layers: list[dict]
    key: str
    image_id: str = ""  # the base image's ID; in classic builds, the ID shown after each step (the image's after the last)

    @property
    def diff_ids(self) -> list[str]:
        return self.config["rootfs"]["diff_ids"]

    @property
    def chain(self) -> str:
        ids = chain_ids(self.diff_ids)
        return ids[-1] if ids else ""


@dataclass
class StepPlan:
    """A step ready to run: its cache key inputs, history text, and the work on the rootfs."""

    key_parts: list
    created_by: str
    work: Callable[[Workspace, Step], None] | None = None
    cleanup: Callable[[], None] | None = None


# (reference, force pull, platform or None for the host's) -> Image of that platform
ImageResolver = Callable[[str, bool, str | None], object]


class Builder:
    def __init__(self, engine, context: BuildContext, options: BuildOptions, progress: Progress,
                 resolve_image: ImageResolver) -> None:
        self.engine = engine
        self.context = context
        self.options = options
        self.progress = progress
        self.resolve_image = resolve_image
        self.cache = engine.build_cache
        self.tree = SourceTree(context.root, ignore=context.ignore, confined=True)
        self.platform = parse_platform(options.platform).as_dict() if options.platform else host_platform()
        self._image_lock = threading.Lock()
        self._scopes: list[StageScope] = []  # of every stage built, for the unused build-arg warning
        self.cache_sources = None
        if options.cache_from is not None and not options.no_cache:
            from dockyard.builder.cachefrom import CacheSources
            self.cache_sources = CacheSources(engine, options.cache_from)
        self.cache_imports = None
        if options.cache_imports and not options.no_cache:
            from dockyard.builder.cachefrom import CacheSources
            self.cache_imports = CacheSources(engine, options.cache_imports, narrow=False)
        self._numbered = 0  # classic builds: steps numbered so far
        self._total = 0
        self.marker = Marker(engine.root, f"build-{secrets.token_hex(16)}")
        self._scratch = itertools.count()  # numbers the marker's scratch directories

    # -- the whole build -------------------------------------------------------------------
    def build(self):
        """Build the target stage; returns the Image, tagged with the requested tags."""
        from dockyard.images.compose import write_image
        from dockyard.oci.reference import parse_normalized

        tags = [parse_normalized(t) for t in self.options.tags]
        df = parse(self.context.dockerfile, self.context.dockerfile_name)
        for warning in df.warnings:
            self.progress.warning("[internal] warning", warning)
        self.df = df
        self.meta = meta_args(df, self.options.build_args, self._predefined())
        target = len(df.stages) - 1
        if self.options.target:
            target = df.stages.index(df.stage(self.options.target))
        self.target = target
        if self.options.classic:
            stages = {i: set(range(i)) for i in range(target + 1)}  # all of them, one after another
            self._total = len(df.meta_args) + len(self.options.labels) + \
                sum(1 + len(s.instructions) for s in df.stages[:target + 1])
            for arg in df.meta_args:
                self.progress.start(self._numbered_label(arg.original))
        else:
            stages = plan(df, self.meta, target)
        with self.engine.lock.shared():
            results = run_parallel(stages, self._build_stage)
            final = results[target]
            self._check_cancelled()
            step = self.progress.start("exporting to image") if not self.options.classic else None
            config = copy.deepcopy(final.config)
            if self.options.labels and not self.options.classic:
                labels = dict(config["config"].get("Labels") or {})
                labels.update(self.options.labels)
                config["config"]["Labels"] = labels
            same = self.engine.images.find(final.image_id) if self.options.classic and final.image_id else None
            if same is not None and same.id == final.image_id:  # a classic build that added nothing: the base
                manifest = same.manifest_digest
            else:
                manifest = write_image(self.engine.content, config, final.layers)
            image = self.engine.images.add_image(manifest, tags)
            if step is not None:
                self.progress.finish(step, "done", f"writing image {image.id} done")
        self._warn_unused()
        return image

    def _numbered_label(self, text: str) -> str:
        """The classic builder's step header (stages build one after another, so no lock)."""
        self._numbered += 1
        return f"Step {self._numbered}/{self._total} : {text.strip()}"

    def _predefined(self) -> dict[str, str]:
        out = {}
        for side, plat in (("BUILD", host_platform()), ("TARGET", self.platform)):
            spec = f"{plat['os']}/{plat['architecture']}" + (f"/{plat['variant']}" if "variant" in plat else "")
            out.update({f"{side}PLATFORM": spec, f"{side}OS": plat["os"], f"{side}ARCH": plat["architecture"],
                        f"{side}VARIANT": plat.get("variant", "")})
        return out

    def _warn_unused(self) -> None:
        used = set(self.meta) | set(running.PROXY_ARGS) | {"SOURCE_DATE_EPOCH"}
        for scope in self._scopes:
            used |= scope.used_build_args
        unused = sorted(set(self.options.build_args) - used)
        if unused:
            if self.options.classic:  # a list as Go's %v prints it
                text = f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed"
            else:
                text = f"One or more build-args {unused} were not consumed"
            self.progress.warning("[warning] unused build arguments", text)

    # -- one stage -------------------------------------------------------------------------
    def _build_stage(self, index: int, deps: dict[int, StageState], cancelled: threading.Event) -> StageState:
        stage = self.df.stages[index]
        base, platform = stage_base(stage, self.meta, self.df.escape)
        plat = self._stage_platform(platform, stage)
        label = stage.name or (f"stage-{index}" if len(self.df.stages) > 1 else "")
        # the classic builder names the step before it pulls the base image
        from_step = self.progress.start(self._numbered_label(stage.from_instruction.original)) \
            if self.options.classic else None
        state, triggers = self._base_state(base, index, deps, stage, plat)
        if any(i.cmd == "RUN" for i in [*stage.instructions, *triggers]):
            from dockyard import emulation
            try:
                emulation.ensure(state.config.get("architecture") or plat["architecture"])
            except DockyardError as err:
                raise DockerfileError(err.message, stage.line) from None
        scope = StageScope(self.meta, self.options.build_args, env_map(state.config["config"]), self.df.escape)
        self._scopes.append(scope)
        if from_step is not None:
            return self._classic_stage(stage, from_step, state, scope, triggers, deps, index, cancelled)
        steps = [(f"ONBUILD {t.original}", t) for t in triggers] + \
                [(i.original, i) for i in stage.instructions]
        total = 1 + sum(1 for _, i in steps if i.cmd != "ARG")
        prefix = f"[{label} " if label else "["
        from_step = self.progress.start(f"{prefix}1/{total}] FROM {base}")
        self.progress.finish(from_step, "done")
        n = 1
        for text, instr in steps:
            if cancelled.is_set():
                raise StageCancelled()
            if instr.cmd == "ARG":
                scope.apply(instr)
                continue
            n += 1
            self._step(state, scope, instr, f"{prefix}{n}/{total}] {_short(text)}", deps, index)
        return state

    def _classic_stage(self, stage: Stage, from_step: Step, state: StageState, scope: StageScope,
                       triggers: list[Instruction], deps: dict[int, StageState], index: int,
                       cancelled: threading.Event) -> StageState:
        """A stage as the classic builder shows it: `Step n/m : INSTRUCTION` headers, ONBUILD
        triggers run under the FROM step, and ` ---> ID` after every step, ARG steps too."""
        instructions = list(stage.instructions)
        if index == self.target:  # --label: LABEL steps at the end, their values taken as they are
            instructions += [_label_instruction(k, v, self.df.escape, stage.line)
                             for k, v in sorted(self.options.labels.items())]
        # the image ID, a hash of the whole config, is worked out after the stage's last step only
        # (at every step it would make a long Dockerfile quadratic); the others show their key's
        last = max((n for n, i in enumerate(instructions) if i.cmd != "ARG"), default=-1)
        if triggers:
            self.progress.warning("", f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}")
            for n, trigger in enumerate(triggers):
                self._step(state, scope, trigger, "", deps, index, final=last < 0 and n == len(triggers) - 1)
        self.progress.finish(from_step, "done", _short_id(state.image_id))
        for n, instr in enumerate(instructions):
            if cancelled.is_set():
                raise StageCancelled()
            label = self._numbered_label(instr.original)
            if instr.cmd == "ARG":
                scope.apply(instr)
                self.progress.finish(self.progress.start(label), "done", _short_id(state.image_id))
                continue
            self._step(state, scope, instr, label, deps, index, final=n == last)
        if state.image_id:
            self.progress.stage_built(state.image_id)
        return state

    def _stage_platform(self, platform: str | None, stage: Stage) -> dict:
        """The platform a stage builds for: its FROM --platform, else the build's target."""
        if not platform:
            return self.platform
        try:
            return parse_platform(platform).as_dict()
        except DockyardError as err:
            raise DockerfileError(f"FROM --platform={platform}: {err.message}", stage.line) from None

    def _base_state(self, base: str, index: int, deps: dict[int, StageState],
                    stage: Stage, plat: dict) -> tuple[StageState, list[Instruction]]:
        epoch = self.options.source_date_epoch
        dep = find_stage(self.df, base, index)
        if dep is not None:
            src = deps[dep]
            return StageState(copy.deepcopy(src.config), list(src.layers), src.key, src.image_id), []
        if base.lower() == "scratch":
            cfg = new_config([], container_config={}, created=self._now(), platform=plat)
            origin = "scratch" if plat == host_platform() else f"scratch {cfg['os']}/{cfg['architecture']}"
            return StageState(cfg, [], step_key("", origin, epoch)), []
        image = self._image(base, stage, plat)
        cfg = copy.deepcopy(self.engine.images.config(image))
        cfg.setdefault("config", {})
        cfg["config"] = cfg["config"] or {}
        layers = self.engine.images.manifest(image)["layers"]
        triggers = [self._trigger(t, stage) for t in cfg["config"].pop("OnBuild", None) or []]
        cfg.setdefault("history", [])
        return StageState(cfg, list(layers), step_key("", image.id, epoch), image.id), triggers

    def _image(self, name: str, stage: Stage, plat: dict | None = None):
        """The image `name` (or the named context standing for it) for `plat` (default: the
        build's target platform)."""
        name = self.options.image_contexts.get(name, name)
        plat = plat or self.platform
        wanted = None if plat == host_platform() else str(of_document(plat))
        with self._image_lock:  # two stages on one base pull it once
            try:
                return self.resolve_image(name, self.options.pull, wanted)
            except DockyardError as err:
                raise DockerfileError(f"FROM {name}: {err.message}", stage.line) from None

    def _trigger(self, text: str, stage: Stage) -> Instruction:
        try:
            instr = parse(f"FROM scratch\n{text}\n", "ONBUILD").stages[0].instructions[0]
        except DockerfileError as err:
            raise DockerfileError(f"ONBUILD trigger {text!r} of the base image: {err.reason}", stage.line) from None
        instr.line = stage.line
        return instr

    # -- one step --------------------------------------------------------------------------
    def _step(self, state: StageState, scope: StageScope, instr: Instruction, label: str,
              deps: dict[int, StageState], index: int, *, final: bool = True) -> None:
        """One step; in a classic build, `final` says it is its stage's last, whose image ID
        the stage ends with (earlier steps show an ID made of their cache key)."""
        # The stage owns its config (copied once when the stage starts): a config-only step
        # changes it in place, so a step costs what it changes, not what the config holds.
        config = state.config["config"]
        author = state.config.get("author")
        if instr.cmd == "MAINTAINER":
            author = expand(instr.args[0], scope.vars, self.df.escape)
            step_plan = StepPlan(["MAINTAINER", author], f"MAINTAINER {author}")
        elif instr.cmd in CONFIG_ONLY:
            changed = apply_instruction(config, instr, scope.vars, self.df.escape)
            if instr.cmd == "ENV":
                scope.apply(instr)
            step_plan = self._config_plan(instr, config, changed, scope)
        elif instr.cmd == "RUN":
            step_plan = self._run_plan(instr, config, scope, deps, index)
        else:
            step_plan = self._copy_plan(instr, config, scope, deps, index)
        key = step_key(state.key, *step_plan.key_parts)
        self._check_cancelled()
        step = self.progress.start(label)
        try:
            record = self._cached(key, state, step_plan.created_by)
            status = "cached" if record is not None else "done"
            if record is None:
                record = self._execute(state, step_plan, step)
            if status == "done" or self.cache_sources is not None or self.cache_imports is not None:
                self.cache.put(key, record)
        except (running.StepFailed, BuildCancelled) as err:
            self.progress.finish(step, "error", err.message)
            raise
        except DockyardError as err:
            self.progress.finish(step, "error", err.message)
            if not isinstance(err, DockerfileError):
                raise DockerfileError(f"{instr.cmd} failed: {err.message}", instr.line) from None
            raise
        except OSError as err:
            message = f"{instr.cmd} failed: {err.strerror or err}" + (f": {err.filename}" if err.filename else "")
            self.progress.finish(step, "error", message)
            raise DockerfileError(message, instr.line) from None
        finally:
            if step_plan.cleanup:
                step_plan.cleanup()
        history = {"created": record.created, "created_by": record.created_by}
        if record.layer is None:
            history["empty_layer"] = True
        else:
            state.layers.append(record.layer)
            state.config["rootfs"]["diff_ids"].append(record.diff_id)
        state.config["history"].append(history)
        state.config["created"] = record.created
        if author:
            state.config["author"] = author
        state.key = key
        if self.options.classic and final:
            from dockyard.images.compose import config_json
            state.image_id = "sha256:" + hashlib.sha256(config_json(state.config)).hexdigest()
        elif self.options.classic:
            state.image_id = key
        self.progress.finish(step, status, _short_id(state.image_id) if self.options.classic else "")

    def _check_cancelled(self) -> None:
        if self.progress.cancelled():
            raise BuildCancelled()

    def _cached(self, key: str, state: StageState, created_by: str) -> CacheRecord | None:
        """The step's record from the cache, or None to run it: with cache-from images, only
        they are looked at; otherwise the build cache, then the imported cache images."""
        if self.options.no_cache:
            return None
        if self.cache_sources is not None:
            return self.cache_sources.find(state.config["history"], state.diff_ids, created_by)
        record = self.cache.get(key)
        if record is None and self.cache_imports is not None:
            record = self.cache_imports.find(state.config["history"], state.diff_ids, created_by)
        return record

    def _execute(self, state: StageState, step_plan: StepPlan, step: Step) -> CacheRecord:
        created = self._now()
        if step_plan.work is None:
            return CacheRecord(step_plan.created_by, created, None, "", state.chain)
        parent = self._ensure_snapshot(state)
        with Workspace(self.engine, parent, clamp_mtime=self.options.source_date_epoch) as ws:
            step_plan.work(ws, step)
            committed = ws.commit()
        if committed is None:
            return CacheRecord(step_plan.created_by, created, None, "", parent)
        return CacheRecord(step_plan.created_by, created, committed.descriptor, committed.diff_id, committed.chain)

    def _ensure_snapshot(self, state: StageState) -> str:
        """The stage's top layer as a committed snapshot, unpacked again if GC took it."""
        chain = state.chain
        if chain and not self.engine.snapshots.exists(chain):
            self.engine.images.unpack(state.layers, state.diff_ids)
        return chain

    def _now(self) -> str:
        epoch = self.options.source_date_epoch
        if epoch is None:
            return now_rfc3339()
        return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    # -- plans by instruction --------------------------------------------------------------
    def _config_plan(self, instr: Instruction, config_after: dict, changed: dict, scope: StageScope) -> StepPlan:
        """`changed` is what the instruction set (apply_instruction's answer): with the parent's
        key, which stands for the config before, it is all the cache key needs of the config."""
        vars_ = scope.vars
        if instr.cmd in ("ENV", "LABEL"):
            pairs = [f"{expand(k, vars_, self.df.escape)}={expand(v, vars_, self.df.escape)}" for k, v in instr.pairs]
            shown = f"{instr.cmd} {' '.join(pairs)}"
        elif instr.cmd in ("CMD", "ENTRYPOINT", "SHELL"):
            import json
            key = {"CMD": "Cmd", "ENTRYPOINT": "Entrypoint", "SHELL": "Shell"}[instr.cmd]
            shown = f"{instr.cmd} {json.dumps(config_after.get(key))}"
        elif instr.cmd in ("ONBUILD", "HEALTHCHECK"):
            shown = instr.original.strip()
        else:
            shown = f"{instr.cmd} {' '.join(expand(a, vars_, self.df.escape) for a in instr.args)}"
        work = self._workdir_work(config_after) if instr.cmd == "WORKDIR" else None
        return StepPlan(["CONFIG", instr.cmd, changed], shown, work)

    @staticmethod
    def _workdir_work(config: dict) -> Callable[[Workspace, Step], None]:
        def work(ws: Workspace, step: Step) -> None:
            copying.ensure_dir(ws.rootfs, config.get("WorkingDir") or "/", (0, 0))
        return work

    def _args_env(self, scope: StageScope) -> dict[str, str]:
        env = dict(scope.args)
        env.update({k: v for k, v in self.options.build_args.items() if k in running.PROXY_ARGS})
        for name in env:
            if name in self.options.build_args:
                scope.used_build_args.add(name)
        return env

    def _network(self, instr: Instruction) -> str:
        """host, none, or the user-defined network the build was given."""
        network = instr.flag("network")
        if network is not None and network not in ("default", "none", "host"):
            raise DockerfileError(f"RUN --network={network}: use default, none or host", instr.line)
        network = network or self.options.network
        return network if network not in ("default", "host") else "host"

    def _run_plan(self, instr: Instruction, config: dict, scope: StageScope, deps: dict[int, StageState],
                  index: int) -> StepPlan:
        cmd = running.command(instr, config, self._args_env(scope), self._network(instr))
        views: list[View] = []
        key_mounts = []
        try:
            for text in instr.flags.get("mount", []):
                m = running.parse_mount(expand(text, scope.vars, self.df.escape), instr.line)
                mount, key = self._run_mount(m, instr, deps, index, views)
                if mount is not None:
                    cmd.mounts.append(mount)
                key_mounts.append(key)
                if m["type"] == "ssh" and mount is not None:  # as BuildKit: the first agent is the default
                    cmd.env.setdefault("SSH_AUTH_SOCK", mount.target)
        except BaseException:
            for v in views:
                v.__exit__()
            raise
        runtime_root = str(self.engine.run_dir / "runtime")
        opts = self.options

        def work(ws: Workspace, step: Step) -> None:
            from dockyard.builder.sandbox import run_network

            self.progress.container(step, ws.key)
            files = ws.marker.scratch("run-net")
            try:
                with run_network(self.engine, cmd.network, ws.key, Path(files), opts.extra_hosts) as net:
                    running.execute(cmd, instr, config, ws.rootfs, ws.upper, ws.marker.scratch("run"), container_id=ws.key,
                                    runtime_root=runtime_root, cgroup_parent=self.engine.containers.cgroup_parent,
                                    overlay=self.engine.snapshots.whiteout_mode == "overlay", net=net, limits=opts.limits,
                                    on_output=lambda stream, data: self.progress.output(step, data, stream),
                                    cancelled=self.progress.cancelled)
            except running.StepFailed:
                self._check_cancelled()  # killed because the build was cancelled: say that
                if opts.force_remove:
                    self.progress.container(step, ws.key, removed=True)
                raise
            finally:
                shutil.rmtree(files, ignore_errors=True)
            if opts.remove or opts.force_remove:
                self.progress.container(step, ws.key, removed=True)

        def cleanup() -> None:
            for v in views:
                v.__exit__()

        parts = ["RUN", cmd.argv, cmd.network, sorted(cmd.env.items()), key_mounts, cmd.script]
        return StepPlan(parts, cmd.created_by, work, cleanup)

    def _run_mount(self, m: dict[str, str], instr: Instruction, deps: dict[int, StageState], index: int,
                   views: list[View]) -> tuple[running.RunMount | None, object]:
        kind, target = m["type"], m.get("target", "")
        if kind == "tmpfs":
            return running.RunMount("tmpfs", target, size=int(m.get("size", "0") or 0)), m
        if kind == "secret":
            sid = m.get("id") or os.path.basename(target)
            target = target or f"/run/secrets/{sid}"
            src = self.options.secrets.get(sid)
            if src is None:
                if m.get("required") == "true":
                    raise DockerfileError(f"RUN --mount=type=secret: secret {sid!r} was not given (--secret id={sid},src=...)",
                                          instr.line)
                return None, ["secret", sid, False]
            return running.RunMount("bind", target, os.path.abspath(src)), ["secret", sid, target]
        if kind == "ssh":
            sid = m.get("id") or "default"
            target = target or "/run/buildkit/ssh_agent.0"
            src = self.options.ssh.get(sid)
            if src is None:
                if m.get("required") == "true":
                    raise DockerfileError(f"RUN --mount=type=ssh: no SSH agent {sid!r} was forwarded (--ssh {sid})",
                                          instr.line)
                return None, ["ssh", sid, False]
            return running.RunMount("bind", target, src, read_only=False), ["ssh", sid, target]
        if kind == "cache":
            import hashlib
            ident = m.get("id") or target
            path = self.engine.root / "build-cache-mounts" / hashlib.sha256(ident.encode()).hexdigest()[:32]
            if not path.exists():
                path.mkdir(parents=True, exist_ok=True)
                os.chmod(path, int(m.get("mode", "755"), 8))
                os.chown(path, int(m.get("uid", "0")), int(m.get("gid", "0")))
            return running.RunMount("bind", target, str(path), read_only=False), ["cache", ident, target]
        # bind: from the context, or from a stage or image
        source = m.get("source", "/")
        if m.get("from"):
            tree_root, key = self._from_root(m["from"], instr, deps, index, views)
            tree = SourceTree(tree_root, confined=False)
        else:
            tree, key = self.tree, None
        try:
            found = tree.match(source)
        except SourceError as err:
            raise DockerfileError(f"RUN --mount: {err.message}", instr.line) from None
        src = found[0]
        key = key or self.tree.digest(found)
        read_only = m.get("rw", m.get("readwrite", "false")) != "true"
        path = src.path
        if not read_only:  # writes are allowed but thrown away: give the step its own copy
            view = View(self.engine, "").__enter__()
            views.append(view)
            path = os.path.join(view.root, "src")
            if src.is_dir:
                shutil.copytree(src.path, path, symlinks=True)
            else:
                shutil.copy2(src.path, path)
        return running.RunMount("bind", target, path, read_only), ["bind", target, source, key, read_only]

    def _from_root(self, name: str, instr: Instruction, deps: dict[int, StageState], index: int,
                   views: list[View]) -> tuple[str, str]:
        """A mounted view of a stage or image `--from` names, and what the cache keys on for it."""
        dep = find_stage(self.df, name, index)
        if dep is None and name in self.options.dir_contexts:  # a named context: files, read in place
            tree = SourceTree(self.options.dir_contexts[name], confined=True)
            return tree.root, "context:" + tree.digest(tree.match("/"))
        if dep is not None:
            state = deps[dep]
            chain, key = self._ensure_snapshot(state), state.key
        else:
            image = self._image(name, self.df.stages[index])
            chain, key = self.engine.images.top_layer(image), image.id
        view = View(self.engine, chain).__enter__()
        views.append(view)
        return view.root, key

    def _copy_plan(self, instr: Instruction, config: dict, scope: StageScope, deps: dict[int, StageState],
                   index: int) -> StepPlan:
        vars_ = scope.vars
        esc = self.df.escape
        words = instr.args
        dest = join_dest(config.get("WorkingDir") or "/", expand(words[-1], vars_, esc))
        views: list[View] = []
        tmp = self.marker.scratch(f"copy{next(self._scratch)}")
        job: copying.CopyJob | None = None
        try:
            from_name = expand(instr.flag("from") or "", vars_, esc)
            if from_name:
                if instr.cmd == "ADD":
                    raise DockerfileError("ADD does not support --from; use COPY --from", instr.line)
                root, from_key = self._from_root(from_name, instr, deps, index, views)
                tree = SourceTree(root, confined=False)
            else:
                tree, from_key = self.tree, ""
            excludes = [expand(e, vars_, esc) for e in instr.flags.get("exclude", [])]
            if excludes:
                tree = tree.excluding(excludes)
            sources, from_extra = [], False
            checksum = instr.flag("checksum")
            for word in words[:-1]:
                doc = instr.heredoc(word)
                if doc is not None:
                    text = copying.expand_heredoc(doc.body, vars_) if doc.expand else doc.body
                    sources.append(copying.heredoc_source(text, doc.name, tmp))
                    from_extra = True
                    continue
                src = expand(word, vars_, esc)
                if instr.cmd == "ADD" and src.startswith(("http://", "https://")):
                    sources.append(copying.download(src, checksum, tmp, instr))
                    from_extra = True
                    continue
                try:
                    sources.extend(tree.match(src))
                except SourceError as err:
                    raise DockerfileError(f"{instr.cmd} failed: {err.message}", instr.line) from None
            if checksum and not from_extra:
                raise DockerfileError("ADD --checksum is only supported for http(s) URLs", instr.line)
            chown = expand(instr.flag("chown") or "", vars_, esc) or None
            job = copying.CopyJob(instr, tree, sources, dest, chown, copying.parse_chmod(instr),
                                  extract=instr.cmd == "ADD" and instr.flag("unpack") != "false", temp_dirs=[tmp])
            if len(sources) > 1 and not dest.endswith("/"):
                raise job.error("when copying more than one source file, the destination must be a directory "
                                "and end with a /")
            job.digest = tree.digest(sources)
        except BaseException:
            for v in views:
                v.__exit__()
            if job is not None:
                job.close()
            else:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
        parts = [instr.cmd, from_key, dest, job.chown, job.chmod, job.extract, job.digest,
                 [s.name for s in sources]]

        def cleanup() -> None:
            for v in views:
                v.__exit__()
            job.close()

        def work(ws: Workspace, step: Step) -> None:
            copying.apply(job, ws.rootfs, self.engine.content.reserve.guard("the step's files"))

        return StepPlan(parts, job.created_by, work, cleanup)


def _short_id(image_id: str) -> str:
    return image_id.split(":")[-1][:12]


def _label_instruction(key: str, value: str, escape: str, line: int) -> Instruction:
    """The LABEL step the classic builder adds for a --label, which it shows as `LABEL key=value`
    and never expands (hence the escaped `$`)."""
    def literal(text: str) -> str:
        return "".join(escape + c if c in (escape, "$", '"') else c for c in text)
    return Instruction("LABEL", f"LABEL {key}={value}", [literal(key), literal(value)], line, line)


def _short(text: str) -> str:
    first = text.strip().split("\n", 1)[0]
    return first if len(first) <= 200 else first[:197] + "..."


def build_image(engine, context: BuildContext, options: BuildOptions, progress: Progress,
                resolve_image: ImageResolver):
    """Build and tag; the CLI and the API server both come through here."""
    from dockyard.builder.sandbox import check_network

    check_network(engine, options.network)
    builder = Builder(engine, context, options, progress, resolve_image)
    builder.marker.write()  # the steps' scratch directories outside any workspace are this build's
    try:
        return builder.build()
    finally:
        builder.marker.remove()
