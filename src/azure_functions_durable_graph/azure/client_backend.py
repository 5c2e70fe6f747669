"""``DurableClientBackend``: the ``RunBackend`` port over the Durable orchestration client.

The HTTP triggers of the generated app serve the same ``api/`` handlers as the local server,
through this backend. Run status comes from Durable's status (runtime status, the small custom
status the orchestrator publishes, the input that carries the manifest); step history from the
Durable history of the current generation.
"""

from __future__ import annotations

import asyncio
import heapq
import time
import uuid
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from ..core import CANCELLED, COMPLETED, FAILED, FINISHED, RUNNING, WAITING
from ..execution.backend import PENDING, RunStatus
from ..execution.cursors import decode_cursor, encode_cursor
from ..execution.event_ids import check_event_id
from ..execution.executor import to_json
from ..execution.instance_ids import is_valid_instance_id
from ..execution.registry import GraphRegistry
from ..execution.run_policy import (
    EventTarget,
    FirstSend,
    admit_event,
    new_instance_id,
    prepare_start,
    refuse_if_finished,
    refuse_unless_finished,
    repeated_start,
)
from ..graph.errors import InvalidInputError, RunConflictError, RunNotFoundError
from ..graph.manifest import shown_state
from .emit_log import EmitLog
from .history_view import decoded as _decoded
from .history_view import steps_from_history
from .management import instance_pages
from .progress import DurableProgress
from .protocol import INPUT_EVENT, CompactionPolicy, input_message, run_payload
from .sent_events import find_sent_event

WAIT_POLL_SECONDS = 0.05
WAIT_POLL_MAX_SECONDS = 1.0


def _timestamp(value: Any, default: float) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    return default


class DurableClientBackend(DurableProgress):
    """Runs of a ``DurableGraphApp``'s graphs as Durable orchestrations: a transport adapter
    over the run policy (``execution/run_policy.py``), which decides every answer."""

    def __init__(self, client: Any, graphs: GraphRegistry, *, orchestrator: str,
                 policy: CompactionPolicy | None = None, emit_log: EmitLog | None = None) -> None:
        self.client = client
        self.emit_log = emit_log
        self.graphs = graphs
        self.orchestrator = orchestrator
        self.policy = policy or CompactionPolicy()
        self._versions: dict[str, int] = {}
        self._emit_ends: dict[str, int] = {}

    # -- reading -----------------------------------------------------------------------------
    async def _durable_status(self, instance_id: str, **options: bool) -> Any:
        # Runs start only with ids of the package's rule; any other id is no run, and the client
        # would put it in a URL path unescaped ("\n", "a#b", "a%41": another URL).
        if not is_valid_instance_id(instance_id):
            raise RunNotFoundError(f"run {instance_id!r} does not exist", details={"instance_id": instance_id})
        status = await self.client.get_status(instance_id, show_input=True, **options)
        return self._checked(status, instance_id)

    def _checked(self, status: Any, instance_id: str) -> Any:
        """``status`` if it is a top-level run of this app, else RunNotFoundError."""
        # The SDK answers an unknown instance with a falsy status object, not None.
        payload = _decoded(getattr(status, "input_", None)) if status else None
        if not status or getattr(status, "name", None) != self.orchestrator or not isinstance(payload, dict) \
                or payload.get("parent_task") is not None:
            raise RunNotFoundError(f"run '{instance_id}' does not exist", details={"instance_id": instance_id})
        return status

    def _run_status(self, status: Any) -> RunStatus:
        payload = _decoded(status.input_)
        manifest = payload.get("manifest") or {}
        custom = _decoded(status.custom_status) or {}
        runtime = getattr(status.runtime_status, "value", status.runtime_status) or "Pending"
        output = _decoded(status.output)
        created = float(payload.get("created_at") or _timestamp(status.created_time, time.time()))
        updated = _timestamp(status.last_updated_time, created)
        cancel = custom.get("cancel")
        error = None
        final_output = None
        if runtime == "Completed" and isinstance(output, dict):
            graph_status = str(output.get("status", COMPLETED))
            if graph_status == COMPLETED:
                final_output = {k: v for k, v in output.items() if k not in ("status", "parent_task")}
        elif runtime == "Failed":
            graph_status = FAILED
            error = custom.get("error") or {"type": "OrchestrationFailed", "message": str(output)}
        elif runtime == "Terminated":
            graph_status = CANCELLED
            cancel = {"reason": output if isinstance(output, str) else None, "terminated": True}
        elif runtime == "Pending" or not custom:
            graph_status = PENDING
        else:  # Running, Suspended, ContinuedAsNew: what the orchestrator last published
            graph_status = str(custom.get("status", RUNNING))
        return RunStatus(
            instance_id=status.instance_id,
            graph_name=str(manifest.get("graph_name", "")),
            graph_version=str(manifest.get("version", "")),
            graph_hash=str(manifest.get("graph_hash", "")),
            status=graph_status,
            step=int(custom.get("step", 0)),
            current_nodes=list(custom.get("current_nodes", [])) if graph_status not in FINISHED else [],
            waiting_for=list(custom.get("waiting_for", [])) if graph_status == WAITING else [],
            input=shown_state(payload.get("input") or {}, manifest.get("hidden_fields")),
            output=final_output,
            error=error,
            created_at=created,
            updated_at=updated,
            metadata=payload.get("metadata") or {},
            cancel=cancel,
            durable_status=str(runtime),  # the instance's real runtimeStatus, not a guess
        )

    async def get_status(self, instance_id: str) -> RunStatus:
        """The run's status (RunNotFoundError when unknown)."""
        return self._run_status(await self._durable_status(instance_id))

    async def wait(self, instance_id: str, timeout: float | None = None) -> RunStatus:
        """Poll until the run finishes or parks on a wait, or ``timeout`` seconds pass."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = WAIT_POLL_SECONDS
        while True:
            status = await self.get_status(instance_id)
            if status.finished or status.status == WAITING:
                return status
            if deadline is not None and time.monotonic() >= deadline:
                return status
            pause = delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
            await asyncio.sleep(pause)
            delay = min(delay * 2, WAIT_POLL_MAX_SECONDS)

    async def history(self, instance_id: str) -> list[dict[str, Any]]:
        """The executed steps of the current Durable generation, oldest first."""
        status = await self._durable_status(instance_id, show_history=True, show_history_output=True)
        events = getattr(status, "historyEvents", None) or getattr(status, "history", None) or []
        hidden = (_decoded(status.input_).get("manifest") or {}).get("hidden_fields")
        steps = steps_from_history(events)
        if hidden:  # the graph's bookkeeping fields are not shown
            for step in steps:
                step["update"] = shown_state(step.get("update"), hidden)
        return steps

    async def list_runs(self, *, graph_name: str | None = None, status: str | Sequence[str] | None = None,
                        created_after: float | None = None, created_before: float | None = None,
                        limit: int = 50, cursor: str | None = None) -> tuple[list[RunStatus], str | None]:
        """Runs of this app's orchestrator, newest first, with the local engine's filters and
        keyset cursor; every page of the host's instances query is read (sub-orchestrations of
        subgraphs, and instances no API call could address, are left out)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInputError(f"limit must be a positive integer, got {limit!r}")
        wanted = None if status is None else {status} if isinstance(status, str) else set(status)
        after = decode_cursor(cursor) if cursor is not None else None

        def key(run: RunStatus) -> tuple[float, str]:
            return run.created_at, run.instance_id

        best: list[RunStatus] = []  # the newest limit + 1 matches so far
        seen: set[str] = set()  # a provider may repeat an instance across pages
        async with aclosing(instance_pages(self.client)) as pages:
            async for page in pages:
                matches = []
                for item in page:
                    instance_id = str(getattr(item, "instance_id", "") or "")
                    if instance_id in seen:
                        continue
                    seen.add(instance_id)
                    run = self._listed_run(item, instance_id)
                    if run is None or graph_name and run.graph_name != graph_name \
                            or wanted is not None and run.status not in wanted:
                        continue
                    if created_after is not None and run.created_at < created_after \
                            or created_before is not None and run.created_at >= created_before:
                        continue
                    if after is None or key(run) < after:
                        matches.append(run)
                best = heapq.nlargest(limit + 1, [*best, *matches], key=key)
        more = len(best) > limit
        return best[:limit], (encode_cursor(*key(best[limit - 1])) if more else None)

    def _listed_run(self, item: Any, instance_id: str) -> RunStatus | None:
        """The run an instance of the query is, or None (not a top-level run of this app)."""
        if getattr(item, "name", None) != self.orchestrator or not is_valid_instance_id(instance_id):
            return None
        try:
            return self._run_status(self._checked(item, instance_id))
        except RunNotFoundError:  # a subgraph's sub-orchestration (its input names its parent task)
            return None

    # -- acting ------------------------------------------------------------------------------
    async def start(self, graph: str, input: Any, *, instance_id: str | None = None,
                    metadata: dict[str, Any] | None = None, version: str | None = None) -> RunStatus:
        """Validate the input, then start the orchestration (idempotent for the same id and input)."""
        start = prepare_start(self.graphs, graph, input, instance_id=instance_id, metadata=metadata,
                              version=version)
        registration, state = start.registration, start.state
        shown = shown_state(state, registration.manifest.hidden_fields)  # what a status shows
        # A generated id is new by construction: only a caller's id needs the idempotency check.
        existing = None if instance_id is None else await self._find(instance_id)
        if existing is not None:
            return repeated_start(existing, graph, shown)
        instance_id = instance_id or new_instance_id(time.time())
        manifest = registration.manifest
        payload = run_payload(manifest, state, metadata=to_json(metadata or {}), created_at=time.time(),
                              policy=self.policy)
        try:
            await self.client.start_new(self.orchestrator, instance_id, payload)
        except Exception:  # the host refused, e.g. a concurrent start of the same id won
            existing = await self._find(instance_id)
            if existing is None:  # taken by an instance that is not a run of this app's graphs
                raise RunConflictError(f"instance id '{instance_id}' is already in use",
                                       details={"instance_id": instance_id}) from None
            return repeated_start(existing, graph, shown)
        now = payload["created_at"]
        return RunStatus(
            instance_id=instance_id, graph_name=graph, graph_version=manifest.version,
            graph_hash=manifest.graph_hash, status=PENDING, step=0, current_nodes=[],
            waiting_for=[], input=shown, output=None, error=None, created_at=now, updated_at=now,
            metadata=payload["metadata"],
        )

    async def _find(self, instance_id: str) -> RunStatus | None:
        """The run with this id, or None."""
        try:
            return self._run_status(await self._durable_status(instance_id))
        except RunNotFoundError:
            return None

    async def _acting(self, instance_id: str, action: str, call: Any) -> None:
        """Await a Durable management call; a run that finished meanwhile (the host answers
        410 and the SDK raises) is the package's 409, a vanished one its 404."""
        try:
            await call
        except Exception:
            status = await self._find(instance_id)
            if status is None:
                raise RunNotFoundError(f"run '{instance_id}' does not exist",
                                       details={"instance_id": instance_id}) from None
            refuse_if_finished(instance_id, status.status, action)
            raise

    async def _unfinished(self, instance_id: str, action: str) -> RunStatus:
        status = await self.get_status(instance_id)
        refuse_if_finished(instance_id, status.status, action)
        return status

    async def raise_event(self, instance_id: str, event_name: str, payload: Any, *,
                          event_id: str | None = None) -> str:
        """Validate the payload against the run's graph, then deliver it on the input event.

        A caller's ``event_id`` the run already took is answered as the first send when name and
        payload match (also once the run finished), else EVENT_ID_CONFLICT; it is looked up in
        the run's history, so only then is the history read.
        """
        event_id = check_event_id(event_id, instance_id=instance_id, event_name=event_name)
        lookup = event_id is not None
        durable = await self._durable_status(instance_id, show_history=lookup, show_history_output=lookup)
        status = self._run_status(durable)
        # The run's own manifest travels with the run: its events are the declared ones.
        declared = (_decoded(durable.input_).get("manifest") or {}).get("events", [])
        target = EventTarget(instance_id, status.graph_name, status.graph_hash, status.status,
                             tuple(str(e.get("name")) for e in declared))
        sent = None if event_id is None else find_sent_event(durable, event_id)
        first = None if sent is None else FirstSend(sent.name, sent.payload, known=sent.known, as_read=True)
        admitted = admit_event(self.graphs, target, event_name, payload, event_id=event_id, first=first)
        if admitted.repeat and event_id is not None:
            return event_id  # taken once already: the orchestrator would drop it again
        event_id = event_id or uuid.uuid4().hex
        await self._acting(instance_id, f"raise event '{event_name}'", self.client.raise_event(
            instance_id, INPUT_EVENT, input_message("event", event_id, name=event_name, payload=admitted.payload)))
        return event_id

    async def cancel(self, instance_id: str, reason: str | None = None) -> RunStatus:
        """Graceful cancel: the orchestrator stops at its next superstep boundary."""
        status = await self._unfinished(instance_id, "cancel")
        await self._acting(instance_id, "cancel", self.client.raise_event(
            instance_id, INPUT_EVENT, input_message("cancel", uuid.uuid4().hex, reason=reason)))
        return _with_cancel(status, {"reason": reason})

    async def terminate(self, instance_id: str, reason: str | None = None) -> RunStatus:
        """Hard stop through Durable's terminate."""
        status = await self._unfinished(instance_id, "terminate")
        await self._acting(instance_id, "terminate", self.client.terminate(instance_id, reason or "terminated"))
        for _ in range(20):  # the host applies a terminate asynchronously
            after = await self.get_status(instance_id)
            if after.finished:
                return after
            await asyncio.sleep(WAIT_POLL_SECONDS)
        return _with_cancel(status, {"reason": reason, "terminated": True})

    async def purge(self, instance_id: str) -> None:
        """Delete a finished run's Durable history."""
        status = await self.get_status(instance_id)
        refuse_unless_finished(instance_id, status.status, "purge")
        await self.client.purge_instance_history(instance_id)
        if self.emit_log is not None:  # its emits go with it
            await asyncio.to_thread(self.emit_log.delete, instance_id)


def _with_cancel(status: RunStatus, cancel: dict[str, Any]) -> RunStatus:
    return replace(status, cancel=cancel)


__all__ = ["DurableClientBackend"]
