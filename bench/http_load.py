"""HTTP load on ``durable-graph serve``: ``python -m bench.http_load [--seconds 10] [--clients 50]``.

Starts ``durable-graph serve`` on a free loopback port with a 3-node chain graph (a module
written to a temporary folder, with its SQLite database beside it), then with N concurrent
``httpx.AsyncClient`` clients:

- throughput: for ``--seconds``, every client starts runs with ``?wait=10`` one after the other;
  reported as completed 3-node runs per second and the latency of start-and-wait;
- status reads: for ``--seconds``, every client reads ``GET /api/runs/{id}`` of a completed
  run; reported as requests per second and p50/p99 latency.

Each client is an ``httpx.AsyncClient`` with one keep-alive connection (one shared pool of N
connections costs the client far more). Client and server share the machine, so the figures
include the client's own cost; the table shows the CPU each side used, as a share of one core.
Everything is bounded in time; the server is stopped (SIGINT, then killed if needed) at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from . import wrk_load

HOST = "127.0.0.1"
GRAPH = "bench_http_chain"
STARTUP_SECONDS = 30.0
STOP_SECONDS = 15.0
RUN_WAIT_SECONDS = 10

GRAPH_MODULE = f'''"""Three nodes in a row, each incrementing a counter (written by bench.http_load)."""

from pydantic import BaseModel

from azure_functions_durable_graph import DurableGraphApp, ManifestBuilder


class CounterState(BaseModel):
    count: int = 0


def step(state: CounterState) -> dict:
    return {{"count": state.count + 1}}


builder = ManifestBuilder(graph_name="{GRAPH}", state_model=CounterState)
builder.set_entrypoint("first")
builder.add_node("first", step, next_node="second")
builder.add_node("second", step, next_node="third")
builder.add_node("third", step, terminal=True)

runtime = DurableGraphApp()
runtime.register_registration(builder.build())
app = runtime.function_app
'''


@dataclass
class Phase:
    """What one load phase measured."""

    name: str
    elapsed: float = 0.0
    ok: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    server_cpu: float = float("nan")  # CPU seconds the server process used during the phase
    client_cpu: float = 0.0  # CPU seconds this (client) process used during the phase

    @property
    def per_second(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies) * 1000 if self.latencies else float("nan")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (NaN where /proc is not available)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_server(folder: Path, port: int, module: str = GRAPH_MODULE) -> subprocess.Popen[bytes]:
    """``durable-graph serve`` of ``module`` (written to ``folder``) on loopback ``port``."""
    target = folder / "bench_graph.py"
    target.write_text(module, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_GRAPH_")}
    log = open(folder / "serve.log", "wb")  # noqa: SIM115 - handed to the child process
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "azure_functions_durable_graph.cli", "serve", str(target),
             "--host", HOST, "--port", str(port), "--db", str(folder / "bench.db")],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    finally:
        log.close()


def wait_ready(process: subprocess.Popen[bytes], base: str, folder: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{read_log(folder)}")
        try:
            if httpx.get(f"{base}/api/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not answer within {STARTUP_SECONDS} s:\n{read_log(folder)}")


def stop_server(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_SECONDS)
    return int(process.returncode)


def read_log(folder: Path) -> str:
    path = folder / "serve.log"
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


async def run_phase(name: str, clients: list[httpx.AsyncClient], seconds: float, server_pid: int,
                    request: Callable[[httpx.AsyncClient], Awaitable[bool]]) -> Phase:
    """Each client calls ``request`` back to back until ``seconds`` have passed."""
    phase = Phase(name)
    server_cpu, client_cpu = process_cpu_seconds(server_pid), time.process_time()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        while loop.time() < deadline:
            began = time.perf_counter()
            try:
                ok = await request(client)
            except httpx.HTTPError:
                ok = False
            if ok:
                phase.ok += 1
                phase.latencies.append(time.perf_counter() - began)
            else:
                phase.errors += 1

    began = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker(c) for c in clients)),
                           timeout=seconds + RUN_WAIT_SECONDS + 30)
    phase.elapsed = time.perf_counter() - began
    phase.server_cpu = process_cpu_seconds(server_pid) - server_cpu
    phase.client_cpu = time.process_time() - client_cpu
    return phase


async def start_and_wait(client: httpx.AsyncClient) -> bool:
    """One 3-node run, started with ``?wait``: True when it answered 200 completed."""
    response = await client.post(f"/api/graphs/{GRAPH}/runs", params={"wait": RUN_WAIT_SECONDS}, json={})
    if response.status_code != 200:
        return False
    run = response.json()
    return bool(run["status"] == "completed" and run["output"]["state"]["count"] == 3)


async def load(base: str, count: int, seconds: float, server_pid: int) -> tuple[Phase, Phase]:
    """Both phases with ``count`` clients, each an AsyncClient with one keep-alive connection."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    timeout = httpx.Timeout(RUN_WAIT_SECONDS + 10.0)
    clients = [httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) for _ in range(count)]
    try:
        # warm up: every connection, the compiled manifest, SQLite statements
        warm = await asyncio.gather(*(start_and_wait(c) for c in clients))
        assert all(warm), "a warm-up run did not complete"
        runs = await run_phase("runs (start ?wait=10)", clients, seconds, server_pid, start_and_wait)

        response = await clients[0].post(f"/api/graphs/{GRAPH}/runs", params={"wait": RUN_WAIT_SECONDS},
                                         json={})
        instance_id = response.json()["instance_id"]

        async def read_status(client: httpx.AsyncClient) -> bool:
            return (await client.get(f"/api/runs/{instance_id}")).status_code == 200

        status = await run_phase("GET /api/runs/{id}", clients, seconds, server_pid, read_status)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    return runs, status


def print_table(runs: Phase, status: Phase, clients: int) -> None:
    rows = [
        ("phase", "ok", "errors", "per second", "p50 ms", "p99 ms", "mean ms", "server CPU", "client CPU"),
        *[(p.name, str(p.ok), str(p.errors), f"{p.per_second:.0f}", f"{p.percentile_ms(0.50):.1f}",
           f"{p.percentile_ms(0.99):.1f}", f"{p.mean_ms:.1f}", f"{p.server_cpu / p.elapsed:.0%}",
           f"{p.client_cpu / p.elapsed:.0%}") for p in (runs, status)],
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(f"durable-graph serve, {clients} concurrent clients, 3-node runs on SQLite (loopback)")
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))))
        if index == 0:
            print("  ".join("-" * w for w in widths))
    print(f"completed 3-node runs per second: {runs.per_second:.0f}")
    print(f"status read p99: {status.percentile_ms(0.99):.1f} ms")
    print(f"(CPU: share of one core over the phase; this machine has {os.cpu_count()} cores)")


def wrk_phases(base: str, clients: int, seconds: float, server_pid: int) -> list[tuple[wrk_load.WrkResult, float]]:
    """Both phases again with wrk; each result with the server's CPU share of one core."""
    response = httpx.post(f"{base}/api/graphs/{GRAPH}/runs", params={"wait": RUN_WAIT_SECONDS}, json={},
                          timeout=RUN_WAIT_SECONDS + 10)
    status_url = f"{base}/api/runs/{response.json()['instance_id']}"
    phases = (("runs (start ?wait=10)", f"{base}/api/graphs/{GRAPH}/runs?wait={RUN_WAIT_SECONDS}", True),
              ("GET /api/runs/{id}", status_url, False))
    measured = []
    for name, url, post in phases:
        before, began = process_cpu_seconds(server_pid), time.perf_counter()
        result = wrk_load.run_wrk(name, url, clients=clients, seconds=seconds, post_json=post)
        cpu = (process_cpu_seconds(server_pid) - before) / (time.perf_counter() - began)
        measured.append((result, cpu))
        time.sleep(1.0)  # runs still in flight when wrk stopped finish before the next phase
    return measured


def print_wrk(measured: list[tuple[wrk_load.WrkResult, float]], clients: int) -> None:
    if not measured:
        print("(wrk not on PATH: install the Debian package 'wrk' for the C-client table)")
        return
    print(f"\nthe same phases with wrk ({clients} connections, 2 threads; wrk itself uses little CPU)")
    print(f"{'phase':<22}  {'requests':>8}  {'errors':>6}  {'per second':>10}  {'p50 ms':>6}  {'p99 ms':>6}  {'server CPU':>10}")
    for result, cpu in measured:
        print(f"{result.name:<22}  {result.requests:>8}  {result.errors:>6}  {result.per_second:>10.0f}  "
              f"{result.p50_ms:>6.1f}  {result.p99_ms:>6.1f}  {cpu:>10.0%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_load", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase (default 10)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.clients <= 0:
        parser.error("--seconds and --clients must be positive")
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        folder = Path(tmp)
        port = free_port()
        base = f"http://{HOST}:{port}"
        process = start_server(folder, port)
        try:
            wait_ready(process, base, folder)
            runs, status = asyncio.run(load(base, args.clients, args.seconds, process.pid))
            measured = wrk_phases(base, args.clients, args.seconds, process.pid) if wrk_load.available() else []
        finally:
            code = stop_server(process)
        print_table(runs, status, args.clients)
        print_wrk(measured, args.clients)
        if code != 0:
            print(f"server exited with {code}:\n{read_log(folder)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
