"""Run the benchmarks and print a table: ``python -m bench [--repeat N]``.

Each figure is the median over repeated runs of microseconds per executed node.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

from .graphs import NODES_PER_RUN, chain_graph, fanout_graph, map_graph


def median_us_per_node(run: Callable[[], object], nodes: int, repeat: int) -> float:
    """Median over ``repeat`` runs of the time per node, in microseconds."""
    run()  # warm caches (compiled manifest, signatures)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) / nodes * 1e6)
    return statistics.median(samples)


def invoke_rows(repeat: int) -> list[tuple[str, str, float]]:
    """Our in-process runner (``registration.invoke``) on each graph."""
    rows = []
    cases = {"chain": (chain_graph(), {}), "fanout": (fanout_graph(), {}), "map": (map_graph(), {})}
    for name, (registration, payload) in cases.items():
        def run(registration=registration, payload=payload) -> object:  # noqa: ANN001
            result = registration.invoke(payload)
            assert result.status == "completed", result.error
            return result

        rows.append((name, "invoke (in-process)", median_us_per_node(run, NODES_PER_RUN[name], repeat)))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--repeat", type=int, default=30, help="runs per case (median reported)")
    args = parser.parse_args(argv)
    print(f"{'graph':<8} {'runner':<24} {'us/node (median)':>18}")
    for graph, runner, value in invoke_rows(args.repeat):
        print(f"{graph:<8} {runner:<24} {value:>18.1f}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
