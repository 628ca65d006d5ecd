"""GetContainerEvents: the engine's event log (which every dockyard process writes) as the
CRI's container events, for the kubelet's evented PLEG."""

from __future__ import annotations

import time
from collections.abc import Iterator

from dockyard.cri import records
from dockyard.errors import NotFound

# engine action -> ContainerEventType (CREATED, STARTED, STOPPED, DELETED)
KINDS = {"create": 0, "start": 1, "die": 2, "destroy": 3}
POLL = 0.1  # seconds between looks at the log when nothing is new


def stream(engine, pb, sandboxes, workloads, active) -> Iterator:
    """Events from now on, until `active()` turns false (the client went away)."""
    seq = engine.events.last_seq()
    while active():
        seen = False
        for ev in engine.events.read(after_seq=seq):
            seq, seen = ev["seq"], True
            attrs = ev["Actor"]["Attributes"]
            if ev["Type"] != "container" or ev["Action"] not in KINDS or attrs.get(records.KIND) != "container":
                continue
            cid = ev["Actor"]["ID"]
            answer = pb.ContainerEventResponse(container_id=cid, container_event_type=KINDS[ev["Action"]],
                                               created_at=ev["timeNano"])
            try:
                answer.pod_sandbox_status.CopyFrom(sandboxes.status(attrs.get(records.SANDBOX, ""), False).status)
            except NotFound:
                pass
            if ev["Action"] != "destroy":
                try:
                    answer.containers_statuses.append(workloads.status(cid, False).status)
                except NotFound:
                    pass
            yield answer
        if not seen:
            time.sleep(POLL)
