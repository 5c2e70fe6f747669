"""``python -m bench.write_behind_bench --quick``: the growing-state rows labelled with their
durability, the parked-run line, and the targets judged met or missed from the printed figures."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NUMBER = r"([-+]?\d+(?:\.\d+)?)"


def _langgraph_installed() -> bool:
    try:
        return (importlib.util.find_spec("langgraph.graph") is not None
                and importlib.util.find_spec("langgraph.checkpoint.sqlite") is not None)
    except ModuleNotFoundError:
        return False


@pytest.fixture(scope="module")
def output() -> str:
    done = subprocess.run([sys.executable, "-W", "ignore", "-m", "bench.write_behind_bench", "--quick"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _rows(stdout: str) -> dict[str, list[str]]:
    rows = {}
    for line in stdout.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells[0].startswith(("LocalEngine", "langgraph")) and len(cells) == 6:
            rows[cells[0]] = cells[1:]
    return rows


def test_rows_name_the_durability_and_the_growth(output: str) -> None:
    assert "90-step loop appending 5 KB per step, durability process (WAL, synchronous=NORMAL" in output
    rows = _rows(output)
    expected = {"LocalEngine write-behind", "LocalEngine every step"}
    if _langgraph_installed():
        expected.add("langgraph SqliteSaver sync")
    assert set(rows) == expected, output
    behind, eager = rows["LocalEngine write-behind"], rows["LocalEngine every step"]
    assert float(behind[0]) > 0 and float(eager[0]) > 0
    # Writing the whole snapshot at every step costs more as the state grows; deferring does not.
    assert float(behind[3].rstrip("x")) < float(eager[3].rstrip("x")), output


def test_parked_runs_and_targets_are_judged(output: str) -> None:
    assert re.search(rf"^parked: 200 runs waiting for an event, LocalEngine \(sqlite\) process: RSS {NUMBER} MiB; "
                     rf"resume one \(raise_event \+ wait\): median of \d+ {NUMBER} ms$", output, re.M), output
    verdicts = re.findall(r"^  (.+): .*, (met|missed)$", output, re.M)
    judged = {name for name, _ in verdicts}
    assert "ms/step (median step) at the end within 1.5x of the start" in judged, output
    assert "resuming a parked run < 10 ms" in judged
    if _langgraph_installed():
        assert "whole run >= 3x faster than langgraph SqliteSaver sync" in judged
    assert "10000 parked runs < 200 MiB resident: not judged (200 runs parked in this run)" in output
