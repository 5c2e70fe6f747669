"""Write-behind replay: a run's current snapshot from the last one written and the task results
committed after it.

An engine may commit a transition that only applies task results without writing the snapshot
it leads to (the results and the ``now`` they were applied with are committed instead). Since
the interpreter is deterministic, applying those results again, in commit order and with the
same ``now``, onto the last written snapshot gives exactly the snapshot the engine holds in
memory. Pure: no I/O, no clock.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, NamedTuple

from .compiled import CompiledGraph
from .interpreter import apply_task_result
from .records import Snapshot
from .snapshot import check_snapshot


class DeferredResult(NamedTuple):
    """A task result committed without its snapshot: replayed with ``applied_at`` as ``now``."""

    task_id: str
    result: dict[str, Any]
    applied_at: float


def replay_deferred(
    graph: CompiledGraph, snapshot: Snapshot | dict[str, Any], deferred: Iterable[DeferredResult]
) -> Snapshot:
    """The snapshot after applying ``deferred`` (in order) to a copy of ``snapshot``.

    ``snapshot`` itself is left unchanged; with nothing deferred the copy equals it.
    """
    current = check_snapshot(copy.deepcopy(snapshot))
    for item in deferred:
        apply_task_result(graph, current, item.task_id, item.result, now=item.applied_at)
    return current


__all__ = ["DeferredResult", "replay_deferred"]
