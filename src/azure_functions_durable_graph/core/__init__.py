"""The pure, deterministic graph interpreter shared by every engine.

Imports only the standard library and the package's ``graph`` layer; a test enforces it.
"""

from .compiled import CompiledGraph, compile_manifest
from .interpreter import (
    Commands,
    apply_cancel,
    apply_event,
    apply_task_result,
    apply_timer_fired,
    build_output,
    decide,
    mark_compacted,
    start_run,
    task_command,
)
from .records import (
    Activation,
    InboxEvent,
    RunEvent,
    RunStatus,
    TaskCommand,
    TaskKind,
    TaskRecord,
    TaskResult,
    TaskStatus,
    TimerRecord,
    WaitRecord,
)
from .snapshot import (
    CANCELLED,
    COMPLETED,
    FAILED,
    FINISHED,
    RUNNING,
    SNAPSHOT_FORMAT,
    WAITING,
    Snapshot,
    check_snapshot,
)

__all__ = [
    "Activation",
    "InboxEvent",
    "RunEvent",
    "RunStatus",
    "TaskCommand",
    "TaskKind",
    "TaskRecord",
    "TaskResult",
    "TaskStatus",
    "TimerRecord",
    "WaitRecord",
    "CANCELLED",
    "COMPLETED",
    "FAILED",
    "FINISHED",
    "RUNNING",
    "SNAPSHOT_FORMAT",
    "WAITING",
    "Commands",
    "CompiledGraph",
    "Snapshot",
    "apply_cancel",
    "apply_event",
    "apply_task_result",
    "apply_timer_fired",
    "build_output",
    "check_snapshot",
    "compile_manifest",
    "decide",
    "mark_compacted",
    "start_run",
    "task_command",
]
