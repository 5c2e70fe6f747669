"""What each durability mode costs: ``python -m bench.durability_bench [--quick] [--repeat N]``.

Rows, every one labelled with its durability mode and timed in the same interleaved rounds
(:mod:`bench.cases`):

- ``LocalEngine (sqlite)`` on the 50-node chain in mode ``process`` (WAL, synchronous=NORMAL)
  and ``power`` (WAL, synchronous=FULL: the log is synced at every commit);
- the floor of each mode: a step's three writes (task result, run row, progress event) in one
  WAL commit, from Python with the standard ``sqlite3`` module, 50 times in a row; what a step
  costs before any engine work;
- LangGraph's ``SqliteSaver`` (``durability="sync"``), whose connection runs WAL with
  ``synchronous=FULL`` (its default, read from the connection): like for like with ``power``.

Then many concurrent runs of a 5-node chain in each mode: runs per second, and how many steps
shared a commit (group commit). The targets are judged from this run's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store.sqlite import SqliteRunStore

from . import peers
from .cases import Case, time_cases
from .graphs import CHAIN_LENGTH, chain_graph

MODES = ("process", "power")
SYNCHRONOUS = {"process": "NORMAL", "power": "FULL"}
CONCURRENT_CHAIN = 5

DEFAULTS = {"repeat": 15, "concurrent": 1000}
QUICK = {"repeat": 3, "concurrent": 50}

# Targets (issue: durability as a documented choice, and group commit).
PROCESS_US_TARGET = 100.0
PROCESS_SPEEDUP_TARGET = 10.0
POWER_SPEEDUP_TARGET = 4.0
POWER_THROUGHPUT_TARGET = 0.5  # power runs/s over process runs/s


def engine_row(mode: str) -> str:
    """The table's name of our engine in ``mode``."""
    return f"LocalEngine (sqlite) {mode}"


def floor_row(mode: str) -> str:
    """The table's name of the floor of ``mode``."""
    return f"floor: 3 writes, 1 commit {mode}"


PEER_ROW = "langgraph SqliteSaver sync power"  # its connection: WAL + synchronous=FULL


def _floor_case(path: Path, mode: str) -> tuple[Case, Callable[[], None]]:
    """One step's three writes in one commit, ``CHAIN_LENGTH`` times: one chain's floor."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA page_size = 1024")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS[mode]}")
    conn.executescript(
        "CREATE TABLE runs (id TEXT PRIMARY KEY, snapshot TEXT, last_seq INTEGER);"
        "CREATE TABLE results (id TEXT, step INTEGER, result TEXT, PRIMARY KEY (id, step)) WITHOUT ROWID;"
        "CREATE TABLE events (key INTEGER PRIMARY KEY, event TEXT);"
    )
    counter = [0]
    snapshot = '{"format": 1, "step": %d, "state": {"count": %d}, "tasks": [], "waits": []}'

    def run() -> None:
        counter[0] += 1
        run_id = f"run-{counter[0]}"
        conn.execute("INSERT INTO runs VALUES (?, ?, 0)", (run_id, snapshot % (0, 0)))
        base = counter[0] << 32
        for step in range(1, CHAIN_LENGTH + 1):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO results VALUES (?, ?, ?)", (run_id, step, '{"ok": true, "update": {"count": 1}}'))
            conn.execute("UPDATE runs SET snapshot = ?, last_seq = ? WHERE id = ?", (snapshot % (step, step), step, run_id))
            conn.execute("INSERT INTO events VALUES (?, ?)", (base + step, '{"type": "task_completed", "node": "n"}'))
            conn.execute("COMMIT")

    return Case("chain", floor_row(mode), CHAIN_LENGTH, run), conn.close


@contextmanager
def _engine_cases(tmp: Path) -> Iterator[list[Case]]:
    """Our chain in each mode, both engines open on one loop for the whole measurement."""
    loop = asyncio.new_event_loop()
    registration = chain_graph()
    with contextlib.ExitStack() as stack:
        stack.callback(loop.close)
        cases = []
        for mode in MODES:
            engine = LocalEngine(tmp / f"engine-{mode}.db", durability=mode)
            loop.run_until_complete(engine.open())
            stack.callback(loop.run_until_complete, engine.close())
            engine.register(registration)

            async def one(engine: LocalEngine = engine) -> None:
                status = await engine.start(registration.graph_name, {})
                status = await engine.wait(status.instance_id)
                assert status.status == "completed", (status.status, status.error)

            def run(one: Callable[[], Any] = one) -> None:
                loop.run_until_complete(one())

            cases.append(Case("chain", engine_row(mode), CHAIN_LENGTH, run))
        yield cases


@dataclass
class Throughput:
    """``runs`` concurrent runs of a 5-node chain in ``mode``; commits they took."""

    mode: str
    runs: int
    seconds: float
    transactions: int
    writes: int

    @property
    def runs_per_second(self) -> float:
        return self.runs / self.seconds

    @property
    def steps_per_commit(self) -> float:
        return self.writes / self.transactions if self.transactions else 0.0


async def _throughput(mode: str, runs: int, tmp: Path) -> Throughput:
    registration = chain_graph(CONCURRENT_CHAIN)
    async with LocalEngine(tmp / f"concurrent-{mode}.db", durability=mode) as engine:
        engine.register(registration)
        warm = await engine.start(registration.graph_name, {})
        await engine.wait(warm.instance_id)
        store = engine.store
        assert isinstance(store, SqliteRunStore)
        before = (store.commits.transactions, store.commits.writes)
        start = time.perf_counter()
        ids = [(await engine.start(registration.graph_name, {})).instance_id for _ in range(runs)]
        finished = await asyncio.gather(*(engine.wait(i) for i in ids))
        seconds = time.perf_counter() - start
        bad = [s.status for s in finished if s.status != "completed"]
        assert not bad, f"{len(bad)} runs did not complete: {sorted(set(bad))}"
        return Throughput(mode, runs, seconds, store.commits.transactions - before[0],
                          store.commits.writes - before[1])


def collect(repeat: int, concurrent: int, *, with_peers: bool,
            progress: Callable[[str], None]) -> tuple[dict[tuple[str, str], float], dict[str, Throughput]]:
    """The chain rows (us/node) and the concurrent runs of each mode."""
    with tempfile.TemporaryDirectory(prefix="bench-durability-") as folder, contextlib.ExitStack() as stack:
        tmp = Path(folder)
        cases = stack.enter_context(_engine_cases(tmp))
        for mode in MODES:
            case, close = _floor_case(tmp / f"floor-{mode}.db", mode)
            stack.callback(close)
            cases.append(case)
        if with_peers:
            saver_cases = stack.enter_context(peers.sqlite_cases())
            cases += [Case(c.graph, PEER_ROW, c.nodes, c.run) for c in saver_cases if c.graph == "chain"]
        progress(f"durability: {len(cases)} chain cases, {repeat} interleaved rounds")
        figures = time_cases(cases, repeat)
        flows = {}
        for mode in MODES:
            progress(f"durability: {concurrent} concurrent runs, {mode}")
            flows[mode] = asyncio.run(_throughput(mode, concurrent, tmp))
    return figures, flows


def _verdict(ok: bool) -> str:
    return "met" if ok else "missed"


def format_report(figures: dict[tuple[str, str], float], flows: dict[str, Throughput]) -> list[str]:
    """The section's lines: the chain table, the concurrent lines, the targets."""
    lines = ["durability: 50-node chain, us/node (median); process = WAL + synchronous=NORMAL, "
             "power = WAL + synchronous=FULL (synced at every commit)",
             f"{'mode':<8}  {'runner':<34}  {'us/node':>10}"]
    rows = [(m, r) for m in MODES for r in (engine_row(m), floor_row(m))] + [("power", PEER_ROW)]
    for mode, runner in rows:
        value = figures.get(("chain", runner))
        if value is not None:
            lines.append(f"{mode:<8}  {runner:<34}  {value:>10.1f}")
    lines.append("")
    for mode in MODES:
        flow = flows[mode]
        lines.append(f"concurrent {mode}: {flow.runs} runs of a {CONCURRENT_CHAIN}-node chain: "
                     f"{flow.seconds:.2f} s, {flow.runs_per_second:.1f} runs/s, "
                     f"{flow.writes} steps in {flow.transactions} commits ({flow.steps_per_commit:.1f} per commit)")
    lines.append("")
    lines.append("durability targets:")
    process = figures.get(("chain", engine_row("process")))
    power = figures.get(("chain", engine_row("power")))
    peer = figures.get(("chain", PEER_ROW))
    if process is not None:
        lines.append(f"  process chain <= {PROCESS_US_TARGET:.0f} us/node: {process:.1f} us/node, "
                     f"{_verdict(process <= PROCESS_US_TARGET)}")
    if process is not None and peer is not None:
        ratio = peer / process
        lines.append(f"  process chain >= {PROCESS_SPEEDUP_TARGET:.0f}x faster than SqliteSaver sync: "
                     f"{ratio:.1f}x, {_verdict(ratio >= PROCESS_SPEEDUP_TARGET)}")
    if power is not None and peer is not None:
        ratio = peer / power
        lines.append(f"  power chain >= {POWER_SPEEDUP_TARGET:.0f}x faster than SqliteSaver sync (both FULL): "
                     f"{ratio:.1f}x, {_verdict(ratio >= POWER_SPEEDUP_TARGET)}")
    share = flows["power"].runs_per_second / flows["process"].runs_per_second
    lines.append(f"  power concurrent >= {POWER_THROUGHPUT_TARGET:.0%} of process runs/s: {share:.0%}, "
                 f"{_verdict(share >= POWER_THROUGHPUT_TARGET)}")
    return lines


def report(sizes: dict[str, int], repeat: int, *, with_peers: bool,
           progress: Callable[[str], None]) -> list[str]:
    """Measure and format the section (``sizes``: ``concurrent``)."""
    figures, flows = collect(repeat, sizes["concurrent"], with_peers=with_peers, progress=progress)
    return format_report(figures, flows)


def main(argv: list[str] | None = None) -> int:
    """Print the durability section alone."""
    parser = argparse.ArgumentParser(prog="python -m bench.durability_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, help=f"timed runs per chain case (default {DEFAULTS['repeat']})")
    parser.add_argument("--concurrent", type=int, help=f"concurrent runs per mode (default {DEFAULTS['concurrent']})")
    parser.add_argument("--quick", action="store_true", help=f"small sizes ({QUICK})")
    args = parser.parse_args(argv)
    sizes: dict[str, Any] = dict(QUICK if args.quick else DEFAULTS)
    if args.concurrent is not None:
        sizes["concurrent"] = args.concurrent
    repeat = args.repeat if args.repeat is not None else sizes["repeat"]
    with_peers = peers.available()
    if not with_peers:
        print("LangGraph is not installed (pip install -e '.[bench]'): SqliteSaver row skipped", file=sys.stderr)
    for line in report(sizes, repeat, with_peers=with_peers,
                       progress=lambda m: print(f"... {m}", file=sys.stderr, flush=True)):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["DEFAULTS", "MODES", "QUICK", "Throughput", "collect", "format_report", "main", "report"]
