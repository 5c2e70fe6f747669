"""``python -m bench.sync_branches_bench --quick`` times parallel blocking sync branches on
every runner (LangGraph's row where it is installed) and prints the target's verdict."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("invoke (in-process)", "LocalEngine (memory)", "LocalEngine (sqlite)")
LANGGRAPH = "langgraph (no checkpointer)"
WIDTHS = (50, 10)
QUICK_SECONDS = 0.02


def _langgraph_installed() -> bool:
    try:
        return importlib.util.find_spec("langgraph.graph") is not None
    except ModuleNotFoundError:
        return False


@pytest.fixture(scope="module")
def output() -> str:
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "bench.sync_branches_bench", "--quick"], cwd=ROOT,
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def rows(stdout: str) -> dict[tuple[int, str], tuple[float, str]]:
    """The table's (branches, runner) -> (s/run, ratio)."""
    found = {}
    for line in stdout.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) == 4 and cells[0].isdigit():
            found[(int(cells[0]), cells[1])] = (float(cells[2]), cells[3])
    return found


def test_every_width_has_every_runner(output: str) -> None:
    table = rows(output)
    runners = OURS + ((LANGGRAPH,) if _langgraph_installed() else ())
    assert set(table) == {(w, r) for w in WIDTHS for r in runners}, output
    for (width, runner), (value, ratio) in table.items():
        # Every branch blocks for QUICK_SECONDS: no run can be faster than one branch.
        assert value >= QUICK_SECONDS, (width, runner, value)
        if _langgraph_installed():
            assert re.fullmatch(r"\d+\.\d\dx", ratio), ratio
    if not _langgraph_installed():
        assert "LangGraph is not installed" in output


def test_quick_run_does_not_judge_the_target(output: str) -> None:
    assert "50 sync branches x 0.2 s <= 0.5 s: not judged (branches of 0.02 s in this run)" in output


JUDGE = """
from bench import sync_branches_bench as bench
figures = {(w, r): 0.3 for w in bench.WIDTHS for r in (bench.RUNNER_INVOKE, bench.RUNNER_MEMORY, bench.RUNNER_SQLITE)}
figures[(50, bench.RUNNER_SQLITE)] = 0.75
print("\\n".join(bench.format_lines(figures, bench.DEFAULTS["seconds"], 3, with_peer=False)))
"""


def test_the_target_is_judged_on_each_of_our_runners_at_the_default_size() -> None:
    done = subprocess.run([sys.executable, "-c", JUDGE], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    verdicts = [line.strip() for line in lines[lines.index("targets:") + 1:]]
    assert verdicts == [
        "50 sync branches x 0.2 s <= 0.5 s on invoke (in-process): 0.300 s, met",
        "50 sync branches x 0.2 s <= 0.5 s on LocalEngine (memory): 0.300 s, met",
        "50 sync branches x 0.2 s <= 0.5 s on LocalEngine (sqlite): 0.750 s, missed",
    ]
