"""``LocalEngine`` benchmarks: per-node cost with each store, throughput, parked runs.

- :func:`engine_cases`: table cases, ``start`` + ``wait`` of the benchmark graphs with the
  in-memory store or the SQLite store (a temporary file; the engine commits every task result
  and every transition), timed by :mod:`bench.cases`.
- :func:`concurrent_runs`: many runs of a short chain started at once, then all awaited.
- :func:`parked_runs`: many runs parked on an event wait: resident memory they add, and the
  time to resume a few of them, one after the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from azure_functions_durable_graph import END, ManifestBuilder, RouteDecision
from azure_functions_durable_graph.graph.registration import GraphRegistration
from azure_functions_durable_graph.local.engine import LocalEngine

from .cases import Case
from .graphs import NODES_PER_RUN, chain_graph, fanout_graph, map_graph

RUNNER_MEMORY = "LocalEngine (memory)"
RUNNER_SQLITE = "LocalEngine (sqlite)"

CONCURRENT_CHAIN = 5  # nodes in the chain of the concurrency benchmark
RESUMES = 5  # parked runs resumed one after the other (first and median reported)


def _memory_store() -> Any:
    from azure_functions_durable_graph.local.store.memory import MemoryRunStore

    return MemoryRunStore()


@asynccontextmanager
async def _engine(kind: str, tmp: str, name: str = "runs.db"):  # type: ignore[no-untyped-def]
    store = _memory_store() if kind == "memory" else Path(tmp) / name
    async with LocalEngine(store) as engine:
        yield engine


async def _run_to_end(engine: LocalEngine, graph: str, payload: Any = None) -> None:
    status = await engine.start(graph, payload if payload is not None else {})
    status = await engine.wait(status.instance_id)
    assert status.status == "completed", (status.status, status.error)


@contextmanager
def engine_cases() -> Iterator[list[Case]]:
    """Cases for ``LocalEngine`` on the memory store and on a SQLite file (``start`` + ``wait``).

    Both engines stay open on an event loop of their own for the whole measurement; each run
    is driven to its end on that loop while the other runners wait their turn.
    """
    graphs = {"chain": chain_graph(), "fanout": fanout_graph(), "map": map_graph()}
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp, contextlib.ExitStack() as stack:
        stack.callback(loop.close)
        cases = []
        for kind, runner in (("memory", RUNNER_MEMORY), ("sqlite", RUNNER_SQLITE)):
            opened = _engine(kind, tmp)
            engine = loop.run_until_complete(opened.__aenter__())
            stack.callback(lambda opened=opened: loop.run_until_complete(opened.__aexit__(None, None, None)))
            for name, registration in graphs.items():
                engine.register(registration)

                def run(engine: LocalEngine = engine, graph: str = registration.graph_name) -> None:
                    loop.run_until_complete(_run_to_end(engine, graph))

                cases.append(Case(name, runner, NODES_PER_RUN[name], run))
        yield cases


# -- throughput -----------------------------------------------------------------------------
@dataclass
class ConcurrentResult:
    """``runs`` runs of a ``nodes``-node chain, all started and then all awaited."""

    runs: int
    nodes: int
    seconds: float

    @property
    def runs_per_second(self) -> float:
        return self.runs / self.seconds


async def _concurrent_runs(runs: int) -> ConcurrentResult:
    registration = chain_graph(CONCURRENT_CHAIN)
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        async with _engine("sqlite", tmp) as engine:
            engine.register(registration)
            await _run_to_end(engine, registration.graph_name)  # warm up
            start = time.perf_counter()
            ids = [(await engine.start(registration.graph_name, {})).instance_id for _ in range(runs)]
            finished = await asyncio.gather(*(engine.wait(i) for i in ids))
            seconds = time.perf_counter() - start
            bad = [s.status for s in finished if s.status != "completed"]
            assert not bad, f"{len(bad)} runs did not complete: {sorted(set(bad))}"
    return ConcurrentResult(runs=runs, nodes=CONCURRENT_CHAIN, seconds=seconds)


def concurrent_runs(runs: int) -> ConcurrentResult:
    """Start ``runs`` runs of a short chain on the SQLite engine, then wait for all of them."""
    return asyncio.run(_concurrent_runs(runs))


# -- parked runs ----------------------------------------------------------------------------
class GateState(BaseModel):
    """Released by the ``go`` event."""

    released: bool = False


WAIT_FOR_GO = RouteDecision.wait_for_event("go", "gate")


def _gate(state: GateState) -> None:
    return None


def _gate_route(state: GateState) -> RouteDecision:
    return RouteDecision.complete() if state.released else WAIT_FOR_GO


def parked_graph() -> GraphRegistration:
    """One node whose router parks the run on the ``go`` event until it has been released."""
    builder = ManifestBuilder(graph_name="bench_parked", state_model=GateState)
    builder.set_entrypoint("gate")
    builder.add_node("gate", _gate, route=_gate_route, route_targets=[WAIT_FOR_GO, END])
    builder.add_event_handler("go")  # the payload ({"released": true}) is the update
    return builder.build()


def rss_bytes() -> int:
    """Resident set size of this process (VmRSS from /proc/self/status), in bytes."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


@dataclass
class ParkedResult:
    """``runs`` runs parked at once: memory they added, time to park them, times to resume."""

    runs: int
    rss_delta: int
    park_seconds: float
    resume_seconds: list[float]  # one resume each of a few parked runs, in order

    @property
    def first_resume(self) -> float:
        return self.resume_seconds[0]

    @property
    def median_resume(self) -> float:
        return statistics.median(self.resume_seconds)


async def _parked_runs(runs: int) -> ParkedResult:
    registration = parked_graph()
    graph = registration.graph_name
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        async with _engine("sqlite", tmp) as engine:
            engine.register(registration)
            # Warm up: park one run and release it, so caches and statements exist already.
            warm = await engine.start(graph, {})
            assert (await engine.wait(warm.instance_id)).status == "waiting"
            await engine.raise_event(warm.instance_id, "go", {"released": True})
            assert (await engine.wait(warm.instance_id)).status == "completed"

            gc.collect()
            baseline = rss_bytes()
            start = time.perf_counter()
            # Keep only the ids: the statuses carry snapshots and would count as run memory.
            ids = [(await engine.start(graph, {})).instance_id for _ in range(runs)]
            statuses = {s.status for s in await asyncio.gather(*(engine.wait(i) for i in ids))}
            park_seconds = time.perf_counter() - start
            assert statuses == {"waiting"}, f"not every run parked: {sorted(statuses)}"
            gc.collect()
            rss_delta = rss_bytes() - baseline

            resume_seconds = []
            for target in ids[len(ids) // 2:][:RESUMES]:
                start = time.perf_counter()
                await engine.raise_event(target, "go", {"released": True})
                done = await engine.wait(target)
                resume_seconds.append(time.perf_counter() - start)
                assert done.status == "completed", (done.status, done.error)
    return ParkedResult(runs=runs, rss_delta=rss_delta, park_seconds=park_seconds,
                        resume_seconds=resume_seconds)


def parked_runs(runs: int) -> ParkedResult:
    """Park ``runs`` runs on an event wait (SQLite engine); measure memory and resumes."""
    return asyncio.run(_parked_runs(runs))


__all__ = [
    "RUNNER_MEMORY",
    "RUNNER_SQLITE",
    "ConcurrentResult",
    "ParkedResult",
    "concurrent_runs",
    "engine_cases",
    "parked_graph",
    "parked_runs",
    "rss_bytes",
]
