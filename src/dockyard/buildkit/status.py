"""The builder's progress as BuildKit's status stream: each step a vertex (its label, start,
end, CACHED, error), what it prints a log, a file sync's size a status; buildx renders these
as its progress UI. Updates are serialized StatusResponse messages."""

from __future__ import annotations

import hashlib
import time
from typing import Callable

from dockyard.builder.progress import Progress, Step


def timestamp(when: float | None = None):
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp()
    stamp.FromNanoseconds(int((when if when is not None else time.time()) * 1e9))
    return stamp


class StatusProgress(Progress):
    """The builder's steps as BuildKit vertexes, each update a serialized StatusResponse handed
    to `publish`; called from the build's threads. `gone` says the client has left."""

    def __init__(self, ref: str, publish: Callable[[bytes], None], gone: Callable[[], bool]) -> None:
        super().__init__()
        self.ref, self.publish, self.gone = ref, publish, gone
        self.began: dict[int, float] = {}

    def _digest(self, step: Step) -> str:
        return "sha256:" + hashlib.sha256(f"{self.ref}/{step.num}".encode()).hexdigest()

    def _send(self, **fields) -> None:
        from dockyard.buildkit.protos.control_pb2 import StatusResponse

        self.publish(StatusResponse(**fields).SerializeToString())

    def _vertex(self, step: Step, done: bool = False, error: str = ""):
        from dockyard.buildkit.protos.control_pb2 import Vertex

        vertex = Vertex(digest=self._digest(step), name=step.label, started=timestamp(self.began[step.num]),
                        cached=step.status == "cached", error=error)
        if done:
            vertex.completed.CopyFrom(timestamp())
        return vertex

    def _started(self, step: Step) -> None:
        self.began[step.num] = time.time()
        self._send(vertexes=[self._vertex(step)])

    def output(self, step: Step, data: bytes, stream: int = 1) -> None:
        from dockyard.buildkit.protos.control_pb2 import VertexLog

        self._send(logs=[VertexLog(vertex=self._digest(step), timestamp=timestamp(), stream=stream, msg=data)])

    def _finished(self, step: Step, message: str) -> None:
        from dockyard.buildkit.protos.control_pb2 import VertexLog

        if message and step.status == "done":
            self._send(logs=[VertexLog(vertex=self._digest(step), timestamp=timestamp(), stream=1,
                                       msg=message.encode() + b"\n")])
        self._send(vertexes=[self._vertex(step, done=True, error=message if step.status == "error" else "")])

    def transferred(self, step: Step, what: str, size: int) -> None:
        from dockyard.buildkit.protos.control_pb2 import VertexStatus

        now = timestamp()
        self._send(statuses=[VertexStatus(ID=what, vertex=self._digest(step), name=what, current=size, timestamp=now,
                                          started=timestamp(self.began[step.num]), completed=now)])

    def cancelled(self) -> bool:
        return self.gone()


async def as_vertex(progress: Progress, label: str, work, transferred: str = ""):
    """Await `work` shown as one vertex `label`; with `transferred` (what moved), the size it
    returns is shown as BuildKit shows a file sync: `transferring WHAT: SIZE done`."""
    step = progress.start(label)
    try:
        result = await work
    except BaseException as err:
        progress.finish(step, "error", str(getattr(err, "message", err)))
        raise
    if transferred:
        progress.transferred(step, f"transferring {transferred}:", result)
    progress.finish(step, "done")
    return result
