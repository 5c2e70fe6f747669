"""Run stores of the embedded engine: the :class:`RunStore` interface and two implementations.

``SqliteRunStore`` (one SQLite file, the default) and ``MemoryRunStore`` (process memory)
behave the same; both are importable from here.
"""

from __future__ import annotations

from .base import InboxEvent, RunRecord, RunStore, StepRow
from .memory import MemoryRunStore
from .sqlite import DEFAULT_PATH, SqliteRunStore

__all__ = [
    "DEFAULT_PATH",
    "InboxEvent",
    "MemoryRunStore",
    "RunRecord",
    "RunStore",
    "SqliteRunStore",
    "StepRow",
]
