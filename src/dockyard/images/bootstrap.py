"""Base images without a registry: busybox from the host's busybox-static, Debian through debootstrap.

Both are shaped like the official images (layout, Env, Cmd, apt sources, no caches, empty
/dev) so Dockerfiles written for those work unchanged, and both are reproducible: the same
inputs give the same image ID.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Callable

from dockyard.errors import DockyardError, InvalidArgument, NotFound
from dockyard.images.compose import write_image, write_layer
from dockyard.oci.image import new_config
from dockyard.oci.platform import Platform
from dockyard.store.content import ContentStore
from dockyard.store.scratch import scratch_name

# OCI architecture -> Debian architecture, where they differ
_DEBIAN_ARCH = {"arm": "armhf", "386": "i386", "mips64le": "mips64el"}

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")

_PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
_GROUP = """root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
mail:x:12:
www-data:x:33:
operator:x:37:
staff:x:50:
users:x:100:
nogroup:x:65534:
"""


def _iso(epoch: int) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def find_busybox() -> Path:
    for cand in BUSYBOX_CANDIDATES:
        p = Path(cand)
        if p.is_file() and _is_static(p):
            return p
    raise NotFound("no static busybox on this host: install it with `apt-get install busybox-static`")


def _is_static(path: Path) -> bool:
    """A dynamically linked busybox would need the host's libc inside the image."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    return b"/lib64/ld-linux" not in head and b"/lib/ld-linux" not in head


def busybox_rootfs(dest: Path, busybox: Path) -> int:
    """Lay out the official busybox image's tree; returns the mtime to clamp everything to."""
    applets = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout.split()
    for d in ("bin", "dev", "etc", "home", "root", "tmp", "usr/sbin", "var/spool/mail", "var/www"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    os.chmod(dest / "tmp", 0o1777)
    os.chmod(dest / "root", 0o700)
    shutil.copy2(busybox, dest / "bin" / "busybox")
    os.chmod(dest / "bin" / "busybox", 0o755)
    for name in applets:
        if name != "busybox" and "/" not in name:
            os.link(dest / "bin" / "busybox", dest / "bin" / name)
    (dest / "etc" / "passwd").write_text(_PASSWD)
    (dest / "etc" / "group").write_text(_GROUP)
    (dest / "etc" / "shadow").write_text("".join(f"{l.split(':')[0]}:*:10933:0:99999:7:::\n" for l in _PASSWD.splitlines()))
    os.chmod(dest / "etc" / "shadow", 0o640)
    return int(busybox.stat().st_mtime)


def host_mirror() -> str:
    """The Debian mirror the host's own apt uses, so no mirror host is baked into dockyard."""
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for src in sources:
        for m in re.finditer(r"^URIs:\s*(\S+)", src.read_text(errors="replace"), re.M):
            if not m.group(1).rstrip("/").endswith("-security"):
                return m.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        m = re.search(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)", legacy.read_text(errors="replace"), re.M)
        if m:
            return m.group(1)
    raise NotFound("no Debian mirror configured on this host: pass --mirror URL")


def debian_rootfs(dest: Path, suite: str, mirror: str, variant: str, log: Callable[[str], None],
                  architecture: str | None = None) -> int:
    if not shutil.which("debootstrap"):
        raise NotFound("debootstrap is not installed: run `apt-get install debootstrap`")
    arch = [f"--arch={_DEBIAN_ARCH.get(architecture, architecture)}"] if architecture else []
    cmd = ["debootstrap", *arch, f"--variant={variant}", suite, str(dest), mirror]
    log("running " + " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        tail = (r.stdout + r.stderr).strip().splitlines()[-1:] or ["no output"]
        raise DockyardError(f"debootstrap {suite} from {mirror} failed (exit {r.returncode}): {tail[0]}")
    _shape_debian(dest, suite, mirror)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return int(epoch) if epoch else 0


def _shape_debian(d: Path, suite: str, mirror: str) -> None:
    """What the official image does after debootstrap: deb822 sources, no caches, empty /dev."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*", "var/log/*.log",
                    "run/*", "tmp/*", "var/tmp/*"):
        for p in d.glob(pattern):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
    (d / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    (d / "etc/apt/sources.list").unlink(missing_ok=True)
    base = mirror.rstrip("/")
    (d / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (d / "etc/apt/sources.list.d/debian.sources").write_text(
        f"Types: deb\nURIs: {base}\nSuites: {suite} {suite}-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {base}-security\nSuites: {suite}-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    for entry in (d / "dev").iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def bootstrap(
    content: ContentStore,
    distro: str,
    *,
    mirror: str | None = None,
    variant: str = "minbase",
    architecture: str | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> str:
    """Build a base image (for `architecture`, e.g. arm64, when it is not this host's: its
    programs then run under QEMU user emulation); returns its manifest digest for
    `ImageService.add_image`."""
    from dockyard import emulation
    from dockyard.layers.diff import tar_dir

    name, _, suite = distro.partition(":")
    if name not in ("busybox", "debian"):
        raise InvalidArgument(f"cannot bootstrap {distro!r}: choose busybox or debian:SUITE (e.g. debian:bookworm)")
    foreign = architecture not in (None, emulation.host_architecture())
    if foreign:
        emulation.ensure(architecture)
    work = content.ingest_dir / scratch_name()
    rootfs = work / "rootfs"
    rootfs.mkdir(parents=True)
    try:
        if name == "busybox":
            if foreign:
                from dockyard.images.foreignapt import fetch_package
                bb = fetch_package("busybox-static", architecture, mirror or host_mirror(), work / "deb") / "bin/busybox"
                created_by = f"bootstrap busybox from busybox-static for {architecture}"
            else:
                bb = find_busybox()
                created_by = f"bootstrap busybox from {bb}"
            epoch = busybox_rootfs(rootfs, bb)
            cmd = ["sh"]
        else:
            suite = suite or "bookworm"
            mirror = mirror or host_mirror()
            epoch = debian_rootfs(rootfs, suite, mirror, variant, log, architecture if foreign else None)
            cmd, created_by = ["bash"], f"bootstrap debian {suite} --variant={variant}"
        layer = write_layer(content, lambda out: tar_dir(rootfs, out, clamp_mtime=epoch or None))
        created = _iso(epoch) if epoch else None
        history = [{"created": created, "created_by": created_by}] if created else [{"created_by": created_by}]
        cfg = new_config(
            [layer.diff_id],
            container_config={"Env": [DEFAULT_PATH], "Cmd": cmd},
            history=history,
            created=created,
            platform=Platform("linux", architecture).normalized().as_dict() if foreign else None,
        )
        if created is None:
            history[0]["created"] = cfg["created"]
        return write_image(content, cfg, [layer.descriptor])
    finally:
        shutil.rmtree(work, ignore_errors=True)
