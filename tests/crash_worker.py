"""A process that drives runs on a SQLite file until killed (used by the crash test).

``python crash_worker.py DB RUNS [DURABILITY]``: registers a 5-node graph whose nodes append their name
(with a short sleep), starts runs ``run-0`` .. ``run-{RUNS-1}`` (idempotent: existing runs are
left as they are and resumed by the engine), waits for all of them, prints ``done``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Annotated

from pydantic import BaseModel

from azure_functions_durable_graph import ManifestBuilder, reducers
from azure_functions_durable_graph.graph.registration import GraphRegistration
from azure_functions_durable_graph.local.engine import LocalEngine

NODES = [f"n{i}" for i in range(5)]


class CrashState(BaseModel):
    """Each node appends its own name."""

    log: Annotated[list[str], reducers.append] = []


def _node(name: str):  # type: ignore[no-untyped-def]
    def handler(state: CrashState) -> dict[str, str]:
        time.sleep(0.02)
        return {"log": name}

    return handler


def crash_graph() -> GraphRegistration:
    """n0 -> n1 -> ... -> n4."""
    builder = ManifestBuilder(graph_name="crash_chain", state_model=CrashState)
    builder.set_entrypoint(NODES[0])
    for index, name in enumerate(NODES):
        if index == len(NODES) - 1:
            builder.add_node(name, _node(name), terminal=True)
        else:
            builder.add_node(name, _node(name), next_node=NODES[index + 1])
    return builder.build()


async def main(db: str, runs: int, durability: str = "process") -> None:
    """Start (or find) every run and wait for all of them (commits in the given durability mode)."""
    async with LocalEngine(db, concurrency=16, durability=durability) as engine:
        engine.register(crash_graph())
        for index in range(runs):
            await engine.start("crash_chain", {}, instance_id=f"run-{index}")
        for index in range(runs):
            await engine.wait(f"run-{index}", timeout=120)
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), *sys.argv[3:4]))
