"""One engine drives a database file at a time: an exclusive lock beside the file.

Two engines driving the same runs would overwrite each other's snapshots. The lock is an OS
file lock (released by the OS if the process dies, so a crash never leaves it stale). It sits
beside the real file (symlinks, relative and ``..`` parts resolved), so every spelling of one
file's path meets the same lock. The database file itself is not locked: SQLite's own POSIX
locks on it are dropped by the OS when any other descriptor of the file closes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from ..graph.errors import StoreError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class EngineLock:
    """Holds ``<real database path>.lock`` exclusively while an engine is open."""

    def __init__(self, database: Path) -> None:
        self.database = database
        #: The database with symlinks and relative parts resolved (against the current folder).
        self.real = database.resolve()
        self.path = self.real.with_name(self.real.name + ".lock")
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or raise StoreError naming the process that holds it."""
        if fcntl is None:  # pragma: no cover - no advisory locks: single-engine use is on the user
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            real = "" if str(self.real) == str(self.database) else f" (the file '{self.real}')"
            raise StoreError(
                f"run store '{self.database}'{real} is in use by another durable-graph engine "
                f"(pid {holder}); talk to that engine (for example over its HTTP API) or stop it first",
                code="STORE_IN_USE",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Give the lock back (closing the file releases it)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


__all__ = ["EngineLock"]
