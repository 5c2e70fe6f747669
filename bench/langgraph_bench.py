"""The LangGraph adapter: a LangGraph graph run by our engines, against LangGraph running it.

``python -m bench.langgraph_bench [--repeat N] [--quick]`` prints the section that
``python -m bench`` prints last. The graphs are the LangGraph corpus's tutorial shapes
(tests/test_langgraph_corpus.py), built as LangGraph ``StateGraph`` builders and converted with
``from_langgraph``:

- chain: ``outline``, ``draft`` nodes, ``polish`` in a row, each appending a line to a log
  (``Annotated[list[str], operator.add]``); the corpus's chain is 3 nodes;
- map: ``plan`` lists subjects, a conditional edge sends one ``joke`` task per subject
  (``Send``), ``pick`` keeps the longest joke; the corpus's map is 3 subjects wide.

Each graph also runs at ten times its size (a 10x longer chain, a 10x wider map), to show how
the cost grows. Runners: LangGraph ``invoke`` without a checkpointer and with ``SqliteSaver``
(on a file, ``durability="sync"``, a new thread id per run); ours on the converted graph:
``registration.invoke`` (in-process) and ``LocalEngine`` on the memory store and on a SQLite
file (``start`` + ``wait``). All cases are timed in interleaved rounds (:mod:`bench.cases`).
The ratio divides each row by the LangGraph row of the same durability class: in-process and
memory rows by LangGraph without a checkpointer, the SQLite row by ``SqliteSaver``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import operator
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store.memory import MemoryRunStore

from . import peers
from .cases import Case, time_cases

RUNNER_INVOKE = "invoke (in-process)"
RUNNER_MEMORY = "LocalEngine (memory)"
RUNNER_SQLITE = "LocalEngine (sqlite)"
RUNNER_LG_PLAIN = "langgraph (no checkpointer)"
RUNNER_LG_SQLITE = "langgraph SqliteSaver sync"
# Row order within a graph, and the LangGraph row each one is compared with.
ROWS = (
    (RUNNER_INVOKE, RUNNER_LG_PLAIN),
    (RUNNER_MEMORY, RUNNER_LG_PLAIN),
    (RUNNER_LG_PLAIN, RUNNER_LG_PLAIN),
    (RUNNER_SQLITE, RUNNER_LG_SQLITE),
    (RUNNER_LG_SQLITE, RUNNER_LG_SQLITE),
)
GROWTH = 10  # the larger size of each graph, as a multiple of the corpus's

DEFAULTS = {"repeat": 30, "chain": 3, "width": 3}
QUICK = {"repeat": 2, "chain": 3, "width": 3}

ENGINE_DURABILITY = "WAL, synchronous=NORMAL: survives a process crash, not a power loss"
SKIPPED = "langgraph adapter: skipped, LangGraph is not installed (pip install -e '.[bench]')"


class Log(TypedDict):
    """The corpus chain's state: a topic, a log every node appends to, a count."""

    topic: str
    log: Annotated[list[str], operator.add]
    n: int


class Jokes(TypedDict):
    """The corpus map's state: subjects, one joke per subject gathered by a list reducer."""

    subjects: list[str]
    jokes: Annotated[list[str], operator.add]
    best: str


class Subject(TypedDict):
    """The input of one ``joke`` task (the ``Send`` argument)."""

    subject: str


def _outline(state: Log) -> dict[str, Any]:
    return {"log": [f"outline {state['topic']}"]}


def _draft(state: Log) -> dict[str, Any]:
    return {"log": ["draft"], "n": len(state["log"])}


def _polish(state: Log) -> dict[str, Any]:
    return {"log": [f"polish {state['n']}"]}


def chain_builder(length: int) -> Any:
    """The corpus chain with ``length`` nodes: ``outline``, ``length - 2`` drafts, ``polish``."""
    from langgraph.graph import END, START, StateGraph

    names = ["outline", *(f"draft{i}" if length > 3 else "draft" for i in range(1, length - 1)), "polish"]
    graph = StateGraph(Log)
    for name in names:
        graph.add_node(name, _outline if name == "outline" else _polish if name == "polish" else _draft)
    graph.add_edge(START, names[0])
    for before, after in zip(names, names[1:], strict=False):
        graph.add_edge(before, after)
    graph.add_edge(names[-1], END)
    return graph


def _planner(width: int) -> Any:  # a node function of Jokes; Any for StateGraph.add_node
    subjects = ["cats", "owls", "eels"][:width] + [f"subject {i}" for i in range(3, width)]

    def plan(state: Jokes) -> dict[str, Any]:
        return {"subjects": list(subjects)}

    return plan


def _fan(state: Jokes) -> list[Any]:
    from langgraph.types import Send

    return [Send("joke", {"subject": s}) for s in state["subjects"]]


def _joke(state: Subject) -> dict[str, Any]:
    return {"jokes": [f"a {state['subject']} walks into a bar"]}


def _pick(state: Jokes) -> dict[str, Any]:
    return {"best": max(state["jokes"], key=len)}


def map_builder(width: int) -> Any:
    """The corpus map-reduce, ``width`` subjects wide: ``plan``, ``width`` ``joke`` Sends, ``pick``."""
    from langgraph.graph import START, StateGraph

    graph = StateGraph(Jokes)
    graph.add_node("plan", _planner(width))
    graph.add_node("joke", _joke)
    graph.add_node("pick", _pick)
    graph.add_edge(START, "plan")
    graph.add_conditional_edges("plan", _fan, ["joke"])
    graph.add_edge("joke", "pick")
    return graph


class Graph:
    """One benchmark graph: its builder, input, nodes per run and a check of the final state."""

    def __init__(self, label: str, builder: Any, payload: dict[str, Any], nodes: int,
                 check: Callable[[dict[str, Any]], bool]) -> None:
        self.label, self.builder, self.payload, self.nodes, self.check = label, builder, payload, nodes, check
        self.config: dict[str, Any] = {"recursion_limit": nodes + 10}


def _count(key: str, size: int) -> Callable[[dict[str, Any]], bool]:
    def check(out: dict[str, Any]) -> bool:
        return len(out[key]) == size

    return check


def graphs(chain: int, width: int) -> list[Graph]:
    """The chain and the map at the given sizes and at :data:`GROWTH` times them."""
    found = [Graph(f"chain {size}", chain_builder(size), {"topic": "durable graphs"}, size, _count("log", size))
             for size in (chain, chain * GROWTH)]
    found += [Graph(f"map {size}", map_builder(size), {"subjects": []}, size + 2, _count("jokes", size))
              for size in (width, width * GROWTH)]
    return found


def _langgraph_cases(items: list[Graph], saver: Any) -> list[Case]:
    cases = []
    for item in items:
        plain, durable = item.builder.compile(), item.builder.compile(checkpointer=saver)

        def run_plain(item: Graph = item, graph: Any = plain) -> object:
            out = graph.invoke(dict(item.payload), dict(item.config))
            assert item.check(out), out
            return out

        def run_saver(item: Graph = item, graph: Any = durable) -> object:
            config = {**item.config, "configurable": {"thread_id": uuid.uuid4().hex}}
            out = graph.invoke(dict(item.payload), config, durability="sync")
            assert item.check(out), out
            return out

        cases += [Case(item.label, RUNNER_LG_PLAIN, item.nodes, run_plain),
                  Case(item.label, RUNNER_LG_SQLITE, item.nodes, run_saver)]
    return cases


def _close_on(loop: asyncio.AbstractEventLoop, engine: LocalEngine) -> None:
    loop.run_until_complete(engine.__aexit__(None, None, None))


def _our_cases(items: list[Graph], tmp: str, stack: contextlib.ExitStack) -> list[Case]:
    from azure_functions_durable_graph.langgraph import from_langgraph

    loop = asyncio.new_event_loop()
    stack.callback(loop.close)
    engines = []
    for runner, store in ((RUNNER_MEMORY, MemoryRunStore()), (RUNNER_SQLITE, Path(tmp) / "runs.db")):
        opened = LocalEngine(store)
        engine = loop.run_until_complete(opened.__aenter__())
        stack.callback(_close_on, loop, opened)
        engines.append((runner, engine))

    async def to_end(engine: LocalEngine, graph: str, payload: dict[str, Any]) -> None:
        status = await engine.start(graph, dict(payload))
        status = await engine.wait(status.instance_id)
        assert status.status == "completed", (status.status, status.error)

    cases = []
    for index, item in enumerate(items):
        registration = from_langgraph(item.builder, name=f"lg_bench_{index}", recursion_limit=item.nodes + 10)

        def run_invoke(item: Graph = item, registration: Any = registration) -> object:
            result = registration.invoke(dict(item.payload))
            assert result.status == "completed", result.error
            assert item.check(registration.output(result.state)), result.state
            return result

        cases.append(Case(item.label, RUNNER_INVOKE, item.nodes, run_invoke))
        for runner, engine in engines:
            engine.register(registration)

            def run_engine(item: Graph = item, engine: LocalEngine = engine,
                           graph: str = registration.graph_name) -> None:
                loop.run_until_complete(to_end(engine, graph, item.payload))

            cases.append(Case(item.label, runner, item.nodes, run_engine))
    return cases


def saver_durability(conn: sqlite3.Connection) -> str:
    """How ``SqliteSaver``'s connection keeps commits: its journal mode and synchronous level."""
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    level = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(conn.execute("PRAGMA synchronous").fetchone()[0], "?")
    note = "syncs the log at every commit: survives a power loss" if level in ("FULL", "EXTRA") else \
        "survives a process crash, not a power loss"
    return f"{journal.upper()}, synchronous={level} (its defaults): {note}"


@contextlib.contextmanager
def measured_cases(chain: int, width: int) -> Iterator[tuple[list[Graph], list[Case], str]]:
    """The graphs, every (graph, runner) case, and how ``SqliteSaver`` keeps its commits."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    items = graphs(chain, width)
    with tempfile.TemporaryDirectory(prefix="bench-langgraph-adapter-") as tmp, contextlib.ExitStack() as stack:
        conn = sqlite3.connect(str(Path(tmp) / "checkpoints.db"), check_same_thread=False)
        stack.callback(conn.close)
        saver = SqliteSaver(conn)
        saver.setup()
        cases = _our_cases(items, tmp, stack) + _langgraph_cases(items, saver)
        yield items, cases, saver_durability(conn)


def format_table(items: list[Graph], figures: dict[tuple[str, str], float]) -> list[str]:
    """Graph, runner, ms/run and us/node medians, ratio to the like-for-like LangGraph row."""
    lines = [f"{'graph':<10}  {'runner':<28}  {'ms/run':>8}  {'us/node':>8}  {'vs LangGraph':>12}"]
    for item in items:
        for runner, baseline in ROWS:
            value = figures.get((item.label, runner))
            if value is None:
                continue
            base = figures.get((item.label, baseline))
            ratio = f"{value / base:.2f}x" if base else "n/a"
            lines.append(f"{item.label:<10}  {runner:<28}  {value * item.nodes / 1e3:>8.3f}  {value:>8.1f}  {ratio:>12}")
    return lines


def growth_lines(items: list[Graph], figures: dict[tuple[str, str], float]) -> list[str]:
    """Per runner, how much a run's time grows from each graph to its 10x version."""
    pairs = list(zip(items[::2], items[1::2], strict=True))
    lines = [f"growth at {GROWTH}x size: ms/run of the larger graph / ms/run of the smaller",
             f"{'runner':<28}" + "".join(f"  {f'{a.label} -> {b.label}':>18}" for a, b in pairs)]
    for runner, _ in ROWS:
        cells = []
        for small, large in pairs:
            a, b = figures.get((small.label, runner)), figures.get((large.label, runner))
            cells.append(f"{b * large.nodes / (a * small.nodes):.1f}x" if a and b else "n/a")
        lines.append(f"{runner:<28}" + "".join(f"  {cell:>18}" for cell in cells))
    return lines


def report(sizes: dict[str, int], repeat: int, *,
           progress: Callable[[str], None] | None = None) -> list[str]:
    """The section's lines: a skip message without LangGraph, else the table and growth."""
    if not peers.available():
        return [SKIPPED]
    with measured_cases(sizes["chain"], sizes["width"]) as (items, cases, saver):
        if progress is not None:
            progress(f"langgraph adapter: {len(cases)} cases, {repeat} interleaved rounds")
        figures = time_cases(cases, repeat, progress=progress is not None)
    return [
        f"langgraph adapter: the corpus's chain and map graphs through from_langgraph, "
        f"median of {repeat} runs per case, timed in interleaved rounds",
        "ratio = ours / LangGraph (in-process and memory rows vs no checkpointer, sqlite rows vs SqliteSaver sync)",
        f"durability: LocalEngine (sqlite) {ENGINE_DURABILITY}; SqliteSaver {saver}",
        *format_table(items, figures),
        *growth_lines(items, figures),
    ]


def main(argv: list[str] | None = None) -> int:
    """Print the adapter's table."""
    parser = argparse.ArgumentParser(prog="python -m bench.langgraph_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, help=f"timed runs per case (default {DEFAULTS['repeat']})")
    parser.add_argument("--chain", type=int, help=f"nodes in the chain (default {DEFAULTS['chain']}, at least 3)")
    parser.add_argument("--width", type=int, help=f"subjects of the map (default {DEFAULTS['width']})")
    parser.add_argument("--quick", action="store_true", help=f"few repeats, for a smoke test ({QUICK})")
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else DEFAULTS)
    for key in ("repeat", "chain", "width"):
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    if sizes["repeat"] < 1 or sizes["width"] < 1 or sizes["chain"] < 3:
        parser.error("--repeat and --width must be at least 1, --chain at least 3")
    for line in report(sizes, sizes["repeat"], progress=lambda m: print(f"... {m}", file=sys.stderr, flush=True)):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["DEFAULTS", "QUICK", "SKIPPED", "chain_builder", "graphs", "main", "map_builder", "report"]
