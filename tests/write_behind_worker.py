"""The loop graph of the write-behind tests, and a process that drives it until killed.

``python write_behind_worker.py DB EXECUTIONS STEPS BLOCK_AT``: starts run ``loop`` of a
``STEPS``-step loop on the SQLite file ``DB`` (write-behind on, snapshots written only at the
end) whose node appends a line to ``EXECUTIONS`` every time it runs; the node of step
``BLOCK_AT`` never returns (only a cancelled drive or a kill ends it), so the test kills the
process with deferred steps committed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel

from azure_functions_durable_graph import END, ManifestBuilder, RouteDecision, reducers
from azure_functions_durable_graph.graph.registration import GraphRegistration
from azure_functions_durable_graph.local.engine import LocalEngine


class LoopState(BaseModel):
    """Each step appends its number (and ``pad``, to grow the state)."""

    log: Annotated[list[int], reducers.append] = []
    pad: Annotated[list[str], reducers.append] = []


def loop_graph(steps: int, *, executions: Path | None = None, block_at: int | None = None,
               pad_bytes: int = 0) -> GraphRegistration:
    """``tick`` routed to itself until ``steps`` ticks ran, then the run completes."""
    async def tick(state: LoopState) -> dict[str, Any]:
        number = len(state.log)
        if executions is not None:
            with executions.open("a") as out:
                out.write(f"{number}\n")
        if number == block_at:
            await asyncio.Event().wait()  # until the drive is cancelled or the process killed
        update: dict[str, Any] = {"log": number}
        if pad_bytes:
            update["pad"] = "x" * pad_bytes
        return update

    def again(state: LoopState) -> RouteDecision:
        return RouteDecision.next("tick") if len(state.log) < steps else RouteDecision.complete()

    builder = ManifestBuilder(graph_name="loop", state_model=LoopState)
    builder.set_entrypoint("tick")
    builder.add_node("tick", tick, route=again, route_targets=["tick", END])
    return builder.build()


async def main(db: str, executions: str, steps: int, block_at: int) -> None:
    """Drive the run until the node of ``block_at`` blocks (then wait to be killed)."""
    engine = LocalEngine(db, write_behind_steps=10_000, write_behind_bytes=1 << 30)
    await engine.open()
    engine.register(loop_graph(steps, executions=Path(executions), block_at=block_at))
    await engine.start("loop", {}, instance_id="loop")
    print("started", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
