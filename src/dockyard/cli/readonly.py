"""`ps`, `images`, `port`, `logs`, `inspect` and `top` answered before the command-line parser loads.

Docker's CLI answers these in ~15 ms; click, the services (runtime, network, images) and their
imports cost us ~60 ms before the first row. These commands only read (`top` also records its
event): the rows from the DB, what running containers' shims recorded, images' configs from the
content store. So the plain forms are answered here with nothing more loaded (no site, pathlib,
re, json or sqlite3 packages: the C modules underneath, store/reader.py and jsonread.py), through
the same functions the click commands print with (pstable.py, imagetable.py, images/rows.py,
containers/views.py), and anything else returns None and the full command runs as it always
would: other flags, global options, an error to report, a build's leftovers to release, a DB to
migrate, or a running container whose record lags its shim (an exit or restart to write down,
which the full service does).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # collections.abc loads collections: 1 ms these commands skip
if TYPE_CHECKING:
    from collections.abc import Callable

    Output = Callable[[], None]  # what a command found to print, printed once nothing else can fail
_PS_FLAGS = {"-a": "all", "--all": "all", "-q": "quiet", "--quiet": "quiet", "--no-trunc": "no_trunc"}
_IMAGES_FLAGS = {**_PS_FLAGS, "--digests": "digests"}  # -a lists what it lists without: no intermediate images


def before_parsing(args: list[str]) -> int | None:
    """Answer `ps`, `images`, `port`, `logs`, `inspect` or `top` here if it is a plain form:
    the exit code, or None for anything else."""
    if args[:1] == ["container"]:  # `container ls|list|ps|inspect|port|logs|top` (no --type for inspect there)
        sub = _CONTAINER_GROUP.get(args[1]) if len(args) > 1 else None
        if sub is None or (sub == "inspect" and "--type" in args):
            return None
        args = [sub, *args[2:]]
    elif args[:1] == ["image"]:  # `image ls|list`
        if len(args) < 2 or args[1] not in ("ls", "list"):
            return None
        args = ["images", *args[2:]]
    command = _COMMANDS.get(args[0]) if args else None
    if command is None:
        return None
    from dockyard.errors import DockyardError
    from dockyard.store.reader import Error as DBError

    try:
        output = command(args[1:])
    except (DockyardError, DBError, OSError, ValueError, KeyError):
        return None  # the full command reports it properly (or migrates the DB first)
    if output is None:
        return None
    try:  # outside the try above: a reader that went away is no reason to run the full command too
        output()
    except BrokenPipeError:  # as cli.main answers it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 0


def _options(args: list[str], flags: dict[str, str]) -> dict | None:
    """The flags (`flags`: option -> name) and --format of a listing; None for anything else."""
    opts: dict = {**dict.fromkeys(flags.values(), False), "fmt": None}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in flags:
            opts[flags[arg]] = True
        elif arg.startswith("--format="):
            opts["fmt"] = arg[len("--format="):]
        elif arg == "--format" and i + 1 < len(args):
            i += 1
            opts["fmt"] = args[i]
        elif len(arg) > 2 and arg[0] == "-" and arg[1] != "-" and all("-" + f in flags for f in arg[1:]):
            for f in arg[1:]:
                opts[flags["-" + f]] = True
        else:
            return None
        i += 1
    return opts


def _containers():
    """(container store, where the root is) of the root, or None (see _open)."""
    from dockyard.containers.record import ContainerStore

    found = _open()
    return (ContainerStore(found[0]), found[1]) if found else None


def _open():
    """(DB reader, where the root is) of the root the environment names, or None when a killed
    build's leftovers wait to be released (the full command does that first). The plain case
    (an absolute, normal DOCKYARD_ROOT and DOCKYARD_RUN_DIR, or neither) is found here with
    strings (locations.Where); anything else asks an Engine (its `root` and `run_dir`)."""
    from dockyard.locations import BUILD_MARKERS, Where
    from dockyard.store.reader import Reader

    where = Where.from_environment()
    if where is None:
        from dockyard.engine import Engine
        where = Engine()
    try:
        if os.listdir(os.path.join(where.root, BUILD_MARKERS)):
            return None
    except FileNotFoundError:
        pass
    return Reader(os.path.join(where.root, "dockyard.db")), where


def _current(c, where) -> bool:
    """Whether c's record is as current as the full service's refresh would make it."""
    from dockyard.containers.views import settled
    from dockyard.runtime.shim.records import state_dir

    return not c.running or settled(c, state_dir(where.run_dir, c.id))


def _ps(args: list[str]) -> Output | None:
    opts = _options(args, _PS_FLAGS)
    found = _containers() if opts is not None else None
    if found is None:
        return None
    store, where = found
    cs = store.all(running=not opts["all"])
    if not all(_current(c, where) for c in cs):
        return None
    from dockyard.cli.pstable import ps_text

    text = ps_text(cs, quiet=opts["quiet"], no_trunc=opts["no_trunc"],
                   fmt=opts["fmt"])
    return lambda: _emit(text)


def _port(args: list[str]) -> Output | None:
    if not 1 <= len(args) <= 2 or any(a.startswith("-") for a in args):
        return None
    found = _containers()
    if found is None:
        return None
    store, where = found
    c = store.find(args[0])
    if c is None or not _current(c, where):
        return None
    from dockyard.containers.views import port_lines

    lines = port_lines(c, args[1] if len(args) > 1 else None)
    if lines is None:
        return None  # no such published port: the full command says so
    return lambda: _emit("".join(line + "\n" for line in lines))


def _inspect(args: list[str]) -> Output | None:
    """`inspect [--type container] [-f|--format F] NAME...` when every name is a container."""
    fmt, names, i = None, [], 0
    while i < len(args):
        arg = args[i]
        if arg in ("-f", "--format") and i + 1 < len(args):
            i += 1
            fmt = args[i]
        elif arg.startswith("--format="):
            fmt = arg[len("--format="):]
        elif arg == "--type" and i + 1 < len(args) and args[i + 1] == "container":
            i += 1
        elif arg.startswith("-"):
            return None
        else:
            names.append(arg)
        i += 1
    found = _containers() if names else None
    if found is None:
        return None
    store, where = found
    cs = [store.find(name) for name in names]
    if not all(c is not None and _current(c, where) for c in cs):
        return None  # an image, nothing at all (the full command says so), or a record to bring up to date
    from dockyard.cli.formatting import inspect_text
    from dockyard.containers.views import inspect

    paths = RecordedPaths(where, store.db)
    if paths.driver is None:
        return None  # the full command settles the root's storage driver first
    text = inspect_text([inspect(paths, c) for c in cs], fmt)
    return lambda: _emit(text)


class RecordedPaths:
    """ContainerPaths as `inspect` needs them, as strings (no pathlib) with the snapshot looked
    up in the DB as it is (no snapshotter). `driver` is None until the root has settled its
    storage driver (Engine.storage_driver)."""

    def __init__(self, where, db) -> None:
        self.where, self.db = where, db
        try:
            with open(os.path.join(where.root, "storage-driver")) as f:
                self.driver = f.read().strip() or None
        except FileNotFoundError:
            self.driver = None

    def dir(self, cid: str) -> str:
        from dockyard.locations import container_dir
        return container_dir(self.where.root, cid)

    def run_dir(self, cid: str) -> str:
        from dockyard.locations import container_run_dir
        return container_run_dir(self.where.run_dir, cid)

    def log_path(self, c) -> str:
        from dockyard.containers.logdrivers import log_file
        return log_file(self.where.root, c)

    def graph(self, c) -> tuple[str | None, str | None]:
        row = self.db.one("SELECT dir FROM snapshots WHERE key=?", (c.id,))
        return self.driver, (os.path.join(self.where.root, "snapshots", row[0]) if row else None)


def _logs(args: list[str]) -> Output | None:
    """`logs [-t|--timestamps] [-n|--tail N|all] NAME`, of a log kept in a file: no --follow, --since."""
    timestamps, tail, names, i = False, "all", [], 0
    while i < len(args):
        arg = args[i]
        if arg in ("-t", "--timestamps"):
            timestamps = True
        elif arg in ("-n", "--tail") and i + 1 < len(args) and (args[i + 1] == "all" or args[i + 1].isdigit()):
            i += 1
            tail = args[i]
        elif arg.startswith("-"):
            return None
        else:
            names.append(arg)
        i += 1
    found = _containers() if len(names) == 1 else None
    if found is None:
        return None
    store, where = found
    c = store.find(names[0])
    from dockyard.containers.logdrivers import keeps_log, log_file
    if c is None or not _current(c, where) or not keeps_log(c.host_config):
        return None
    from dockyard.containers import logs

    entries = list(logs.read(log_file(where.root, c), tail=tail))
    return lambda: print_log(entries, timestamps)


def _images(args: list[str]) -> Output | None:
    """`images [-a] [-q] [--no-trunc] [--digests] [--format F]`: ImageService.list() with no
    filters, read from the DB and the content store's files as they are."""
    opts = _options(args, _IMAGES_FLAGS)
    found = _open() if opts is not None else None
    if found is None:
        return None
    db, where = found
    from types import SimpleNamespace

    from dockyard.jsonread import load_file

    def blob(digest: str) -> dict | None:
        """A JSON document in the content store (ContentStore.path), None if unreadable."""
        algorithm, _, hex_ = digest.partition(":")
        if not (algorithm.isalnum() and hex_.isalnum() and hex_.isascii()):
            return None
        try:
            doc = load_file(os.path.join(where.root, "blobs", algorithm, hex_))
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    beneath = set()  # ImageService._beneath_indexes: the platforms of tagged indexes
    for (digest,) in db.query("SELECT DISTINCT digest FROM index_tags"):
        doc = blob(digest)
        manifests = (doc or {}).get("manifests") or []
        if not isinstance(manifests, list) or not all(isinstance(e, dict) for e in manifests):
            return None  # the full command says what is wrong with it
        beneath.update(e.get("digest", "") for e in manifests)
    tags: dict[str, list[str]] = {}
    for image_id, name in db.query("SELECT image_id, name FROM tags ORDER BY name"):
        tags.setdefault(image_id, []).append(name)
    repo_digests: dict[str, list[str]] = {}
    for image_id, repository, digest in db.query(
            "SELECT image_id, repository, digest FROM repo_digests ORDER BY repository"):
        repo_digests.setdefault(image_id, []).append(f"{repository}@{digest}")
    from dockyard.images.rows import summary_rows

    rows = []
    for image_id, manifest_digest, size in db.query(
            "SELECT id, manifest_digest, size FROM images ORDER BY created DESC"):
        image = SimpleNamespace(id=image_id, size=size, tags=tags.get(image_id, []),
                                repo_digests=repo_digests.get(image_id, []))
        if not image.tags and manifest_digest in beneath:
            continue
        config = blob(image_id)
        rootfs = (config or {}).get("rootfs")
        if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
            return None  # missing or not a config (validate_config): the full command reports it
        rows += summary_rows(image, config)
    from dockyard.cli.imagetable import images_text

    text = images_text(rows, quiet=opts["quiet"], no_trunc=opts["no_trunc"], digests=opts["digests"],
                       fmt=opts["fmt"])
    return lambda: _emit(text)


def _top(args: list[str]) -> Output | None:
    """`top NAME [PS OPTIONS]` (what the host's `ps -ef`, or ps with those options, shows of
    its processes), recording its event as the full command does. The processes are those of
    the cgroup its init is in (cgroupprocs.py); with no options their lines are read from
    /proc where that gives ps's bytes (containers/psef.py)."""
    if not args or args[0].startswith("-"):
        return None
    found = _containers()
    if found is None:
        return None
    store, where = found
    c = store.find(args[0])
    if c is None or not c.running or not _current(c, where):
        return None  # not running: the full command says so
    from dockyard.runtime.cgroupprocs import procs_with
    from dockyard.runtime.shim.records import read_started, state_dir

    pids = procs_with((read_started(state_dir(where.run_dir, c.id)) or {}).get("pid", 0), c.id)
    if pids is None:
        return None  # not where the container's cgroup is expected: the full command looks it up
    from dockyard.containers.views import event_attributes, top_table
    from dockyard.store import events

    text = top_text(top_table(pids, " ".join(args[1:])))  # ps's own error: the full command reports it
    store.db.migrate("events", events.MIGRATIONS)
    store.db.write(lambda conn: events.append(conn, "container", "top", c.id, event_attributes(c)))
    return lambda: _emit(text)


def top_text(table: dict) -> str:
    """What `top` prints of views.top_table's answer (both paths): the docker CLI's table,
    whose columns are at least 20 wide."""
    from dockyard.cli.formatting import tabwrite

    lines = ["\t".join(table["Titles"])] + ["\t".join(p) for p in table["Processes"]]
    return tabwrite("\n".join(lines) + "\n", minwidth=20)


def _emit(text: str) -> None:
    """As options.emit prints: nothing for nothing, a newline added only where missing."""
    sys.stdout.write(text if not text or text.endswith("\n") else text + "\n")


def print_log(entries, timestamps: bool) -> None:
    """Each log entry to the stream it came from, as it comes (`logs`, both paths)."""
    out = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    for stream, ts, data in entries:
        f = out.get(stream, sys.stdout.buffer)
        if timestamps:
            f.write(ts.encode() + b" ")
        f.write(data)
        f.flush()


_COMMANDS = {"ps": _ps, "port": _port, "inspect": _inspect, "logs": _logs, "top": _top, "images": _images}
_CONTAINER_GROUP = {"ls": "ps", "list": "ps", "ps": "ps", "inspect": "inspect", "port": "port", "logs": "logs",
                    "top": "top"}
