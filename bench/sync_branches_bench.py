"""Parallel sync branches: N sync nodes of one superstep that each block (a blocking LLM or
HTTP call, here ``time.sleep``), on our runners and on LangGraph.

``python -m bench.sync_branches_bench [--repeat N] [--seconds S] [--quick]`` prints the section
that ``python -m bench`` prints after the streaming section. The graph: ``start`` fans out to
N branches that each sleep S seconds and append their index to a list (``operator.add``), then
a join. Widths: 50 and 10. Runners: ``registration.invoke`` (in-process), ``LocalEngine`` on
the memory store and on a SQLite file (``start`` + ``wait``), and LangGraph ``invoke`` without a
checkpointer when it is installed, all in interleaved rounds. Each figure is the median wall
time of one run; the ratio divides it by LangGraph's. Run one after another, the branches of
width 50 would take 50 x S; the target (at the default S = 0.2 s) is 50 branches in 0.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import operator
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel

from azure_functions_durable_graph import ManifestBuilder
from azure_functions_durable_graph.graph.registration import GraphRegistration
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store.memory import MemoryRunStore

RUNNER_INVOKE = "invoke (in-process)"
RUNNER_MEMORY = "LocalEngine (memory)"
RUNNER_SQLITE = "LocalEngine (sqlite)"
RUNNER_LANGGRAPH = "langgraph (no checkpointer)"
RUNNERS = (RUNNER_INVOKE, RUNNER_MEMORY, RUNNER_SQLITE, RUNNER_LANGGRAPH)
WIDTHS = (50, 10)

DEFAULTS = {"repeat": 3, "seconds": 0.2}
QUICK = {"repeat": 1, "seconds": 0.02}
TARGET_WIDTH = 50
TARGET_SECONDS = 0.5  # for TARGET_WIDTH branches of DEFAULTS["seconds"] each


class FanState(BaseModel):
    """The branches' indexes, in task order."""

    results: Annotated[list[int], operator.add] = []


class PeerState(TypedDict, total=False):
    """LangGraph's state: the same list reducer."""

    results: Annotated[list[int], operator.add]


def _branch(index: int, seconds: float) -> Callable[[Any], dict[str, list[int]]]:
    def branch(state: Any) -> dict[str, list[int]]:
        time.sleep(seconds)  # a blocking call: it holds its thread, not the CPU
        return {"results": [index]}

    return branch


def fan_graph(width: int, seconds: float) -> GraphRegistration:
    """``start`` fanning out to ``width`` sleeping sync branches that meet in a join."""
    builder = ManifestBuilder(graph_name=f"sync_fan_{width}", state_model=FanState)
    names = [f"b{i}" for i in range(width)]
    builder.set_entrypoint("start")
    builder.add_node("start", lambda s: None, next_node=names)
    for i, name in enumerate(names):
        builder.add_node(name, _branch(i, seconds), next_node="join")
    builder.add_node("join", lambda s: None, join=True, terminal=True)
    return builder.build()


def peer_graph(width: int, seconds: float) -> Any:
    """The same graph in LangGraph (compiled, no checkpointer)."""
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(PeerState)
    names = [f"b{i}" for i in range(width)]
    builder.add_node("start", lambda s: {})
    for i, name in enumerate(names):
        builder.add_node(name, _branch(i, seconds))
        builder.add_edge("start", name)
    builder.add_node("join", lambda s: {})
    builder.add_edge(START, "start")
    builder.add_edge(names, "join")
    builder.add_edge("join", END)
    return builder.compile()


def langgraph_available() -> bool:
    """Whether LangGraph can be imported."""
    try:
        import langgraph.graph  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def cases(seconds: float, *, with_peer: bool) -> Iterator[dict[tuple[int, str], Callable[[], None]]]:
    """One callable per (width, runner) running one whole run and checking its result."""
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp, contextlib.ExitStack() as stack:
        stack.callback(loop.close)
        graphs = {width: fan_graph(width, seconds) for width in WIDTHS}
        found: dict[tuple[int, str], Callable[[], None]] = {}
        for width, registration in graphs.items():
            def run_invoke(registration: GraphRegistration = registration, width: int = width) -> None:
                result = registration.invoke({})
                assert result.status == "completed", result.error
                assert result.snapshot["state"]["results"] == list(range(width))
            found[(width, RUNNER_INVOKE)] = run_invoke
        for runner, store in ((RUNNER_MEMORY, MemoryRunStore()), (RUNNER_SQLITE, Path(tmp) / "runs.db")):
            engine = LocalEngine(store)
            loop.run_until_complete(engine.open())
            stack.callback(lambda engine=engine: loop.run_until_complete(engine.close()))
            for width, registration in graphs.items():
                engine.register(registration)

                def run_engine(engine: LocalEngine = engine, graph: str = registration.graph_name) -> None:
                    loop.run_until_complete(_run_to_end(engine, graph))
                found[(width, runner)] = run_engine
        if with_peer:
            for width in WIDTHS:
                peer = peer_graph(width, seconds)

                def run_peer(peer: Any = peer, width: int = width) -> None:
                    out = peer.invoke({})
                    assert sorted(out["results"]) == list(range(width)), out
                found[(width, RUNNER_LANGGRAPH)] = run_peer
        yield found


async def _run_to_end(engine: LocalEngine, graph: str) -> None:
    status = await engine.start(graph, {})
    status = await engine.wait(status.instance_id)
    assert status.status == "completed", (status.status, status.error)


def measure(seconds: float, repeat: int, *, with_peer: bool,
            progress: Callable[[str], None] | None = None) -> dict[tuple[int, str], float]:
    """Median seconds per run of every case, over ``repeat`` interleaved rounds (plus a warm-up)."""
    with cases(seconds, with_peer=with_peer) as found:
        samples: dict[tuple[int, str], list[float]] = {key: [] for key in found}
        for number in range(repeat + 1):
            for key, run in found.items():
                start = time.perf_counter()
                run()
                if number:  # round 0 warms up: threads, prepared statements, imports
                    samples[key].append(time.perf_counter() - start)
            if progress is not None and number:
                progress(f"sync branches: round {number}/{repeat}")
    return {key: statistics.median(values) for key, values in samples.items()}


def format_lines(figures: dict[tuple[int, str], float], seconds: float, repeat: int, *,
                 with_peer: bool) -> list[str]:
    """The section: the table, then the target with met/missed (judged at the default size)."""
    lines = [
        f"sync branches: N parallel sync nodes each blocking {seconds:g} s (time.sleep), "
        f"median of {repeat} runs per case, interleaved; one after another would take N x {seconds:g} s",
    ]
    if not with_peer:
        lines.append("LangGraph is not installed (pip install -e '.[bench]'): its rows are skipped")
    lines.append(f"{'branches':<8}  {'runner':<28}  {'s/run':>7}  {'vs LangGraph':>12}")
    for width in WIDTHS:
        base = figures.get((width, RUNNER_LANGGRAPH))
        for runner in RUNNERS:
            value = figures.get((width, runner))
            if value is None:
                continue
            ratio = f"{value / base:.2f}x" if base else "n/a"
            lines.append(f"{width:<8}  {runner:<28}  {value:>7.3f}  {ratio:>12}")
    label = f"  {TARGET_WIDTH} sync branches x {DEFAULTS['seconds']:g} s <= {TARGET_SECONDS:g} s"
    if seconds != DEFAULTS["seconds"]:
        return [*lines, "targets:", f"{label}: not judged (branches of {seconds:g} s in this run)"]
    lines.append("targets:")
    for runner in (RUNNER_INVOKE, RUNNER_MEMORY, RUNNER_SQLITE):
        value = figures[(TARGET_WIDTH, runner)]
        lines.append(f"{label} on {runner}: {value:.3f} s, {'met' if value <= TARGET_SECONDS else 'missed'}")
    return lines


def report(sizes: dict[str, float], repeat: int, *,
           progress: Callable[[str], None] | None = None) -> list[str]:
    """The section's lines (LangGraph rows when it is installed)."""
    with_peer = langgraph_available()
    figures = measure(sizes["seconds"], repeat, with_peer=with_peer, progress=progress)
    return format_lines(figures, sizes["seconds"], repeat, with_peer=with_peer)


def main(argv: list[str] | None = None) -> int:
    """Print the section."""
    parser = argparse.ArgumentParser(prog="python -m bench.sync_branches_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, help=f"timed runs per case (default {DEFAULTS['repeat']})")
    parser.add_argument("--seconds", type=float, help=f"how long each branch blocks (default {DEFAULTS['seconds']})")
    parser.add_argument("--quick", action="store_true", help=f"short branches, one round, for a smoke test ({QUICK})")
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else DEFAULTS)
    if args.repeat is not None:
        sizes["repeat"] = args.repeat
    if args.seconds is not None:
        sizes["seconds"] = args.seconds
    if sizes["repeat"] < 1 or sizes["seconds"] < 0:
        parser.error("--repeat must be at least 1 and --seconds not negative")
    for line in report(sizes, int(sizes["repeat"]),
                       progress=lambda m: print(f"... {m}", file=sys.stderr, flush=True)):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
