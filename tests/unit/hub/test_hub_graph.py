"""The layer graph: shared layers drawn once, tags as leaves, deep images, escaping."""

from __future__ import annotations

from dockyard.hub import graph
from dockyard.hub.catalog import Image, Layer, Tag
from dockyard.oci.image import chain_ids


def _tag(name: str, diff_ids: list[str]) -> Tag:
    layers = tuple(Layer(f"sha256:{i:064x}", 100, "tar", d, c) for i, (d, c) in enumerate(zip(diff_ids, chain_ids(diff_ids))))
    return Tag(name, Image(f"sha256:{hash(name) & 0xffff:064x}", "m", 1, layers=layers), 0.0)


def _d(n: int) -> str:
    return f"sha256:{n:064x}"


def test_shared_base_is_one_node_with_both_tags_above_it():
    tags = [_tag("base", [_d(1)]), _tag("app", [_d(1), _d(2)]), _tag("web", [_d(1), _d(3)]), _tag("other", [_d(9)])]
    g = graph.build(tags, str)
    base_chain = chain_ids([_d(1)])[0]
    assert len(g.layers) == 4
    children = g.nodes[base_chain].children
    assert sorted(children[:2]) == sorted([chain_ids([_d(1), _d(2)])[1], chain_ids([_d(1), _d(3)])[1]])
    assert children[2:] == ["tag:base"]
    assert g.nodes["tag:app"].parent == chain_ids([_d(1), _d(2)])[1]
    svg = graph.svg(g, lambda t: f"/r/x/-/image/{t}")
    assert svg.count('class="layer"') == 4 and svg.count('class="tag"') == 4
    leaves = [n.y for n in g.nodes.values() if n.is_tag]
    assert len(set(leaves)) == 4  # every tag on its own row


def test_same_layer_under_a_different_base_is_another_node():
    g = graph.build([_tag("a", [_d(1), _d(2)]), _tag("b", [_d(5), _d(2)])], str)
    assert len(g.layers) == 4


def test_deep_images_do_not_recurse_and_text_is_escaped():
    g = graph.build([_tag("deep", [_d(i) for i in range(1, 1500)])], lambda n: "<b>&")
    svg = graph.svg(g, lambda t: f'/x?"{t}')
    assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg and 'href="/x?&quot;deep"' in svg
