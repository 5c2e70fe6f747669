"""The Azure target on the Durable emulator: orchestrator cost per step on a long router loop.

``python -m bench.emulator_bench [--steps 1000]`` runs one run of a router loop (one node that
routes back to itself ``steps`` times) through the generated Functions app on the Durable
emulator, in process, and times every orchestrator episode (each replays the generation's
history through the real SDK). It prints, side by side, the run with the default
continue-as-new policy and the same run with compaction switched off (the peer: a plain Durable
orchestration whose history keeps growing):

- orchestrator time per step near step 10 and near the last step (median over an 11-step
  window), and their ratio (target: at most 2x with compaction);
- activities per node run (target: exactly 1: node and router run in one activity).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from typing import Any

from pydantic import BaseModel

from azure_functions_durable_graph import (
    DurableGraphApp,
    GraphRegistration,
    ManifestBuilder,
    RouteDecision,
)
from azure_functions_durable_graph.azure.protocol import ACTIVITY, ORCHESTRATOR

WINDOW = 5  # steps either side of the measured step


class LoopState(BaseModel):
    """A counter: the state stays small, so history length is what grows."""

    count: int = 0
    limit: int = 1000


def loop_graph(steps: int) -> GraphRegistration:
    """One node that routes back to itself until ``count`` reaches ``limit``."""

    def increment(state: LoopState) -> dict[str, Any]:
        return {"count": state.count + 1}

    def again_or_done(state: LoopState) -> RouteDecision:
        return RouteDecision.next("increment") if state.count < state.limit else RouteDecision.complete()

    builder = ManifestBuilder(graph_name="router_loop", state_model=LoopState, max_steps=steps + 10)
    builder.set_entrypoint("increment")
    builder.add_node("increment", increment, route=again_or_done, route_targets=["increment"])
    return builder.build()


async def run_loop(steps: int, *, compaction: bool) -> dict[str, Any]:
    """One run of the loop on the emulator; episode timings and activity counts."""
    from azure_functions_durable_graph.azure.emulator import DurableEmulator

    # Compaction "off" means limits this run never reaches; "on" is DurableGraphApp's default.
    runtime = DurableGraphApp() if compaction else DurableGraphApp(
        continue_as_new_after_steps=10**9, max_history_events=10**9)
    runtime.register_registration(loop_graph(steps))
    emulator = DurableEmulator(runtime.function_app)
    started = time.perf_counter()
    instance_id = await emulator.start_new(ORCHESTRATOR, "bench-loop", _payload(runtime, steps))
    await emulator.run_until_idle()
    elapsed = time.perf_counter() - started
    state = emulator.get_instance(instance_id)
    assert state is not None and state.runtime_status == "Completed", state
    episodes = [seconds for _, _, seconds in emulator.stats.episode_times]
    activities = emulator.stats.activities.get(ACTIVITY, 0)
    return {"episodes": episodes, "activities": activities, "seconds": elapsed,
            "output": state.output}


def _payload(runtime: DurableGraphApp, steps: int) -> dict[str, Any]:
    """The orchestrator input the HTTP start route would build."""
    from azure_functions_durable_graph.azure.protocol import run_payload

    return run_payload(runtime.get("router_loop").manifest, {"count": 0, "limit": steps}, metadata={},
                       created_at=time.time(), policy=runtime.compaction)


def per_step_ms(episodes: list[float], step: int) -> float:
    """Median orchestrator time (ms) of the episodes around ``step`` (one episode per step)."""
    low, high = max(0, step - WINDOW), min(len(episodes), step + WINDOW + 1)
    return statistics.median(episodes[low:high]) * 1000


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.emulator_bench")
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args(argv)
    rows = []
    for label, compaction in (("continue-as-new (default policy)", True), ("no compaction (peer)", False)):
        print(f"running {args.steps} steps: {label} ...", file=sys.stderr, flush=True)
        result = asyncio.run(run_loop(args.steps, compaction=compaction))
        first, last = per_step_ms(result["episodes"], 10), per_step_ms(result["episodes"], args.steps - WINDOW)
        worst = max(result["episodes"][-100:]) * 1000
        rows.append((label, first, last, last / first, worst, result["activities"] / args.steps, result["seconds"]))
    print(f"\nRouter loop of {args.steps} steps on the Durable emulator (orchestrator episode time, median of 11 steps)\n")
    print("| orchestrator | ms/step @10 | ms/step @last | ratio | worst of last 100 | activities/node | total s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, first, last, ratio, worst, per_node, total in rows:
        print(f"| {label} | {first:.2f} | {last:.2f} | {ratio:.2f}x | {worst:.2f} | {per_node:.2f} | {total:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
