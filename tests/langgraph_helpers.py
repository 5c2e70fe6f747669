"""Running a LangGraph graph on LangGraph itself, to compare with the adapter's runs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from azure_functions_durable_graph.langgraph import is_internal_node
from azure_functions_durable_graph.langgraph.state import INTERRUPT_FIELD

Groups = list[tuple[str, ...]]


def groups_of(pairs: Iterable[tuple[int, str]]) -> Groups:
    """Node names grouped by superstep (in step order), sorted within a step."""
    by_step: dict[int, list[str]] = {}
    for step, node in pairs:
        if not is_internal_node(node) and node != "__reduce__":
            by_step.setdefault(step, []).append(node)
    return [tuple(sorted(by_step[s])) for s in sorted(by_step)]


def on_langgraph(graph: Any, inputs: Sequence[Any], config: dict[str, Any] | None = None) -> tuple[dict[str, Any], Groups]:
    """Run ``graph`` with each of ``inputs`` in turn (a resume after the first); final values and steps."""

    pairs: list[tuple[int, str]] = []
    values: dict[str, Any] = {}
    offset = 0

    def see(mode: str, event: Any) -> int:
        nonlocal values
        if mode == "values":
            values = dict(event)
            return 0
        if event["type"] == "task_result" and not event["payload"].get("interrupts"):
            pairs.append((offset + event["step"], event["payload"]["name"]))
        return int(event["step"])

    async def run_async(value: Any) -> int:
        last = 0
        async for mode, event in graph.astream(value, config, stream_mode=["debug", "values"]):
            last = max(last, see(mode, event))
        return last

    # Sync graphs run with stream: before Python 3.11, interrupt() cannot run under astream.
    is_async = any(getattr(spec.runnable, "func", True) is None for spec in graph.builder.nodes.values())
    for value in inputs:
        if is_async:
            last = asyncio.run(run_async(value))
        else:
            last = max([see(mode, event) for mode, event in graph.stream(value, config, stream_mode=["debug", "values"])] or [0])
        offset += last + 1
    return values, groups_of(pairs)


def our_groups(steps: Iterable[Any]) -> Groups:
    """The adapter run's completed steps, grouped like :func:`groups_of` (a run of a node that
    stopped at ``interrupt()`` is not a completed step, as on LangGraph)."""
    return groups_of((s.step, s.node) for s in steps if s.error is None and not interrupted(s.update))


def interrupted(update: dict[str, Any] | None) -> bool:
    """Whether a step's update is the adapter's record of a pending ``interrupt()``."""
    pending = (update or {}).get(INTERRUPT_FIELD) or {}
    return any(value is not None for value in pending.values())


def plain(values: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """``values`` restricted to ``keys``, messages reduced to (type, content) so ids do not matter."""
    result: dict[str, Any] = {}
    for key in keys:
        if key not in values:
            continue
        value = values[key]
        if isinstance(value, list) and value and (hasattr(value[0], "content") or
                                                  (isinstance(value[0], dict) and "content" in value[0])):
            value = [(_get(m, "type"), _get(m, "content")) for m in value]
        elif hasattr(value, "model_dump"):
            value = value.model_dump(mode="json")
        elif hasattr(value, "__dataclass_fields__"):
            value = dict(vars(value))
        result[key] = value
    return result


def _get(message: Any, key: str) -> Any:
    return message.get(key) if isinstance(message, dict) else getattr(message, key)
