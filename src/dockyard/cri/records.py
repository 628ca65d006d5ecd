"""How the CRI's objects are kept on dockyard containers: labels carry what the CRI asked for
(kind, pod, metadata, annotations), so every CRI answer is read back from the engine's own
records and nothing else has to be kept in step with them."""

from __future__ import annotations

import json

KIND = "io.dockyard.cri.kind"            # "sandbox" or "container"
SANDBOX = "io.dockyard.cri.sandbox"      # a container's pod sandbox ID
METADATA = "io.dockyard.cri.metadata"    # the CRI metadata message, as JSON
ANNOTATIONS = "io.dockyard.cri.annotations"
HANDLER = "io.dockyard.cri.runtime-handler"
POD_CONFIG = "io.dockyard.cri.pod"       # what a sandbox's containers inherit: log dir, namespaces
OWN = (KIND, SANDBOX, METADATA, ANNOTATIONS, HANDLER, POD_CONFIG)

NAME_SAFE = str.maketrans({c: "-" for c in "/:@ "})


def labels_for(kind: str, metadata: dict, labels: dict, annotations: dict, **extra: str) -> dict:
    return {**labels, KIND: kind, METADATA: json.dumps(metadata, sort_keys=True),
            ANNOTATIONS: json.dumps(annotations, sort_keys=True), **extra}


def user_labels(labels: dict) -> dict:
    return {k: v for k, v in labels.items() if k not in OWN}


def metadata(labels: dict) -> dict:
    return json.loads(labels.get(METADATA) or "{}")


def annotations(labels: dict) -> dict:
    return json.loads(labels.get(ANNOTATIONS) or "{}")


def sandbox_name(meta: dict) -> str:
    """Unique per pod and attempt, as dockershim named them: k8s_POD_<name>_<ns>_<uid>_<attempt>."""
    return "k8s_POD_" + "_".join(str(meta.get(k, "")).translate(NAME_SAFE)
                                 for k in ("name", "namespace", "uid", "attempt"))


def container_name(meta: dict, pod_meta: dict) -> str:
    parts = [meta.get("name", ""), pod_meta.get("name", ""), pod_meta.get("namespace", ""),
             pod_meta.get("uid", ""), meta.get("attempt", 0)]
    return "k8s_" + "_".join(str(p).translate(NAME_SAFE) for p in parts)


def find(containers, ref: str, kind: str, what: str):
    """The dockyard container standing for the CRI object `ref` of `kind` ("sandbox" or
    "container"); NotFound in the CRI's words for anything else."""
    from dockyard.errors import NotFound
    try:
        c = containers.get(ref)
    except NotFound:
        raise NotFound(f"{what} {ref!r} not found") from None
    if c.config["Labels"].get(KIND) != kind:
        raise NotFound(f"{what} {ref!r} not found")
    return c


def matches(labels: dict, selector: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())
