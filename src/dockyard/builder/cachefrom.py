"""`--cache-from` as Docker's classic builder has it: named images as the build's only cache.

A step is taken from a source image when the image's history starts with exactly the history
(and its layers with exactly the layers) the build has so far, and its next history entry was
made by the same command; the step then gets that entry and its layer. Once a source has given
a step, only that source is looked at for the following ones, as in Docker. Commands carry what
the step depends on (RUN its build args, COPY and ADD the digest of what they copy), so a
changed input is a different command and a miss.

BuildKit's cache imports (`--cache-from type=registry,ref=...` over its door) use the same
matching without the narrowing, and only for steps the build cache does not have.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.builder.cache import CacheRecord
from dockyard.oci.image import chain_ids


@dataclass
class Source:
    history: list[dict]
    diff_ids: list[str]
    layers: list[dict]


class CacheSources:
    def __init__(self, engine, refs: list[str], narrow: bool = True) -> None:
        """The images `refs` name; a name that matches no local image is skipped, as dockerd
        skips it (with a warning in its log). `narrow`: Docker's classic narrowing to the first
        source that gave a step; BuildKit's cache imports (parallel stages) stay whole."""
        self.narrow = narrow
        self.sources: list[Source] = []
        for ref in refs:
            image = engine.images.find(ref)
            if image is None:
                continue
            config = engine.images.config(image)
            self.sources.append(Source(list(config.get("history") or []), list(config["rootfs"]["diff_ids"]),
                                       list(engine.images.manifest(image)["layers"])))

    def find(self, history: list[dict], diff_ids: list[str], created_by: str) -> CacheRecord | None:
        """The record of the step made by `created_by` on top of `history` and `diff_ids`."""
        n = len(history)
        for src in self.sources:
            if len(src.history) <= n or src.history[:n] != history or src.diff_ids[:len(diff_ids)] != diff_ids:
                continue
            entry = src.history[n]
            if entry.get("created_by") != created_by:
                continue
            if self.narrow:
                self.sources = [src]
            if entry.get("empty_layer"):
                return CacheRecord(created_by, entry.get("created", ""), None, "", _chain(diff_ids))
            index = sum(1 for h in src.history[:n] if not h.get("empty_layer"))
            if index >= len(src.diff_ids) or src.diff_ids[:index] != diff_ids:
                return None
            diff_id = src.diff_ids[index]
            return CacheRecord(created_by, entry.get("created", ""), src.layers[index], diff_id,
                               _chain([*diff_ids, diff_id]))
        return None


def _chain(diff_ids: list[str]) -> str:
    ids = chain_ids(diff_ids)
    return ids[-1] if ids else ""
