"""The emit log of a run on Azure: the chunks nodes stream with ``ctx.emit``, as JSON lines.

Activities append emits and the HTTP stream trigger reads them back, so the log lives in the
app's own storage account (``AzureWebJobsStorage``): one append blob per run, named
``{hub lowercased}/{instance_id}.jsonl`` in the container ``durable-graph-emits``. Every emit is
one line of compact JSON followed by ``\\n``; a reader's cursor is a byte offset just after a
line, so a stream resumes exactly where it stopped (no loss, no duplicate).

An append of a batch is one ``AppendBlock`` request when the batch fits in one block (4 MiB);
larger batches are split into several blocks, each holding whole lines. An ``AppendBlock`` is
atomic, so appends from several processes to one run never interleave partial lines. An append
blob holds at most 50,000 blocks; past that an append raises :class:`EmitLogFullError`.

The API is synchronous: activities write from a flusher thread and the HTTP trigger reads
through ``asyncio.to_thread``. :class:`MemoryEmitLog` is the in-process twin used when no
storage account is configured (the Durable emulator); both pass the same conformance tests.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..graph.errors import StoreError

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient

MAX_BLOCK_BYTES = 4 * 1024 * 1024  # the largest AppendBlock every service version accepts
MAX_BLOCKS = 50_000  # blocks in one append blob
DEFAULT_READ_BYTES = 4 * 1024 * 1024
DEFAULT_CONTAINER = "durable-graph-emits"
EMITS_SETTING = "DURABLE_GRAPH_EMITS"
STORAGE_SETTING = "AzureWebJobsStorage"
# Azurite's well-known development account (public, documented by Microsoft).
DEV_ACCOUNT = "devstoreaccount1"
DEV_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEV_CONNECTION_STRING = (f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_ACCOUNT_KEY};"
                         f"BlobEndpoint=http://127.0.0.1:10000/{DEV_ACCOUNT};")
# Client settings unless the caller passes its own: fail within seconds, not the SDK's minutes.
CLIENT_DEFAULTS: dict[str, Any] = {"retry_total": 3, "connection_timeout": 10, "read_timeout": 30}


class EmitLogFullError(StoreError):
    """A run's emit log reached its block limit (50,000 appends of up to 4 MiB each)."""

    code = "EMIT_LOG_FULL"


class EmitLog(Protocol):
    """Where a run's emits are kept: appended by activities, read back by the stream."""

    def append(self, instance_id: str, lines: Sequence[bytes]) -> None:
        """Append emits, in order; each item is one emit as compact JSON, without a newline."""

    def read(self, instance_id: str, after_offset: int = 0,
             max_bytes: int = DEFAULT_READ_BYTES) -> list[tuple[int, dict[str, Any]]]:
        """The records whose line starts at or after ``after_offset``, each with its cursor."""

    def delete(self, instance_id: str) -> None:
        """Remove the run's log; nothing happens if it has none."""


def split_blocks(instance_id: str, lines: Sequence[bytes], max_block_bytes: int = MAX_BLOCK_BYTES) -> list[bytes]:
    """The lines, newline-terminated, packed in order into blocks of at most ``max_block_bytes``."""
    blocks: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        if b"\n" in line:
            raise StoreError(f"emit log of run '{instance_id}': an emit contains a newline (not compact JSON)",
                             details={"instance_id": instance_id})
        if len(line) + 1 > max_block_bytes:
            raise StoreError(f"emit log of run '{instance_id}': an emit of {len(line)} bytes does not fit "
                             f"in one block of {max_block_bytes} bytes", details={"instance_id": instance_id})
        if size + len(line) + 1 > max_block_bytes:
            blocks.append(b"".join(current))
            current, size = [], 0
        current += (line, b"\n")
        size += len(line) + 1
    if current:
        blocks.append(b"".join(current))
    return blocks


def _full(instance_id: str, held: int, needed: int, limit: int) -> EmitLogFullError:
    return EmitLogFullError(
        f"emit log of run '{instance_id}' is full: it holds {held} of {limit} blocks and this append "
        f"needs {needed} more", details={"instance_id": instance_id, "blocks": held, "limit": limit})


def read_records(instance_id: str, fetch: Callable[[int, int], bytes | None], after_offset: int,
                 max_bytes: int) -> list[tuple[int, dict[str, Any]]]:
    """Parse the complete lines starting at or after ``after_offset`` from ranges ``fetch`` gives.

    ``fetch(start, length)`` returns up to ``length`` bytes from ``start`` (fewer at the end of
    the log, ``b""`` past it) or None when the run has no log. One byte before ``after_offset``
    is read too, to tell whether the offset starts a line. When the range holds no complete line
    and the log goes on, the range is widened until it does (a line may be longer than
    ``max_bytes``).
    """
    if after_offset < 0 or max_bytes < 1:
        raise ValueError(f"after_offset must be >= 0 and max_bytes >= 1 (got {after_offset}, {max_bytes})")
    start = max(after_offset - 1, 0)
    length = max_bytes + (after_offset - start)
    while True:
        data = fetch(start, length)
        if data is None:
            return []
        records = _complete_lines(instance_id, data, start, line_start=after_offset == 0)
        if records or len(data) < length:
            return records
        length *= 2


def _complete_lines(instance_id: str, data: bytes, start: int, *, line_start: bool) -> list[tuple[int, dict[str, Any]]]:
    position = 0
    if not line_start:  # data[0] is the byte before the offset asked for
        if data[:1] == b"\n":
            position = 1
        else:
            newline = data.find(b"\n")
            if newline < 0:
                return []
            position = newline + 1
    records: list[tuple[int, dict[str, Any]]] = []
    while (end := data.find(b"\n", position)) >= 0:
        try:
            record = json.loads(data[position:end])
        except ValueError:
            record = None
        if not isinstance(record, dict):
            raise StoreError(f"emit log of run '{instance_id}' is corrupt: the line at byte "
                             f"{start + position} is not a JSON object", details={"instance_id": instance_id})
        records.append((start + end + 1, record))
        position = end + 1
    return records


class MemoryEmitLog:
    """An in-process emit log (thread-safe), with the blob log's framing, splitting and limits."""

    def __init__(self, *, max_blocks: int = MAX_BLOCKS, max_block_bytes: int = MAX_BLOCK_BYTES) -> None:
        self.max_blocks, self.max_block_bytes = max_blocks, max_block_bytes
        self._logs: dict[str, bytearray] = {}
        self._blocks: dict[str, int] = {}
        self._lock = threading.Lock()

    def append(self, instance_id: str, lines: Sequence[bytes]) -> None:
        """Append emits, in order, as JSON lines (see :class:`EmitLog`)."""
        blocks = split_blocks(instance_id, lines, self.max_block_bytes)
        if not blocks:
            return
        with self._lock:
            held = self._blocks.get(instance_id, 0)
            if held + len(blocks) > self.max_blocks:
                raise _full(instance_id, held, len(blocks), self.max_blocks)
            log = self._logs.setdefault(instance_id, bytearray())
            for block in blocks:
                log += block
            self._blocks[instance_id] = held + len(blocks)

    def read(self, instance_id: str, after_offset: int = 0,
             max_bytes: int = DEFAULT_READ_BYTES) -> list[tuple[int, dict[str, Any]]]:
        """The records at or after ``after_offset`` with their cursors (see :class:`EmitLog`)."""
        def fetch(start: int, length: int) -> bytes | None:
            with self._lock:
                log = self._logs.get(instance_id)
                return None if log is None else bytes(log[start:start + length])

        return read_records(instance_id, fetch, after_offset, max_bytes)

    def delete(self, instance_id: str) -> None:
        """Forget the run's log."""
        with self._lock:
            self._logs.pop(instance_id, None)
            self._blocks.pop(instance_id, None)

    def block_count(self, instance_id: str) -> int:
        """How many blocks the run's log holds (0 without a log)."""
        with self._lock:
            return self._blocks.get(instance_id, 0)


class BlobEmitLog:
    """The emit log in append blobs of a storage account (one blob per run).

    ``client_options`` go to ``BlobServiceClient.from_connection_string`` (for example
    ``retry_total``, ``connection_timeout``, ``raw_request_hook``); unset ones default to
    :data:`CLIENT_DEFAULTS`. ``max_blocks`` below the service's 50,000 is checked against the
    block count this process last saw for the run; the service enforces its own limit, which
    raises the same :class:`EmitLogFullError`.
    """

    def __init__(self, connection_string: str, *, hub: str, container: str = DEFAULT_CONTAINER,
                 max_blocks: int = MAX_BLOCKS, max_block_bytes: int = MAX_BLOCK_BYTES,
                 **client_options: Any) -> None:
        from azure.storage.blob import BlobServiceClient

        self.hub, self.container = hub, container
        self.max_blocks, self.max_block_bytes = max_blocks, max_block_bytes
        options = {**CLIENT_DEFAULTS, **client_options}
        try:
            self._service = BlobServiceClient.from_connection_string(
                _development_mapped(connection_string), **options)
        except ValueError as exc:
            raise StoreError(f"emit log of hub '{hub}': the storage connection string is not usable: {exc}") from exc
        self._container = self._service.get_container_client(container)
        self._container_ready = False
        self._known: set[str] = set()  # runs whose blob this process created or wrote to
        self._blocks: dict[str, int] = {}  # committed block count last seen, per run
        self._lock = threading.Lock()

    def blob_name(self, instance_id: str) -> str:
        """The run's blob inside the container."""
        return f"{self.hub.lower()}/{instance_id}.jsonl"

    def _blob(self, instance_id: str) -> BlobClient:
        return self._container.get_blob_client(self.blob_name(instance_id))

    def append(self, instance_id: str, lines: Sequence[bytes]) -> None:
        """Append emits, in order, as JSON lines: one request per block (see :class:`EmitLog`)."""
        blocks = split_blocks(instance_id, lines, self.max_block_bytes)
        if not blocks:
            return
        with self._lock:
            held = self._blocks.get(instance_id, 0)
        if held + len(blocks) > self.max_blocks:
            raise _full(instance_id, held, len(blocks), self.max_blocks)
        with self._errors(instance_id, "append to"):
            blob = self._blob(instance_id)
            if instance_id not in self._known:
                self._create(instance_id, blob)
            for block in blocks:
                self._append_block(instance_id, blob, block)

    def _append_block(self, instance_id: str, blob: BlobClient, block: bytes) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            result = blob.append_block(block, length=len(block))
        except ResourceNotFoundError:  # deleted (purged) since, or its container was
            with self._lock:
                self._container_ready = False
            self._create(instance_id, blob)
            result = blob.append_block(block, length=len(block))
        count = result.get("blob_committed_block_count")
        with self._lock:
            self._blocks[instance_id] = count if isinstance(count, int) else int(str(count or 0))

    def _create(self, instance_id: str, blob: BlobClient) -> None:
        """Create the container (once per process) and the run's append blob if absent."""
        from azure.core.exceptions import ResourceExistsError

        if not self._container_ready:
            try:
                self._container.create_container()
            except ResourceExistsError:
                pass
            self._container_ready = True
        try:
            blob.create_append_blob(if_none_match="*")
        except ResourceExistsError:
            pass
        with self._lock:
            self._known.add(instance_id)

    def read(self, instance_id: str, after_offset: int = 0,
             max_bytes: int = DEFAULT_READ_BYTES) -> list[tuple[int, dict[str, Any]]]:
        """The records at or after ``after_offset``: one range read (see :class:`EmitLog`)."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        blob = self._blob(instance_id)

        def fetch(start: int, length: int) -> bytes | None:
            try:
                return blob.download_blob(offset=start, length=length).readall()
            except ResourceNotFoundError:
                return None
            except HttpResponseError as exc:
                if exc.status_code == 416:  # the range starts at or past the end of the log
                    return b""
                raise

        with self._errors(instance_id, "read"):
            return read_records(instance_id, fetch, after_offset, max_bytes)

    def delete(self, instance_id: str) -> None:
        """Delete the run's blob; nothing happens if it has none."""
        from azure.core.exceptions import ResourceNotFoundError

        with self._errors(instance_id, "delete"):
            try:
                self._blob(instance_id).delete_blob()
            except ResourceNotFoundError:
                pass
        with self._lock:
            self._known.discard(instance_id)
            self._blocks.pop(instance_id, None)

    def close(self) -> None:
        """Close the client's connections."""
        self._service.close()

    @contextlib.contextmanager
    def _errors(self, instance_id: str, action: str) -> Iterator[None]:
        """Turn the storage SDK's exceptions into the package's one-line errors naming the run."""
        from azure.core.exceptions import AzureError, HttpResponseError

        try:
            yield
        except AzureError as exc:
            if isinstance(exc, HttpResponseError) and getattr(exc, "error_code", None) == "BlockCountExceedsLimit":
                raise _full(instance_id, MAX_BLOCKS, 1, MAX_BLOCKS) from exc
            reason = (str(exc.message or exc).strip().splitlines() or [""])[0][:300]
            status = getattr(exc, "status_code", None)
            raise StoreError(
                f"emit log of run '{instance_id}' (hub '{self.hub}'): cannot {action} blob "
                f"'{self.container}/{self.blob_name(instance_id)}': {type(exc).__name__}"
                f"{f' {status}' if status else ''}: {reason}",
                details={"instance_id": instance_id, "hub": self.hub, "status": status}) from exc


def _development_mapped(connection_string: str) -> str:
    """``UseDevelopmentStorage=true`` as the explicit Azurite connection string; others unchanged."""
    settings = _settings(connection_string)
    if settings is not None and settings.get("usedevelopmentstorage", "").lower() == "true":
        return DEV_CONNECTION_STRING
    return connection_string


def _settings(value: str) -> dict[str, str] | None:
    """``key=value;...`` as a dict with lowercased keys, or None when it is not of that form."""
    pairs = [part.split("=", 1) for part in value.strip().rstrip(";").split(";") if part.strip()]
    if not pairs or any(len(pair) != 2 for pair in pairs):
        return None
    return {key.strip().lower(): val.strip() for key, val in pairs}


def emit_log_from_settings(environ: Mapping[str, str], hub: str) -> EmitLog | None:
    """The blob emit log on ``AzureWebJobsStorage``, or None when emits are not persisted.

    None when ``DURABLE_GRAPH_EMITS=off``, when the setting is missing, or when it is not a
    connection string with an account (an identity-based connection, set as
    ``AzureWebJobsStorage__accountName``, is not read here: emits are then not persisted).
    ``UseDevelopmentStorage=true`` means Azurite at ``127.0.0.1:10000``.
    """
    if environ.get(EMITS_SETTING, "").strip().lower() == "off":
        return None
    value = environ.get(STORAGE_SETTING, "")
    settings = _settings(value)
    if settings is None:
        return None
    if settings.get("usedevelopmentstorage", "").lower() == "true":
        return BlobEmitLog(value, hub=hub)
    if "accountname" not in settings and "blobendpoint" not in settings:
        return None
    return BlobEmitLog(value, hub=hub)


__all__ = [
    "BlobEmitLog",
    "EmitLog",
    "EmitLogFullError",
    "MemoryEmitLog",
    "emit_log_from_settings",
    "split_blocks",
]
