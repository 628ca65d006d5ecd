"""The layer graph of a repository: which tags stand on which shared layers, as inline SVG.

Layers are identified by chain ID (the digest of a layer *and everything under it*), so two
tags share a node only when they share the whole stack below it; each chain ID has exactly one
parent, so the graph is a forest: bases at the left, tags as leaves at the right. Leaves are
laid out top to bottom in depth-first order and each layer sits level with the middle of its
children, which keeps every edge short and nothing crossing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html import escape

from dockyard.hub.catalog import Tag

ROW = 30
COLUMN = 190
NODE_W = 160
NODE_H = 22
MARGIN = 10


@dataclass
class Node:
    key: str  # chain ID for a layer, "tag:NAME" for a tag
    label: str
    title: str
    parent: str | None
    is_tag: bool = False
    children: list[str] = field(default_factory=list)
    depth: int = 0
    y: float = 0.0


@dataclass
class LayerGraph:
    nodes: dict[str, Node]
    roots: list[str]

    @property
    def layers(self) -> list[Node]:
        return [n for n in self.nodes.values() if not n.is_tag]


def build(tags: Iterable[Tag], size_text: Callable[[int], str]) -> LayerGraph:
    """The forest of layers (by chain ID) under `tags`; indexes and layerless images are left out."""
    nodes: dict[str, Node] = {}
    roots: list[str] = []
    for tag in sorted(tags, key=lambda t: t.name):
        parent = None
        for layer in tag.image.layers:
            if layer.chain_id not in nodes:
                short = layer.diff_id.split(":")[-1][:12]
                nodes[layer.chain_id] = Node(
                    layer.chain_id, f"{short}  {size_text(layer.size)}",
                    f"layer {layer.diff_id}\nchain {layer.chain_id}\nblob {layer.digest}", parent)
                (nodes[parent].children if parent else roots).append(layer.chain_id)
            parent = layer.chain_id
        if parent is not None:
            key = f"tag:{tag.name}"
            nodes[key] = Node(key, tag.name, f"{tag.name} = {tag.image.digest}", parent, is_tag=True)
            nodes[parent].children.append(key)
    _layout(nodes, roots)
    return LayerGraph(nodes, roots)


def _layout(nodes: dict[str, Node], roots: list[str]) -> None:
    """Depth-first placement without recursion (a 500-layer image must not hit the recursion limit)."""
    row = 0
    stack: list[tuple[str, int, bool]] = [(r, 0, False) for r in reversed(roots)]
    while stack:
        key, depth, done = stack.pop()
        node = nodes[key]
        if done:
            node.y = (nodes[node.children[0]].y + nodes[node.children[-1]].y) / 2
            continue
        node.depth = depth
        if not node.children:
            node.y = row * ROW
            row += 1
            continue
        node.children.sort(key=lambda k: (nodes[k].is_tag, k))
        stack.append((key, depth, True))
        stack.extend((child, depth + 1, False) for child in reversed(node.children))


def svg(graph: LayerGraph, tag_href: Callable[[str], str]) -> str:
    """The graph as an `<svg>` element; every text and attribute from image data is escaped."""
    if not graph.nodes:
        return ""
    width = max(n.depth for n in graph.nodes.values()) * COLUMN + NODE_W + 2 * MARGIN
    height = max(n.y for n in graph.nodes.values()) + NODE_H + 2 * MARGIN
    parts = [(f'<svg class="layer-graph" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
              f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="layer graph">')]
    for node in graph.nodes.values():
        if node.parent is not None:
            parent = graph.nodes[node.parent]
            x1, y1 = MARGIN + parent.depth * COLUMN + NODE_W, MARGIN + parent.y + NODE_H / 2
            x2, y2 = MARGIN + node.depth * COLUMN, MARGIN + node.y + NODE_H / 2
            mid = (x1 + x2) / 2
            parts.append(f'<path class="edge" d="M{x1:.0f},{y1:.1f} C{mid:.0f},{y1:.1f} {mid:.0f},{y2:.1f} {x2:.0f},{y2:.1f}"/>')
    for node in graph.nodes.values():
        x, y = MARGIN + node.depth * COLUMN, MARGIN + node.y
        parent = escape(node.parent or "", quote=True)
        body = (f'<title>{escape(node.title)}</title><rect x="{x}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="4"/>'
                f'<text x="{x + 8}" y="{y + 15:.1f}">{escape(node.label)}</text>')
        if node.is_tag:
            name = node.key.removeprefix("tag:")
            parts.append(f'<g class="tag" data-tag="{escape(name, quote=True)}" data-layer="{parent}">'
                         f'<a href="{escape(tag_href(name), quote=True)}">{body}</a></g>')
        else:
            parts.append(f'<g class="layer" data-chain="{escape(node.key, quote=True)}" data-parent="{parent}">{body}</g>')
    parts.append("</svg>")
    return "".join(parts)
