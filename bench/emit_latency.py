"""Delivery latency of emits to an SSE reader: ``python -m bench.emit_latency [--chunks 1000]``.

Starts ``durable-graph serve`` (the local engine on SQLite) on a loopback port with one async
node that emits ``{"i", "t"}`` chunks, ``t`` being ``time.time()`` when it emitted, about every
millisecond. The reader, this process, starts a run and follows ``GET /api/runs/{id}/stream``
over a real socket; each emit's latency is the reader's ``time.time()`` when its frame arrived
minus ``t`` (both processes read the same system clock). The node first waits a moment so the
reader can attach; chunks emitted before the stream's response arrived are left out and
counted. The path measured: the emit batcher (a batch waits up to 10 ms), one SQLite
transaction per batch, the stream's wake-up and read, the SSE frame, the socket.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from . import http_load

GRAPH = "bench_ticks"
INTERVAL_SECONDS = 0.001
ATTACH_SECONDS = 0.3  # the node's pause before its first emit, for the reader to attach
READ_SECONDS = 120.0

GRAPH_MODULE = f'''"""One node emitting time-stamped chunks (written by bench.emit_latency)."""

import asyncio
import time

from pydantic import BaseModel

from azure_functions_durable_graph import DurableGraphApp, ManifestBuilder


class Ticks(BaseModel):
    chunks: int = 1000
    interval: float = {INTERVAL_SECONDS}
    attach: float = {ATTACH_SECONDS}
    sent: int = 0


async def tick(state: Ticks, ctx) -> dict:
    await asyncio.sleep(state.attach)
    for i in range(state.chunks):
        ctx.emit({{"i": i, "t": time.time()}}, kind="tick")
        await asyncio.sleep(state.interval)
    return {{"sent": state.chunks}}


builder = ManifestBuilder(graph_name="{GRAPH}", state_model=Ticks)
builder.set_entrypoint("tick")
builder.add_node("tick", tick, terminal=True)

runtime = DurableGraphApp()
runtime.register_registration(builder.build())
app = runtime.function_app
'''


@dataclass
class LatencyResult:
    """Latencies (seconds) of the chunks emitted after the reader attached."""

    chunks: int
    early: int  # emitted before the stream's response arrived: not measured
    latencies: list[float]
    seconds: float  # from the stream's response to its end

    def percentile_ms(self, q: float) -> float:
        """The ``q`` quantile (nearest rank) in milliseconds."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(0.50)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(0.99)

    def line(self) -> str:
        """One line for the report."""
        return (f"SSE delivery: {self.chunks} chunks emitted every ~{INTERVAL_SECONDS * 1e3:.0f} ms, "
                f"read on GET /api/runs/{{id}}/stream from durable-graph serve over loopback: "
                f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, max {self.percentile_ms(1.0):.1f} ms "
                f"({len(self.latencies)} measured, {self.early} before the reader attached)")


async def follow(base: str, chunks: int) -> LatencyResult:
    """Start one run and read its stream to the end, timing every emit frame."""
    async with httpx.AsyncClient(base_url=base, timeout=READ_SECONDS) as client:
        started = await client.post(f"/api/graphs/{GRAPH}/runs", json={"input": {"chunks": chunks}})
        assert started.status_code == 202, started.text
        instance_id = started.json()["instance_id"]
        latencies: list[float] = []
        early = received = 0
        event = ""
        async with client.stream("GET", f"/api/runs/{instance_id}/stream") as response:
            assert response.status_code == 200, response.status_code
            attached = time.time()
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "emit":
                    now = time.time()
                    emitted = json.loads(line[6:])["data"]["t"]
                    received += 1
                    if emitted < attached:
                        early += 1
                    else:
                        latencies.append(now - emitted)
                elif line.startswith("data: ") and event == "end":
                    assert json.loads(line[6:])["status"] == "completed", line
                    break
        seconds = time.time() - attached
    assert received == chunks, f"received {received} of {chunks} chunks"
    assert latencies, "every chunk was emitted before the reader attached"
    return LatencyResult(chunks=chunks, early=early, latencies=latencies, seconds=seconds)


def measure(chunks: int) -> LatencyResult:
    """Serve the ticking graph on a free loopback port, follow one run of ``chunks`` emits."""
    with tempfile.TemporaryDirectory(prefix="bench-emit-latency-") as tmp:
        folder = Path(tmp)
        port = http_load.free_port()
        process = http_load.start_server(folder, port, GRAPH_MODULE)
        base = f"http://{http_load.HOST}:{port}"
        try:
            http_load.wait_ready(process, base, folder)
            return asyncio.run(follow(base, chunks))
        finally:
            code = http_load.stop_server(process)
            if code != 0:
                print(f"server exited with {code}:\n{http_load.read_log(folder)}")


def main(argv: list[str] | None = None) -> int:
    """Print the latency line."""
    parser = argparse.ArgumentParser(prog="python -m bench.emit_latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=1000)
    args = parser.parse_args(argv)
    if args.chunks < 1:
        parser.error("--chunks must be at least 1")
    print(measure(args.chunks).line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
