"""The emit log on Azure Storage (Azurite): requests and time to append and read back emits.

``python -m bench.emit_storage [--emits 10000] [--batch 100] [--size 40]`` appends ``emits``
emits of about ``size`` bytes of JSON each, in batches of ``batch`` (as an activity's flusher
sends them), to one run's append blob, then reads the run back from the start, page by page.
Storage requests are counted by the client's request hook (every HTTP request the SDK sends,
retries included), not derived from the batch count. It starts Azurite's blob service from
``node_modules`` (``make install``) unless ``--connection-string`` names a storage account.
Azurite runs on this machine, so the times show the client's cost and a loopback round trip,
not a real account's latency or throttling.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from azure_functions_durable_graph.azure.emit_log import BlobEmitLog

ROOT = Path(__file__).resolve().parent.parent


def azurite_installed() -> bool:
    """Whether Azurite's blob service is in ``node_modules`` (``make install`` puts it there)."""
    return (ROOT / "node_modules" / ".bin" / "azurite-blob").exists()


@contextlib.contextmanager
def azurite() -> Iterator[str]:
    """Azurite's blob service as the test suite starts it (``tests/azurite.py``)."""
    spec = importlib.util.spec_from_file_location("azurite_launcher", ROOT / "tests" / "azurite.py")
    assert spec is not None and spec.loader is not None
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    with launcher.running_azurite() as connection:
        yield connection


def emits(count: int, size: int) -> list[bytes]:
    """``count`` compact JSON emits of about ``size`` bytes each."""
    lines = []
    for n in range(count):
        head = json.dumps({"kind": "text", "seq": n, "data": ""}, separators=(",", ":"))
        lines.append(json.dumps({"kind": "text", "seq": n, "data": "x" * max(0, size - len(head))},
                                separators=(",", ":")).encode())
    return lines


def measure(connection: str, count: int, batch: int, size: int) -> dict[str, Any]:
    """Append the emits in batches, then read them back; requests and seconds of each phase."""
    sent: list[str] = []
    log = BlobEmitLog(connection, hub=f"bench{uuid.uuid4().hex[:8]}",
                      raw_request_hook=lambda request: sent.append(request.http_request.method))
    lines = emits(count, size)
    started = time.perf_counter()
    for start in range(0, count, batch):
        log.append("bench-run", lines[start:start + batch])
    append_seconds, append_requests = time.perf_counter() - started, len(sent)
    sent.clear()
    started = time.perf_counter()
    cursor, records = 0, 0
    while page := log.read("bench-run", cursor):
        records, cursor = records + len(page), page[-1][0]
    read_seconds, read_requests = time.perf_counter() - started, len(sent)
    log.close()
    assert records == count, f"read back {records} of {count} emits"
    return {"bytes": cursor, "append": (append_requests, append_seconds),
            "read": (read_requests, read_seconds)}


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.emit_storage")
    parser.add_argument("--emits", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--size", type=int, default=40, help="bytes of JSON per emit (about)")
    parser.add_argument("--connection-string", help="a storage account instead of a new Azurite")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        connection = args.connection_string or stack.enter_context(azurite())
        print(f"appending {args.emits} emits in batches of {args.batch} ...", file=sys.stderr, flush=True)
        result = measure(connection, args.emits, args.batch, args.size)
    batches = -(-args.emits // args.batch)
    print(f"\n{args.emits} emits of ~{args.size} B ({result['bytes']} B of JSON lines) in "
          f"{batches} batches of {args.batch}, one run's append blob on Azurite\n")
    print("| phase | storage requests | emits/request | wall s | emits/s |")
    print("|---|---:|---:|---:|---:|")
    for phase in ("append", "read"):
        requests, seconds = result[phase]
        label = "append (first batch creates container and blob)" if phase == "append" else "read back (range reads)"
        print(f"| {label} | {requests} | {args.emits / max(requests, 1):.1f} | {seconds:.3f} | "
              f"{args.emits / seconds:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
