"""Table cases and their interleaved timing.

A case is one (graph, runner) cell of the table: a callable that executes one whole run. The
cases are timed in rounds, a few runs of every case per round, so our runners and LangGraph's
are measured side by side under the same machine conditions: a slow spell of a shared machine
lands on every runner of the rounds it lasts instead of on whichever runner happened to be
measured then. Within a round a case gets an untimed run first and then its timed runs in a
row: strictly alternating single runs would time every run with caches just evicted by the
other runners, which measures cold starts rather than per-node cost (it made our SQLite chain
about 25% slower against LangGraph's, measured). Each figure is the median over all timed runs
of the time of one run divided by its nodes.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One table cell: ``run()`` executes one run of ``graph`` on ``runner``."""

    graph: str
    runner: str
    nodes: int
    run: Callable[[], object]


def time_cases(
    cases: list[Case], repeat: int, *, block: int = 5, progress: bool = True
) -> dict[tuple[str, str], float]:
    """Median microseconds per node of every case over ``repeat`` timed runs each.

    The runs are taken in rounds: each round gives every case one untimed run (its caches
    warm again after the other runners) and then up to ``block`` timed runs in a row.
    """
    samples: dict[tuple[str, str], list[float]] = {(c.graph, c.runner): [] for c in cases}
    rounds = -(-repeat // block)
    for number in range(1, rounds + 1):
        for case in cases:
            case.run()  # warm up: caches, compiled manifests, prepared statements
            timed = samples[(case.graph, case.runner)]
            for _ in range(min(block, repeat - len(timed))):
                start = time.perf_counter()
                case.run()
                timed.append((time.perf_counter() - start) / case.nodes * 1e6)
        if progress:
            print(f"... round {number}/{rounds}", file=sys.stderr, flush=True)
    return {key: statistics.median(values) for key, values in samples.items()}


__all__ = ["Case", "time_cases"]
