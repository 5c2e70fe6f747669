"""Run the benchmarks and print a table: ``python -m bench [--repeat N] [--quick]``.

Each table figure is the median over repeated runs of microseconds per executed node, for our
in-process runner, ``LocalEngine`` on the in-memory and SQLite stores, and LangGraph with no
checkpointer and with ``SqliteSaver`` (``durability="sync"``). Every case runs once per round
and the rounds repeat (see :mod:`bench.cases`), so all runners share the machine's conditions.
The ratio compares each row with LangGraph of the same durability class: in-memory rows with
LangGraph without a checkpointer, SQLite rows with ``SqliteSaver``. Below the table: runs per second of many concurrent runs, and
the memory held by many runs parked on an event wait; then the streaming section
(:mod:`bench.emit_bench`), parallel sync branches that block (:mod:`bench.sync_branches_bench`),
the LangGraph adapter's section (:mod:`bench.langgraph_bench`), durability modes
(:mod:`bench.durability_bench`) and a run whose state grows (:mod:`bench.write_behind_bench`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from azure_functions_durable_graph.graph.registration import GraphRegistration

from . import (
    durability_bench,
    emit_bench,
    engine_bench,
    langgraph_bench,
    peers,
    sync_branches_bench,
    write_behind_bench,
)
from .cases import Case, time_cases
from .graphs import NODES_PER_RUN, chain_graph, fanout_graph, map_graph

RUNNER_INVOKE = "invoke (in-process)"
GRAPHS = ("chain", "fanout", "map")
# Row order within a graph, and the LangGraph row each one is compared with.
RUNNERS = (
    (RUNNER_INVOKE, peers.RUNNER_PLAIN),
    (engine_bench.RUNNER_MEMORY, peers.RUNNER_PLAIN),
    (peers.RUNNER_PLAIN, peers.RUNNER_PLAIN),
    (engine_bench.RUNNER_SQLITE, peers.RUNNER_SQLITE),
    (peers.RUNNER_SQLITE, peers.RUNNER_SQLITE),
)

DEFAULTS = {"repeat": 30, "concurrent": 1000, "parked": 10000}
QUICK = {"repeat": 3, "concurrent": 50, "parked": 200}


def invoke_cases() -> list[Case]:
    """Our in-process runner (``registration.invoke``) on each graph."""
    cases = []
    for name, registration in (("chain", chain_graph()), ("fanout", fanout_graph()), ("map", map_graph())):
        def run(registration: GraphRegistration = registration) -> object:
            result = registration.invoke({})
            assert result.status == "completed", result.error
            return result

        cases.append(Case(name, RUNNER_INVOKE, NODES_PER_RUN[name], run))
    return cases


def _progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def collect_rows(repeat: int, *, with_peers: bool) -> dict[tuple[str, str], float]:
    """Every table figure keyed by (graph, runner), all cases timed in interleaved rounds."""
    with contextlib.ExitStack() as stack:
        cases = invoke_cases() + stack.enter_context(engine_bench.engine_cases())
        if with_peers:
            cases += peers.plain_cases() + stack.enter_context(peers.sqlite_cases())
        _progress(f"{len(cases)} table cases, {repeat} interleaved rounds")
        return time_cases(cases, repeat)


def format_table(figures: dict[tuple[str, str], float]) -> list[str]:
    """The table lines: graph, runner, us/node median, ratio to LangGraph (same durability)."""
    lines = [f"{'graph':<8}  {'runner':<28}  {'us/node (median)':>16}  {'vs LangGraph':>12}"]
    for graph in GRAPHS:
        for runner, baseline in RUNNERS:
            value = figures.get((graph, runner))
            if value is None:
                continue
            base = figures.get((graph, baseline))
            ratio = f"{value / base:.2f}x" if base else "n/a"
            lines.append(f"{graph:<8}  {runner:<28}  {value:>16.1f}  {ratio:>12}")
    return lines


# The design targets of the embedded engine, checked against this run's figures.
CHAIN_US_TARGET = 150.0
SQLITE_SPEEDUP_TARGET = 8.0
PARKED_RUNS_TARGET = 10_000
PARKED_MIB_TARGET = 200.0


def format_targets(figures: dict[tuple[str, str], float], park: engine_bench.ParkedResult) -> list[str]:
    """One line per design target: what this run measured and whether it meets the target."""
    def verdict(ok: bool) -> str:
        return "met" if ok else "missed"

    lines = ["targets:"]
    ours = figures.get(("chain", engine_bench.RUNNER_SQLITE))
    if ours is not None:
        lines.append(f"  chain on SQLite <= {CHAIN_US_TARGET:.0f} us/node: {ours:.1f} us/node, "
                     f"{verdict(ours <= CHAIN_US_TARGET)}")
    theirs = figures.get(("chain", peers.RUNNER_SQLITE))
    if ours is not None and theirs is not None:
        speedup = theirs / ours
        lines.append(f"  chain >= {SQLITE_SPEEDUP_TARGET:.0f}x faster than LangGraph SqliteSaver sync: "
                     f"{speedup:.1f}x, {verdict(speedup >= SQLITE_SPEEDUP_TARGET)}")
    mib = park.rss_delta / 2**20
    if park.runs >= PARKED_RUNS_TARGET:
        lines.append(f"  {PARKED_RUNS_TARGET} parked runs < {PARKED_MIB_TARGET:.0f} MiB resident: "
                     f"{mib:+.1f} MiB, {verdict(mib < PARKED_MIB_TARGET)}")
    else:
        lines.append(f"  {PARKED_RUNS_TARGET} parked runs < {PARKED_MIB_TARGET:.0f} MiB resident: "
                     f"not judged ({park.runs} runs parked in this run)")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the benchmark table and the concurrency and parked-run figures."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, help=f"timed runs per table case, taken in interleaved rounds; median reported (default {DEFAULTS['repeat']})")
    parser.add_argument("--concurrent", type=int, help=f"runs started at once for runs/s (default {DEFAULTS['concurrent']})")
    parser.add_argument("--parked", type=int, help=f"runs parked on an event wait (default {DEFAULTS['parked']})")
    parser.add_argument("--emits", type=int, help=f"chunks the streaming node emits (default {emit_bench.DEFAULTS['chunks']})")
    parser.add_argument("--quick", action="store_true",
                        help=f"small sizes and few repeats, for a smoke test ({QUICK})")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else DEFAULTS
    repeat = args.repeat if args.repeat is not None else sizes["repeat"]
    concurrent = args.concurrent if args.concurrent is not None else sizes["concurrent"]
    parked = args.parked if args.parked is not None else sizes["parked"]
    streaming = dict(emit_bench.QUICK if args.quick else emit_bench.DEFAULTS)
    if args.emits is not None:
        streaming["chunks"] = args.emits
    if min(repeat, concurrent, parked, streaming["chunks"]) < 1:
        parser.error("--repeat, --concurrent, --parked and --emits must be at least 1")

    with_peers = peers.available()
    if not with_peers:
        print("LangGraph is not installed (pip install -e '.[bench]'): LangGraph rows skipped",
              file=sys.stderr)
    figures = collect_rows(repeat, with_peers=with_peers)

    _progress(f"{concurrent} concurrent runs")
    conc = engine_bench.concurrent_runs(concurrent)
    _progress(f"{parked} parked runs")
    park = engine_bench.parked_runs(parked)
    stream_lines = emit_bench.report(streaming, streaming["repeat"] if args.repeat is None else repeat,
                                     with_peers=with_peers, progress=_progress)
    branches = dict(sync_branches_bench.QUICK if args.quick else sync_branches_bench.DEFAULTS)
    branch_lines = sync_branches_bench.report(
        branches, int(branches["repeat"]) if args.repeat is None else repeat, progress=_progress)
    durable = dict(durability_bench.QUICK if args.quick else durability_bench.DEFAULTS)
    durability_lines = durability_bench.report(
        durable, durable["repeat"] if args.repeat is None else repeat, with_peers=with_peers, progress=_progress)
    growing = dict(write_behind_bench.QUICK if args.quick else write_behind_bench.DEFAULTS)
    growing_lines = write_behind_bench.report(  # the parked runs measured above
        growing, growing["repeat"] if args.repeat is None else repeat, with_peers=with_peers, progress=_progress,
        park=park)
    adapter = dict(langgraph_bench.QUICK if args.quick else langgraph_bench.DEFAULTS)
    adapter_lines = langgraph_bench.report(adapter, adapter["repeat"] if args.repeat is None else repeat,
                                           progress=_progress)

    print(f"median of {repeat} runs per case, timed in interleaved rounds; ratio = our us/node / LangGraph us/node "
          "(memory rows vs no checkpointer, sqlite rows vs SqliteSaver sync)")
    for line in format_table(figures):
        print(line)
    print()
    print(f"concurrent: {conc.runs} runs of a {conc.nodes}-node chain, LocalEngine (sqlite), "
          f"start all then wait all: {conc.seconds:.2f} s, {conc.runs_per_second:.1f} runs/s")
    print(f"parked: {park.runs} runs waiting for an event, LocalEngine (sqlite): "
          f"RSS {park.rss_delta / 2**20:+.1f} MiB ({park.rss_delta / park.runs / 1024:+.2f} KiB/run), "
          f"parked in {park.park_seconds:.2f} s; resume one (raise_event + wait): "
          f"first {park.first_resume * 1e3:.2f} ms, median of {len(park.resume_seconds)} "
          f"{park.median_resume * 1e3:.2f} ms")
    print()
    for line in format_targets(figures, park):
        print(line)
    print()
    for line in stream_lines:
        print(line)
    print()
    for line in branch_lines:
        print(line)
    print()
    for line in adapter_lines:
        print(line)
    print()
    for line in durability_lines:  # bench.durability_bench: what each durability mode costs
        print(line)
    print()
    for line in growing_lines:  # bench.write_behind_bench: a run whose state grows, parked runs
        print(line)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
