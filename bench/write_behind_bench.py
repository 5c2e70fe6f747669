"""A step costs what it changes: ``python -m bench.write_behind_bench [--quick] [--repeat N]``.

A run whose state grows: a loop of ``steps`` steps, each appending 5 KB to a list (a chat
history). Every row is on SQLite in durability ``process`` (WAL, synchronous=NORMAL):

- ``LocalEngine write-behind``: the defaults (the snapshot written every 64 result-only steps
  or 1 MiB of results, at the end, and on any other transition);
- ``LocalEngine every step``: ``write_behind_steps=0``, the whole snapshot at every step;
- ``langgraph SqliteSaver sync``: the same loop, a checkpoint committed at every step (its
  connection runs WAL with synchronous=FULL).

Per-step times come from the engine's progress listener (the time between two completed
steps): the median step of steps 1-20 and of the last 20 steps (what a step itself costs), and
the mean of the last 64 steps, with the snapshot writes among them (one periodic, the final). Then many runs parked on an event wait: resident memory, and resuming one. Targets are
judged from this run's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import operator
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel

from azure_functions_durable_graph import END, ManifestBuilder, RouteDecision, reducers
from azure_functions_durable_graph.graph.registration import GraphRegistration
from azure_functions_durable_graph.local.engine import LocalEngine

from . import engine_bench, peers

PAD = "x" * 5000
DEFAULTS = {"steps": 300, "repeat": 3, "parked": 10_000}
QUICK = {"steps": 90, "repeat": 1, "parked": 200}
EARLY = (1, 21)  # steps 1..20
LATE = 64  # the last 64 steps

BEHIND = "LocalEngine write-behind"
EAGER = "LocalEngine every step"
SAVER = peers.RUNNER_SQLITE

# Targets (issue 17 item 5).
GROWTH_TARGET = 1.5  # late ms/step over early ms/step
SAVER_SPEEDUP_TARGET = 3.0  # SqliteSaver's whole run over ours
PARKED_RUNS_TARGET = 10_000
PARKED_MIB_TARGET = 200.0
RESUME_MS_TARGET = 10.0


class Chat(BaseModel):
    """The history grows by one 5 KB message per step."""

    history: Annotated[list[str], reducers.append] = []


def growing_graph(steps: int) -> GraphRegistration:
    """``say`` appends 5 KB and routes to itself until the history holds ``steps`` messages."""
    def say(state: Chat) -> dict[str, Any]:
        return {"history": PAD}

    def again(state: Chat) -> RouteDecision:
        return RouteDecision.next("say") if len(state.history) < steps else RouteDecision.complete()

    builder = ManifestBuilder(graph_name="growing", state_model=Chat)
    builder.set_entrypoint("say")
    builder.add_node("say", say, route=again, route_targets=["say", END])
    return builder.build()


@dataclass
class Loop:
    """One run of the loop: its whole time and the time of each step (None for LangGraph)."""

    seconds: float
    step_seconds: list[float] | None = None

    def window_ms(self, start: int, stop: int, *, mean: bool = False) -> float:
        """Median (or mean) ms per step over steps ``start`` .. ``stop - 1``."""
        assert self.step_seconds is not None
        picked = self.step_seconds[start:stop]
        return 1e3 * (sum(picked) / len(picked) if mean else statistics.median(picked))


async def _ours(steps: int, behind_steps: int, tmp: Path) -> Loop:
    marks: list[float] = []

    def listener(run_id: str, seq: int, events: list[dict[str, Any]]) -> None:
        if any(e["type"] == "task_completed" for e in events):
            marks.append(time.perf_counter())

    async with LocalEngine(tmp / f"{uuid.uuid4().hex}.db", durability="process",
                           write_behind_steps=behind_steps) as engine:
        engine.register(growing_graph(steps))
        engine.add_listener(listener)
        began = time.perf_counter()
        await engine.start("growing", {}, instance_id="chat")
        status = await engine.wait("chat", timeout=600)
        seconds = time.perf_counter() - began
        assert status.status == "completed", status
    assert len(marks) == steps, len(marks)
    return Loop(seconds, [marks[0] - began] + [b - a for a, b in zip(marks, marks[1:], strict=False)])


class _SaverState(TypedDict):
    history: Annotated[list[str], operator.add]


def _saver_loop(steps: int, tmp: Path) -> Loop:
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import END as LG_END
    from langgraph.graph import START, StateGraph

    def say(state: _SaverState) -> dict[str, list[str]]:
        return {"history": [PAD]}

    def again(state: _SaverState) -> str:
        return "say" if len(state["history"]) < steps else LG_END

    builder = StateGraph(_SaverState)
    builder.add_node("say", say)
    builder.add_edge(START, "say")
    builder.add_conditional_edges("say", again, ["say", LG_END])
    conn = sqlite3.connect(str(tmp / f"{uuid.uuid4().hex}-lg.db"), check_same_thread=False)
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        graph = builder.compile(checkpointer=saver)
        config: dict[str, Any] = {"recursion_limit": steps + 10, "configurable": {"thread_id": "chat"}}
        began = time.perf_counter()
        out = graph.invoke({"history": []}, config, durability="sync")
        seconds = time.perf_counter() - began
    finally:
        conn.close()
    assert len(out["history"]) == steps
    return Loop(seconds)


def collect(steps: int, repeat: int, *, with_peers: bool,
            progress: Callable[[str], None] = lambda _m: None) -> dict[str, list[Loop]]:
    """Every row's loops, the rows interleaved in each of ``repeat`` rounds."""
    loops: dict[str, list[Loop]] = {BEHIND: [], EAGER: []}
    if with_peers:
        loops[SAVER] = []
    with tempfile.TemporaryDirectory(prefix="bench-write-behind-") as tmp:
        for round_number in range(repeat):
            progress(f"growing state: round {round_number + 1} of {repeat}, {steps} steps")
            loops[BEHIND].append(asyncio.run(_ours(steps, 64, Path(tmp))))
            loops[EAGER].append(asyncio.run(_ours(steps, 0, Path(tmp))))
            if with_peers:
                loops[SAVER].append(_saver_loop(steps, Path(tmp)))
    return loops


def _verdict(ok: bool) -> str:
    return "met" if ok else "missed"


def _median(values: list[float]) -> float:
    return statistics.median(values)


def format_report(steps: int, loops: dict[str, list[Loop]], park: engine_bench.ParkedResult) -> list[str]:
    """The rows, the parked-run line and the targets."""
    late = (steps - (EARLY[1] - EARLY[0]), steps)
    tail = (steps - min(LATE, steps - EARLY[1]), steps)
    lines = [f"growing state: a {steps}-step loop appending 5 KB per step, durability process "
             f"(WAL, synchronous=NORMAL; SqliteSaver: WAL, synchronous=FULL), median of {len(loops[BEHIND])} runs",
             "ms/step: the median step of a window (a step's own cost); mean: the last steps with the "
             "snapshot writes among them (periodic and final)",
             f"{'runner':<28}  {'whole run s':>11}  {f'ms/step {EARLY[0]}-{EARLY[1] - 1}':>13}  "
             f"{f'ms/step {late[0]}-{late[1] - 1}':>15}  {'late/early':>10}  {f'mean {tail[0]}-{tail[1] - 1}':>12}"]
    growth: dict[str, float] = {}
    for row, runs in loops.items():
        whole = _median([r.seconds for r in runs])
        if runs[0].step_seconds is None:
            lines.append(f"{row:<28}  {whole:>11.3f}  {'n/a':>13}  {'n/a':>15}  {'n/a':>10}  {'n/a':>12}")
            continue
        early = _median([r.window_ms(*EARLY) for r in runs])
        later = _median([r.window_ms(*late) for r in runs])
        mean = _median([r.window_ms(*tail, mean=True) for r in runs])
        growth[row] = later / early
        lines.append(f"{row:<28}  {whole:>11.3f}  {early:>13.2f}  {later:>15.2f}  {later / early:>9.2f}x  "
                     f"{mean:>12.2f}")
    ours = _median([r.seconds for r in loops[BEHIND]])
    resume_ms = park.median_resume * 1e3
    mib = park.rss_delta / 2**20
    lines += ["", f"parked: {park.runs} runs waiting for an event, LocalEngine (sqlite) process: RSS "
              f"{mib:+.1f} MiB; resume one (raise_event + wait): median of {len(park.resume_seconds)} "
              f"{resume_ms:.2f} ms", "", "targets (write-behind):"]
    lines.append(f"  ms/step (median step) at the end within {GROWTH_TARGET}x of the start: {growth[BEHIND]:.2f}x, "
                 f"{_verdict(growth[BEHIND] <= GROWTH_TARGET)}")
    if SAVER in loops:
        speedup = _median([r.seconds for r in loops[SAVER]]) / ours
        lines.append(f"  whole run >= {SAVER_SPEEDUP_TARGET:.0f}x faster than {SAVER}: {speedup:.1f}x, "
                     f"{_verdict(speedup >= SAVER_SPEEDUP_TARGET)}")
    else:
        lines.append(f"  whole run >= {SAVER_SPEEDUP_TARGET:.0f}x faster than {SAVER}: not judged (no LangGraph)")
    if park.runs >= PARKED_RUNS_TARGET:
        lines.append(f"  {PARKED_RUNS_TARGET} parked runs < {PARKED_MIB_TARGET:.0f} MiB resident: {mib:+.1f} MiB, "
                     f"{_verdict(mib < PARKED_MIB_TARGET)}")
    else:
        lines.append(f"  {PARKED_RUNS_TARGET} parked runs < {PARKED_MIB_TARGET:.0f} MiB resident: "
                     f"not judged ({park.runs} runs parked in this run)")
    lines.append(f"  resuming a parked run < {RESUME_MS_TARGET:.0f} ms: {resume_ms:.2f} ms, "
                 f"{_verdict(resume_ms < RESUME_MS_TARGET)}")
    return lines


def report(sizes: dict[str, int], repeat: int, *, with_peers: bool,
           progress: Callable[[str], None] = lambda _m: None,
           park: engine_bench.ParkedResult | None = None) -> list[str]:
    """Measure and format (what ``python -m bench`` prints); ``park``: parked runs measured already."""
    loops = collect(sizes["steps"], repeat, with_peers=with_peers, progress=progress)
    if park is None:
        progress(f"{sizes['parked']} parked runs")
        park = engine_bench.parked_runs(sizes["parked"])
    return format_report(sizes["steps"], loops, park)


def main(argv: list[str] | None = None) -> int:
    """Print the growing-state rows, the parked runs and the targets."""
    parser = argparse.ArgumentParser(prog="python -m bench.write_behind_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, help=f"rounds (default {DEFAULTS['repeat']})")
    parser.add_argument("--quick", action="store_true", help=f"small sizes, for a smoke test ({QUICK})")
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else DEFAULTS)
    repeat = args.repeat if args.repeat is not None else sizes["repeat"]
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    with_peers = peers.available()
    if not with_peers:
        print("LangGraph is not installed (pip install -e '.[bench]'): the SqliteSaver row is skipped",
              file=sys.stderr)
    for line in report(sizes, repeat, with_peers=with_peers,
                       progress=lambda m: print(f"... {m}", file=sys.stderr, flush=True)):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
