"""Kill the engine with SIGKILL at random points; every run still applies each step once.

In both durability modes: ``"process"`` (synchronous=NORMAL) and ``"power"`` (FULL, group commit).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from azure_functions_durable_graph.local.store.sqlite import SqliteRunStore

RUNS = 50
KILLS = 5
WORKER = Path(__file__).with_name("crash_worker.py")
EXPECTED = [f"n{i}" for i in range(5)]


def _spawn(db: Path, durability: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, str(WORKER), str(db), str(RUNS), durability], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _committed_results(db: Path) -> int:
    """Task results committed so far (read with plain sqlite3, as another process would)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            return int(connection.execute("SELECT count(*) FROM task_results").fetchone()[0])
    except sqlite3.Error:
        return 0  # the schema is not created yet


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("durability", ["process", "power"])
def test_runs_survive_sigkill_at_random_points(tmp_path: Path, durability: str) -> None:
    db = tmp_path / "crash.db"
    chooser = random.Random(20261125)
    total = RUNS * len(EXPECTED)
    kill_points = []
    for _ in range(KILLS):
        worker = _spawn(db, durability)
        # Kill at a random amount of new progress, so every kill lands mid-work.
        target = min(total - 5, _committed_results(db) + chooser.randint(5, total // (KILLS + 1)))
        deadline = time.monotonic() + 60
        while _committed_results(db) < target and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        kill_points.append(_committed_results(db))
    final = _spawn(db, durability)
    out, err = final.communicate(timeout=180)
    assert final.returncode == 0, err
    assert "done" in out
    with SqliteRunStore(db) as store:
        records, _ = store.list_runs(limit=1000)
        assert len(records) == RUNS
        for record in records:
            assert record.status == "completed", (record.instance_id, record.status, record.error)
            assert record.snapshot["state"]["log"] == EXPECTED, record.instance_id
            assert record.output is not None and record.output["state"]["log"] == EXPECTED
    # Every kill landed while work remained, and progress was made between kills.
    assert all(0 < point < total for point in kill_points), kill_points
    assert kill_points == sorted(kill_points), kill_points
