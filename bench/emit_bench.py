"""What ``ctx.emit`` costs: one node emitting many small chunks, against the same node without.

``python -m bench.emit_bench [--chunks 10000] [--repeat 10] [--quick]`` prints the streaming
section that ``python -m bench`` prints after its table. The node emits ``chunks`` strings of
about 20 bytes (kind ``"token"``); its twin runs the same loop without emitting. Each figure is
the median time of one run divided by ``chunks``, and the overhead of one emit is the
difference of the two medians:

- in-process: ``registration.invoke`` (emits are checked and encoded, then dropped: no reader)
  and ``registration.stream`` read to its end (every emit reaches the reader);
- ``LocalEngine`` on the memory store and on SQLite: ``start`` + ``wait`` until the run
  completes, every emit written to the store (batched, a transaction per batch);
- LangGraph: the same node writing each chunk with ``get_stream_writer()``, read with
  ``stream_mode="custom"``, without a checkpointer and with ``SqliteSaver`` (LangGraph keeps
  custom chunks in no checkpoint, so only the in-memory pair is like for like);
- the history case: the SQLite engine with ten times the chunks in one run (and
  ``emit_limit`` raised to keep them all), per emit.

Below: delivery latency to an SSE reader (:mod:`bench.emit_latency`) and emits per storage
request on Azurite (:mod:`bench.emit_storage`), then each design target with met/missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypedDict

from pydantic import BaseModel

from azure_functions_durable_graph import ManifestBuilder
from azure_functions_durable_graph.execution import NodeContext
from azure_functions_durable_graph.graph.registration import GraphRegistration
from azure_functions_durable_graph.local.engine import LocalEngine

from . import emit_latency, emit_storage, peers
from .cases import Case, time_cases

RUNNER_INVOKE = "invoke (in-process)"
RUNNER_STREAM = "stream (in-process)"
RUNNER_MEMORY = "LocalEngine (memory)"
RUNNER_SQLITE = "LocalEngine (sqlite)"
RUNNER_LG_PLAIN = "langgraph custom (no checkpointer)"
RUNNER_LG_SQLITE = "langgraph custom SqliteSaver sync"
# Row order, and the LangGraph row each one is compared with.
ROWS = (
    (RUNNER_INVOKE, RUNNER_LG_PLAIN),
    (RUNNER_STREAM, RUNNER_LG_PLAIN),
    (RUNNER_LG_PLAIN, RUNNER_LG_PLAIN),
    (RUNNER_MEMORY, RUNNER_LG_PLAIN),
    (RUNNER_SQLITE, RUNNER_LG_SQLITE),
    (RUNNER_LG_SQLITE, RUNNER_LG_SQLITE),
)
EMIT, QUIET = "emit", "quiet"  # the node that emits, and its twin that does not

DEFAULTS = {"chunks": 10_000, "repeat": 10, "growth": 10, "latency": 1000, "storage": 10_000}
QUICK = {"chunks": 200, "repeat": 2, "growth": 10, "latency": 50, "storage": 500}

# The design targets.
IN_PROCESS_US_TARGET = 5.0
SQLITE_US_TARGET = 20.0
SSE_P99_MS_TARGET = 50.0


def chunk_texts(count: int) -> list[str]:
    """``count`` distinct strings of 20 bytes, like a model's tokens."""
    return [f"token {i:08d} text." for i in range(count)]


class PeerState(TypedDict):
    """LangGraph's state for the same node."""

    emitted: int


class EmitState(BaseModel):
    """How many chunks the node emitted."""

    emitted: int = 0


def emit_graph(chunks: int, *, emit: bool) -> GraphRegistration:
    """One node looping over ``chunks`` strings, emitting each one or (``emit=False``) not."""
    texts = chunk_texts(chunks)

    def talk(state: EmitState, ctx: NodeContext) -> dict[str, int]:
        for text in texts:
            ctx.emit(text, kind="token")
        return {"emitted": len(texts)}

    def quiet(state: EmitState, ctx: NodeContext) -> dict[str, int]:
        for text in texts:
            len(text)
        return {"emitted": 0}

    name = f"bench_{EMIT if emit else QUIET}_{chunks}"
    builder = ManifestBuilder(graph_name=name, state_model=EmitState)
    builder.set_entrypoint("talk")
    builder.add_node("talk", talk if emit else quiet, terminal=True)
    return builder.build()


def _in_process_cases(chunks: int, loop: asyncio.AbstractEventLoop) -> list[Case]:
    cases = []
    for label, emit in ((EMIT, True), (QUIET, False)):
        registration = emit_graph(chunks, emit=emit)
        expected = chunks if emit else 0

        def invoke(registration: GraphRegistration = registration, expected: int = expected) -> None:
            result = registration.invoke({})
            assert result.status == "completed" and result.output is not None, result.error
            assert result.output["state"]["emitted"] == expected

        async def read(registration: GraphRegistration) -> int:
            return sum([1 async for e in registration.stream({}) if e["type"] == "emit"])

        def stream(registration: GraphRegistration = registration, expected: int = expected) -> None:
            assert loop.run_until_complete(read(registration)) == expected

        cases += [Case(label, RUNNER_INVOKE, chunks, invoke), Case(label, RUNNER_STREAM, chunks, stream)]
    return cases


@contextlib.contextmanager
def engine_cases(chunks: int, loop: asyncio.AbstractEventLoop, *, kinds: tuple[str, ...] = ("memory", "sqlite"),
                 ) -> Iterator[list[Case]]:
    """``LocalEngine`` cases (``start`` + ``wait``), ``emit_limit`` large enough for every chunk."""
    from azure_functions_durable_graph.local.store.memory import MemoryRunStore

    runners = {"memory": RUNNER_MEMORY, "sqlite": RUNNER_SQLITE}
    with tempfile.TemporaryDirectory(prefix="bench-emits-") as tmp, contextlib.ExitStack() as stack:
        cases = []
        for kind in kinds:
            store: Any = MemoryRunStore() if kind == "memory" else Path(tmp) / "runs.db"
            engine = LocalEngine(store, emit_limit=max(chunks, 1))
            loop.run_until_complete(engine.__aenter__())
            stack.callback(lambda engine=engine: loop.run_until_complete(engine.__aexit__(None, None, None)))
            for label, emit in ((EMIT, True), (QUIET, False)):
                registration = emit_graph(chunks, emit=emit)
                engine.register(registration)

                async def run_to_end(engine: LocalEngine, graph: str) -> None:
                    started = await engine.start(graph, {})
                    status = await engine.wait(started.instance_id)
                    assert status.status == "completed", (status.status, status.error)

                def run(engine: LocalEngine = engine, graph: str = registration.graph_name) -> None:
                    loop.run_until_complete(run_to_end(engine, graph))

                cases.append(Case(label, runners[kind], chunks, run))
        yield cases


def _langgraph_builder(chunks: int, *, emit: bool) -> Any:
    from langgraph.config import get_stream_writer
    from langgraph.graph import END, START, StateGraph

    texts = chunk_texts(chunks)

    def talk(state: PeerState) -> dict[str, int]:
        writer = get_stream_writer()
        for text in texts:
            writer(text)
        return {"emitted": len(texts)}

    def quiet(state: PeerState) -> dict[str, int]:
        get_stream_writer()
        for text in texts:
            len(text)
        return {"emitted": 0}

    builder = StateGraph(PeerState)
    builder.add_node("talk", talk if emit else quiet)
    builder.add_edge(START, "talk")
    builder.add_edge("talk", END)
    return builder


@contextlib.contextmanager
def langgraph_cases(chunks: int) -> Iterator[list[Case]]:
    """The same node on LangGraph, each chunk through ``get_stream_writer()``, read as custom."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    with tempfile.TemporaryDirectory(prefix="bench-langgraph-emits-") as tmp:
        conn = sqlite3.connect(str(Path(tmp) / "checkpoints.db"), check_same_thread=False)
        try:
            saver = SqliteSaver(conn)
            saver.setup()
            cases = []
            for label, emit in ((EMIT, True), (QUIET, False)):
                expected = chunks if emit else 0
                for runner, checkpointer in ((RUNNER_LG_PLAIN, None), (RUNNER_LG_SQLITE, saver)):
                    graph = _langgraph_builder(chunks, emit=emit).compile(checkpointer=checkpointer)
                    options: dict[str, Any] = {} if checkpointer is None else {"durability": "sync"}

                    def run(graph: Any = graph, options: dict[str, Any] = options,
                            durable: bool = checkpointer is not None, expected: int = expected) -> None:
                        config = {"configurable": {"thread_id": uuid.uuid4().hex}} if durable else {}
                        got = sum(1 for _ in graph.stream({"emitted": 0}, config, stream_mode="custom", **options))
                        assert got == expected, (got, expected)

                    cases.append(Case(label, runner, chunks, run))
            yield cases
        finally:
            conn.close()


def overheads(figures: dict[tuple[str, str], float]) -> dict[str, float]:
    """Microseconds per emit of each runner: emitting node minus its quiet twin, per chunk."""
    return {runner: figures[(EMIT, runner)] - figures[(QUIET, runner)]
            for (label, runner) in figures if label == EMIT and (QUIET, runner) in figures}


def measure(chunks: int, repeat: int, *, with_peers: bool) -> dict[str, float]:
    """Per-emit overhead (µs) of every runner, all cases timed in interleaved rounds."""
    loop = asyncio.new_event_loop()
    try:
        with contextlib.ExitStack() as stack:
            cases = _in_process_cases(chunks, loop) + stack.enter_context(engine_cases(chunks, loop))
            if with_peers:
                cases += stack.enter_context(langgraph_cases(chunks))
            return overheads(time_cases(cases, repeat, progress=False))
    finally:
        loop.close()


def measure_growth(chunks: int, repeat: int) -> float:
    """Per-emit overhead (µs) on the SQLite engine with ``chunks`` emits kept in one run."""
    loop = asyncio.new_event_loop()
    try:
        with engine_cases(chunks, loop, kinds=("sqlite",)) as cases:
            return overheads(time_cases(cases, repeat, block=repeat, progress=False))[RUNNER_SQLITE]
    finally:
        loop.close()


def storage_line(emits: int, batch: int = 100) -> str:
    """Emits per storage request on Azurite (append and read back), or why it was skipped."""
    if not emit_storage.azurite_installed():
        return "emits per storage request (Azurite): skipped, Azurite is not installed (make install)"
    with emit_storage.azurite() as connection:
        result = emit_storage.measure(connection, emits, batch, 40)
    (sent, _), (read, _) = result["append"], result["read"]
    return (f"emits per storage request (Azurite, {emits} emits of ~40 B in batches of {batch}): "
            f"append {emits / sent:.1f} ({sent} requests), read back {emits / read:.1f} ({read} requests)")


def format_rows(overhead: dict[str, float]) -> list[str]:
    """The table: runner, µs per emit, ratio to LangGraph's custom stream of the same class."""
    lines = [f"{'runner':<36}  {'us/emit (median)':>16}  {'vs LangGraph':>12}"]
    for runner, baseline in ROWS:
        if runner not in overhead:
            continue
        base = overhead.get(baseline)
        ratio = f"{overhead[runner] / base:.2f}x" if base and base > 0 else "n/a"
        lines.append(f"{runner:<36}  {overhead[runner]:>16.2f}  {ratio:>12}")
    return lines


def format_targets(overhead: dict[str, float], growth: float | None,
                   latency: emit_latency.LatencyResult | None) -> list[str]:
    """One line per streaming design target: what was measured, met or missed."""
    def verdict(ok: bool) -> str:
        return "met" if ok else "missed"

    lines = ["streaming targets:"]
    ours = overhead.get(RUNNER_STREAM)
    if ours is not None:
        lines.append(f"  emit overhead in-process (stream) <= {IN_PROCESS_US_TARGET:.0f} us: {ours:.2f} us, "
                     f"{verdict(ours <= IN_PROCESS_US_TARGET)}")
    ours = overhead.get(RUNNER_SQLITE)
    if ours is not None:
        lines.append(f"  emit overhead LocalEngine (sqlite) <= {SQLITE_US_TARGET:.0f} us: {ours:.2f} us, "
                     f"{verdict(ours <= SQLITE_US_TARGET)}")
    if growth is not None:
        lines.append(f"  emit overhead LocalEngine (sqlite) at 10x chunks <= {SQLITE_US_TARGET:.0f} us: "
                     f"{growth:.2f} us, {verdict(growth <= SQLITE_US_TARGET)}")
    if latency is not None:
        lines.append(f"  SSE delivery p99 < {SSE_P99_MS_TARGET:.0f} ms: {latency.p99_ms:.1f} ms, "
                     f"{verdict(latency.p99_ms < SSE_P99_MS_TARGET)}")
    return lines


def report(sizes: dict[str, int], repeat: int, *, with_peers: bool,
           progress: Callable[[str], None]) -> list[str]:
    """Measure everything and return the section's lines."""
    chunks = sizes["chunks"]
    progress(f"emit overhead: {chunks} chunks, {repeat} runs per case")
    overhead = measure(chunks, repeat, with_peers=with_peers)
    growth_chunks = chunks * sizes["growth"]
    progress(f"emit overhead as history grows: {growth_chunks} chunks in one run")
    growth = measure_growth(growth_chunks, max(1, min(repeat, 3)))
    progress(f"SSE delivery latency: {sizes['latency']} chunks")
    latency = emit_latency.measure(sizes["latency"])
    progress(f"emit log on Azurite: {sizes['storage']} emits")
    storage = storage_line(sizes["storage"])

    lines = [f"streaming: one node emitting {chunks} chunks of 20 B, median of {repeat} runs per case; "
             "us/emit = (run with emits - same node without) / chunks; ratio vs LangGraph "
             "get_stream_writer (memory rows vs no checkpointer, sqlite rows vs SqliteSaver sync)"]
    lines += format_rows(overhead)
    lines.append(f"history: {growth_chunks} chunks in one run, LocalEngine (sqlite): {growth:.2f} us/emit")
    lines.append(latency.line())
    lines.append(storage)
    lines += format_targets(overhead, growth, latency)
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the streaming section."""
    parser = argparse.ArgumentParser(prog="python -m bench.emit_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, help=f"chunks the node emits (default {DEFAULTS['chunks']})")
    parser.add_argument("--repeat", type=int, help=f"timed runs per case (default {DEFAULTS['repeat']})")
    parser.add_argument("--quick", action="store_true", help=f"tiny sizes, for a smoke test ({QUICK})")
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else DEFAULTS)
    if args.chunks is not None:
        sizes["chunks"] = args.chunks
    repeat = args.repeat if args.repeat is not None else sizes["repeat"]
    if min(repeat, sizes["chunks"]) < 1:
        parser.error("--repeat and --chunks must be at least 1")
    with_peers = peers.available()
    if not with_peers:
        print("LangGraph is not installed (pip install -e '.[bench]'): LangGraph rows skipped",
              file=sys.stderr)
    for line in report(sizes, repeat, with_peers=with_peers,
                       progress=lambda text: print(f"... {text}", file=sys.stderr, flush=True)):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
