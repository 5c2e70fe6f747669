"""``python -m bench.durability_bench --quick``: every row labelled with its mode, the concurrent
lines with their commit counts, and the targets judged from the printed figures."""

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
    done = subprocess.run([sys.executable, "-W", "ignore", "-m", "bench.durability_bench", "--quick"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _rows(stdout: str) -> dict[str, tuple[str, float]]:
    rows = {}
    for line in stdout.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) == 3 and cells[0] in ("process", "power") and cells[2] != "us/node":
            rows[cells[1]] = (cells[0], float(cells[2]))
    return rows


def test_every_row_names_its_mode(output: str) -> None:
    rows = _rows(output)
    expected = {f"LocalEngine (sqlite) {m}": m for m in ("process", "power")}
    expected.update({f"floor: 3 writes, 1 commit {m}": m for m in ("process", "power")})
    if _langgraph_installed():
        expected["langgraph SqliteSaver sync power"] = "power"
    assert {name: mode for name, (mode, _) in rows.items()} == expected, output
    assert all(value > 0 for _, value in rows.values())


def test_concurrent_lines_count_steps_and_commits(output: str) -> None:
    for mode in ("process", "power"):
        match = re.search(rf"^concurrent {mode}: 50 runs of a 5-node chain: {NUMBER} s, {NUMBER} runs/s, "
                          rf"(\d+) steps in (\d+) commits \({NUMBER} per commit\)$", output, re.M)
        assert match, output
        steps, commits = int(match[3]), int(match[4])
        assert steps >= 50 * 5 and 0 < commits <= steps  # every step committed, some shared


def test_targets_are_judged_from_the_printed_figures(output: str) -> None:
    rows = _rows(output)
    ours = rows["LocalEngine (sqlite) process"][1]
    chain = re.search(rf"^  process chain <= 100 us/node: {NUMBER} us/node, (met|missed)$", output, re.M)
    assert chain and float(chain[1]) == ours, output
    if abs(ours - 100) > 0.1:
        assert chain[2] == ("met" if ours <= 100 else "missed")
    share = re.search(r"^  power concurrent >= 50% of process runs/s: (\d+)%, (met|missed)$", output, re.M)
    assert share, output
    rates = [float(m) for m in re.findall(rf"^concurrent \w+: .*?, {NUMBER} runs/s", output, re.M)]
    assert abs(int(share[1]) - round(100 * rates[1] / rates[0])) <= 1
    if _langgraph_installed():
        for label, target in (("process chain >= 10x", 10), ("power chain >= 4x", 4)):
            found = re.search(rf"^  {re.escape(label)} faster than SqliteSaver sync.*: {NUMBER}x, (met|missed)$",
                              output, re.M)
            assert found, (label, output)
            if abs(float(found[1]) - target) > 0.1:
                assert found[2] == ("met" if float(found[1]) >= target else "missed")
