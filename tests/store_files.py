"""Database files for the refusal tests: a fingerprint, and a store from a newer schema."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from azure_functions_durable_graph.local.store.migrations import LATEST_VERSION
from azure_functions_durable_graph.local.store.sqlite import SqliteRunStore


def digest(path: Path) -> str:
    """sha256 of the file's bytes (to prove a refused file was left untouched)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_newer_schema(path: Path, ahead: int = 1) -> int:
    """A run store at ``path`` that claims a schema ``ahead`` versions newer; returns it."""
    SqliteRunStore(path).close()
    newer = LATEST_VERSION + ahead
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, 0)", (newer,))
    conn.execute(f"PRAGMA user_version = {newer}")
    conn.commit()
    conn.close()
    return newer
