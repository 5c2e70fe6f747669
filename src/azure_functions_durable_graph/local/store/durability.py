"""How durable a commit of the SQLite run store is: ``"process"`` or ``"power"``.

- ``"process"`` (the default): WAL with ``synchronous=NORMAL``. A commit survives a crash of
  the process (``SIGKILL`` included) and the file always stays consistent; after a power loss
  or an operating system crash the last commits before it may be lost (runs then continue
  from the last transition that was kept, re-running the nodes after it).
- ``"power"``: WAL with ``synchronous=FULL`` (and ``fullfsync`` where the platform has it): the
  log is synced to the disk at every commit, so a commit also survives a power loss or an
  operating system crash. Steps of runs committing at the same moment share one transaction
  and one sync (group commit), so the cost is paid per commit, not per run.

The memory store keeps nothing past the process; it accepts ``"process"`` and refuses
``"power"`` (a promise it cannot keep).
"""

from __future__ import annotations

import sqlite3
from typing import Literal

from ...graph.errors import InvalidInputError

Durability = Literal["process", "power"]

PROCESS: Durability = "process"
POWER: Durability = "power"
#: The accepted values, in the order they are documented.
DURABILITY_MODES: tuple[Durability, ...] = (PROCESS, POWER)
#: SQLite's ``synchronous`` level of each mode (WAL journal in both).
SYNCHRONOUS = {PROCESS: "NORMAL", POWER: "FULL"}
#: The error code of a value that is not one of :data:`DURABILITY_MODES`.
INVALID_DURABILITY = "INVALID_DURABILITY"


def check_durability(value: object, where: str) -> Durability:
    """``value`` when it is a durability mode; else InvalidInputError ``INVALID_DURABILITY``."""
    if isinstance(value, str) and value in DURABILITY_MODES:
        return PROCESS if value == PROCESS else POWER
    raise InvalidInputError(
        f"{where}: durability must be 'process' or 'power', got {value!r}", code=INVALID_DURABILITY
    )


def apply_durability(conn: sqlite3.Connection, durability: Durability) -> None:
    """Set the connection's sync pragmas for ``durability`` (the journal is WAL already)."""
    conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS[durability]}")
    # macOS: a plain fsync leaves data in the drive's cache; F_FULLFSYNC flushes it (no-op elsewhere).
    flag = "ON" if durability == POWER else "OFF"
    conn.execute(f"PRAGMA fullfsync = {flag}")
    conn.execute(f"PRAGMA checkpoint_fullfsync = {flag}")


def synchronous_level(conn: sqlite3.Connection) -> str:
    """The connection's ``synchronous`` level as a word (``NORMAL``, ``FULL``, ...)."""
    level = int(conn.execute("PRAGMA synchronous").fetchone()[0])
    return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(level, str(level))


__all__ = [
    "DURABILITY_MODES",
    "INVALID_DURABILITY",
    "POWER",
    "PROCESS",
    "SYNCHRONOUS",
    "Durability",
    "apply_durability",
    "check_durability",
    "synchronous_level",
]
