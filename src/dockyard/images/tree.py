"""`image tree`: the layer dependency graph of local images, as a trie of chain IDs.

Images that share a base share a path from the root of the trie, so the picture shows at a
glance which images stand on which layers and what each one adds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.images.service import ImageService
from dockyard.oci.image import chain_id
from dockyard.oci.reference import parse


@dataclass
class Node:
    key: str                       # chain ID
    diff_id: str
    size: int
    images: list[str] = field(default_factory=list)   # names (or short IDs) whose top layer is this
    children: dict[str, "Node"] = field(default_factory=dict)


def build(images: ImageService) -> list[Node]:
    roots: dict[str, Node] = {}
    for img in images.list():
        level, parent = roots, ""
        node = None
        diff_ids = images.config(img)["rootfs"]["diff_ids"]
        for d in diff_ids:
            parent = chain_id(parent, d)
            snap = images.snapshots.get(parent)
            node = level.setdefault(parent, Node(parent, d, snap.size if snap else 0))
            level = node.children
        if node is not None:
            node.images.extend([parse(t).familiar for t in img.tags] or [img.short_id + " <none>"])
    return list(roots.values())


def render(roots: list[Node], human_size) -> str:
    """Box-drawing text, one line per layer with its own size and the images it tops."""
    lines: list[str] = []

    def walk(node: Node, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└── " if last else "├── ")
        label = f"{node.diff_id[7:19]} {human_size(node.size)}"
        if node.images:
            label += "  ← " + ", ".join(sorted(node.images))
        lines.append(prefix + branch + label)
        kids = list(node.children.values())
        ext = "" if top else ("    " if last else "│   ")
        for i, child in enumerate(kids):
            walk(child, prefix + ext, i == len(kids) - 1, False)

    for r in roots:
        walk(r, "", True, True)
    return "\n".join(lines)
