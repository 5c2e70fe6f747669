"""The emit log conformance suite, on the in-memory log and on the blob log against Azurite.

Each test gets a fresh log: a new ``MemoryEmitLog``, or a ``BlobEmitLog`` on the session's
Azurite under a hub of its own. What the storage holds (blocks, blob names, requests sent) is
read with the storage SDK or counted by the client's request hook, not taken from the log.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from azure_functions_durable_graph.azure.emit_log import (
    DEFAULT_CONTAINER,
    MAX_BLOCK_BYTES,
    BlobEmitLog,
    EmitLog,
    EmitLogFullError,
    MemoryEmitLog,
    emit_log_from_settings,
)
from azure_functions_durable_graph.graph.errors import StoreError
from azurite import connection_string, free_port

ROOT = Path(__file__).resolve().parent.parent


def line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def batch(start: int, count: int, pad: int = 0) -> list[bytes]:
    return [line({"n": n, "pad": "x" * pad}) for n in range(start, start + count)]


@dataclass
class Kind:
    """How to make a log of one kind and look at what its storage holds."""

    name: str
    new: Callable[..., EmitLog]
    blocks: Callable[[EmitLog, str], int]


@pytest.fixture(params=["memory", "azurite-blob"])
def kind(request: pytest.FixtureRequest) -> Kind:
    if request.param == "memory":
        return Kind("memory", lambda hub="h", **options: MemoryEmitLog(**options),
                    lambda log, run: log.block_count(run))  # type: ignore[attr-defined]
    connection = request.getfixturevalue("azurite_connection_string")
    prefix = f"t{uuid.uuid4().hex[:12]}"
    service = BlobServiceClient.from_connection_string(connection)

    def new(hub: str = "h", **options: Any) -> EmitLog:
        return BlobEmitLog(connection, hub=f"{prefix}-{hub}", **options)

    def blocks(log: EmitLog, run: str) -> int:
        assert isinstance(log, BlobEmitLog)
        blob = service.get_blob_client(DEFAULT_CONTAINER, f"{log.hub.lower()}/{run}.jsonl")
        return int(blob.get_blob_properties().append_blob_committed_block_count or 0)

    return Kind("blob", new, blocks)


def read_all(log: EmitLog, run: str, max_bytes: int = 4 * 1024 * 1024) -> list[tuple[int, dict[str, Any]]]:
    """Every record, paging from cursor to cursor."""
    records: list[tuple[int, dict[str, Any]]] = []
    cursor = 0
    while page := log.read(run, cursor, max_bytes=max_bytes):
        records += page
        cursor = page[-1][0]
    return records


def test_order_is_kept_and_cursors_are_line_ends(kind: Kind) -> None:
    log = kind.new()
    lines = batch(0, 5) + batch(5, 1) + batch(6, 7)
    log.append("run-1", lines[:5])
    log.append("run-1", lines[5:6])
    log.append("run-1", lines[6:])
    records = log.read("run-1")
    assert [record["n"] for _, record in records] == list(range(13))
    ends = [sum(len(x) + 1 for x in lines[:i + 1]) for i in range(13)]
    assert [cursor for cursor, _ in records] == ends
    assert kind.blocks(log, "run-1") == 3


def test_resume_from_every_cursor_gives_the_rest_exactly(kind: Kind) -> None:
    log = kind.new()
    log.append("run-1", batch(0, 10, pad=7))
    log.append("run-1", batch(10, 10, pad=3))
    records = log.read("run-1")
    assert len(records) == 20
    assert log.read("run-1", 0) == records
    for index, (cursor, _) in enumerate(records):
        assert log.read("run-1", cursor) == records[index + 1:]
        # An offset inside a line: the records whose line starts after it.
        assert log.read("run-1", cursor + 1) == records[index + 2:]
    assert log.read("run-1", records[-1][0] + 1000) == []


def test_only_complete_lines_and_small_pages_lose_nothing(kind: Kind) -> None:
    log = kind.new()
    log.append("run-1", batch(0, 30, pad=11))
    records = log.read("run-1")
    first_end = records[0][0]
    # A range that ends inside the second line returns the first line only.
    assert log.read("run-1", 0, max_bytes=first_end + 3) == records[:1]
    for page_size in (1, 17, first_end, 100, 1000):
        assert read_all(log, "run-1", max_bytes=page_size) == records


def test_a_batch_over_one_block_is_split_and_reads_back_whole(kind: Kind) -> None:
    log = kind.new()
    lines = batch(0, 70, pad=64 * 1024 - 20)  # about 4.4 MiB: two blocks
    assert sum(len(x) + 1 for x in lines) > MAX_BLOCK_BYTES
    log.append("run-1", lines)
    log.append("run-1", batch(70, 2))
    assert kind.blocks(log, "run-1") == 3
    records = read_all(log, "run-1")
    assert [record["n"] for _, record in records] == list(range(72))
    assert records[-1][0] == sum(len(x) + 1 for x in lines + batch(70, 2))


def test_unknown_run_and_delete(kind: Kind) -> None:
    log = kind.new()
    assert log.read("nobody") == []
    assert log.read("nobody", 500) == []
    log.delete("nobody")
    log.append("run-1", batch(0, 3))
    log.append("run-2", batch(0, 1))
    log.delete("run-1")
    assert log.read("run-1") == []
    log.delete("run-1")
    assert len(log.read("run-2")) == 1
    log.append("run-1", batch(7, 1))
    assert [record["n"] for _, record in log.read("run-1")] == [7]
    log.append("run-1", [])
    assert kind.blocks(log, "run-1") == 1


def test_two_threads_appending_to_one_run_keep_whole_lines(kind: Kind) -> None:
    log = kind.new()
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for b in range(25):
                log.append("run-1", [line({"w": name, "n": b * 8 + i, "pad": name * 300}) for i in range(8)])
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    records = [record for _, record in read_all(log, "run-1", max_bytes=5000)]
    for name in ("a", "b"):
        assert [r["n"] for r in records if r["w"] == name] == list(range(200))
    assert len(records) == 400 and kind.blocks(log, "run-1") == 50


def test_hubs_and_runs_are_isolated(kind: Kind) -> None:
    one, other = kind.new("one"), kind.new("other")
    one.append("run-1", batch(0, 2))
    one.append("run-2", batch(10, 1))
    other.append("run-1", batch(20, 3))
    assert [r["n"] for _, r in one.read("run-1")] == [0, 1]
    assert [r["n"] for _, r in one.read("run-2")] == [10]
    assert [r["n"] for _, r in other.read("run-1")] == [20, 21, 22]
    other.delete("run-1")
    assert len(one.read("run-1")) == 2


def test_the_block_limit_raises_a_clear_error_naming_the_run(kind: Kind) -> None:
    log = kind.new(max_blocks=3)
    log.append("run-1", batch(0, 1))
    log.append("run-1", batch(1, 1))
    with pytest.raises(EmitLogFullError) as raised:
        log.append("run-1", batch(2, 70, pad=64 * 1024 - 20))  # needs two blocks, one is left
    assert raised.value.code == "EMIT_LOG_FULL" and "run-1" in str(raised.value)
    assert isinstance(raised.value, StoreError)
    log.append("run-1", batch(2, 1))
    with pytest.raises(EmitLogFullError, match="run 'run-1' is full: it holds 3 of 3 blocks"):
        log.append("run-1", batch(3, 1))
    assert [r["n"] for _, r in log.read("run-1")] == [0, 1, 2]
    log.append("run-2", batch(0, 1))  # the limit is per run


def test_malformed_emits_are_refused_before_anything_is_written(kind: Kind) -> None:
    log = kind.new()
    with pytest.raises(StoreError, match="run 'run-1': an emit contains a newline"):
        log.append("run-1", [line({"n": 0}), b'{"n":\n1}'])
    with pytest.raises(StoreError, match="does not fit in one block"):
        log.append("run-1", [b'"' + b"x" * MAX_BLOCK_BYTES + b'"'])
    assert log.read("run-1") == []


# The blob log alone: requests, the blob layout, other writers, and storage errors.

@pytest.fixture
def requests_sent(azurite_connection_string: str) -> tuple[list[str], Callable[..., BlobEmitLog]]:
    sent: list[str] = []
    hub = f"t{uuid.uuid4().hex[:12]}"

    def new(**options: Any) -> BlobEmitLog:
        def hook(request: Any) -> None:
            sent.append(f"{request.http_request.method} {request.http_request.url}")

        return BlobEmitLog(azurite_connection_string, hub=hub, raw_request_hook=hook, **options)

    return sent, new


def test_blob_requests_per_call(requests_sent: tuple[list[str], Callable[..., BlobEmitLog]]) -> None:
    sent, new = requests_sent
    log = new()
    log.append("run-1", batch(0, 100))
    assert len(sent) == 3  # the container, the run's blob, one AppendBlock
    assert "comp=appendblock" in sent[2]
    sent.clear()
    log.append("run-1", batch(100, 100))
    assert len(sent) == 1 and "comp=appendblock" in sent[0]
    sent.clear()
    log.append("run-1", batch(200, 70, pad=64 * 1024 - 20))
    assert len(sent) == 2
    sent.clear()
    assert len(log.read("run-1", max_bytes=64 * 1024)) == 200
    assert len(sent) == 1
    sent.clear()
    other_process = new()
    other_process.append("run-1", batch(270, 1))
    other_process.append("run-1", batch(271, 1))
    assert len(sent) == 4  # its first append also makes sure the container and blob exist
    assert [r["n"] for _, r in read_all(log, "run-1")] == list(range(272))


def test_blob_layout_and_a_writer_whose_blob_was_deleted(azurite_connection_string: str) -> None:
    hub = f"Hub{uuid.uuid4().hex[:8]}"
    writer = BlobEmitLog(azurite_connection_string, hub=hub)
    purger = BlobEmitLog(azurite_connection_string, hub=hub)
    writer.append("run-1", batch(0, 2))
    service = BlobServiceClient.from_connection_string(azurite_connection_string)
    container = service.get_container_client(DEFAULT_CONTAINER)
    assert [b.name for b in container.list_blobs(name_starts_with=hub.lower())] == [f"{hub.lower()}/run-1.jsonl"]
    assert container.get_blob_client(f"{hub.lower()}/run-1.jsonl").get_blob_properties().blob_type == "AppendBlob"
    purger.delete("run-1")
    writer.append("run-1", batch(5, 1))  # BlobNotFound: created again, appended once
    assert [r["n"] for _, r in purger.read("run-1")] == [5]


def test_a_partial_or_corrupt_line_in_the_blob(azurite_connection_string: str) -> None:
    log = BlobEmitLog(azurite_connection_string, hub=f"t{uuid.uuid4().hex[:12]}")
    log.append("run-1", batch(0, 2))
    blob = BlobServiceClient.from_connection_string(azurite_connection_string).get_blob_client(
        DEFAULT_CONTAINER, log.blob_name("run-1"))
    blob.append_block(b'{"n":2')  # a line whose end is not written
    assert [r["n"] for _, r in log.read("run-1")] == [0, 1]
    blob.append_block(b'}\nnot json\n')
    with pytest.raises(StoreError, match="emit log of run 'run-1' is corrupt: the line at byte"):
        log.read("run-1")


@pytest.mark.parametrize("call", ["append", "read", "delete"])
def test_storage_errors_become_store_errors_naming_the_run(call: str) -> None:
    log = BlobEmitLog(connection_string(free_port()), hub="hub", retry_total=0, connection_timeout=2)
    started = time.monotonic()
    with pytest.raises(StoreError) as raised:
        {"append": lambda: log.append("run-9", batch(0, 1)), "read": lambda: log.read("run-9"),
         "delete": lambda: log.delete("run-9")}[call]()
    assert time.monotonic() - started < 10
    error = raised.value
    assert type(error) is StoreError and error.code == "STORE_ERROR"
    assert f"emit log of run 'run-9' (hub 'hub'): cannot {call}" in error.message
    assert "\n" not in error.message and "ServiceRequestError" in error.message


def test_emit_log_from_settings(azurite_connection_string: str) -> None:
    assert emit_log_from_settings({}, "hub") is None
    assert emit_log_from_settings({"AzureWebJobsStorage__accountName": "acct"}, "hub") is None
    assert emit_log_from_settings({"AzureWebJobsStorage": "not a connection string"}, "hub") is None
    assert emit_log_from_settings({"AzureWebJobsStorage": azurite_connection_string,
                                   "DURABLE_GRAPH_EMITS": "off"}, "hub") is None
    development = emit_log_from_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true"}, "Hub")
    assert isinstance(development, BlobEmitLog)
    assert development._service.url.startswith("http://127.0.0.1:10000/devstoreaccount1")
    hub = f"t{uuid.uuid4().hex[:12]}"
    log = emit_log_from_settings({"AzureWebJobsStorage": azurite_connection_string}, hub)
    assert isinstance(log, BlobEmitLog) and log.hub == hub
    log.append("run-1", batch(0, 1))
    assert BlobEmitLog(azurite_connection_string, hub=hub).read("run-1")[0][1]["n"] == 0


def test_the_storage_bench_counts_requests(azurite_connection_string: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.emit_storage", "--emits", "300", "--batch", "100",
         "--connection-string", azurite_connection_string],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    rows = [row.split("|")[1:-1] for row in done.stdout.splitlines() if row.startswith("| ")]
    assert [(cells[0].strip(), cells[1].strip()) for cells in rows[1:]] == [
        ("append (first batch creates container and blob)", "5"), ("read back (range reads)", "2")]
