"""Calling a LangGraph node inside one of our tasks, and routing after it.

The node's runnable is called with its LangGraph input (the state as its input schema, or a
``Send``'s argument) and a config we build: LangGraph's ``RunnableCallable`` injects ``config``,
``writer`` (our ``ctx.emit``) and ``runtime`` from it, and ``interrupt()`` reads its scratchpad,
whose resume list holds the answers given so far (kept in a hidden state field).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from ..errors import DurableGraphError, InvalidUpdateError
from ..execution.context import NodeContext
from ..graph.routing import RouteDecision
from .edges import LG_START, RESUME_EVENT, branch_targets, decide
from .plan import GraphPlan, after_node
from .refusals import refuse
from .state import (
    AFTER_FIELD,
    INTERRUPT_FIELD,
    RESUME_FIELD,
    SEND_FIELD,
    node_input,
    state_values,
    to_update,
    update_items,
)


class NodeNotRetriedError(DurableGraphError):
    """A node failed with an exception its LangGraph ``RetryPolicy.retry_on`` does not retry."""

    code = "LANGGRAPH_NOT_RETRIED"


NOT_RETRIED = NodeNotRetriedError.__name__


def _key(ctx: NodeContext) -> tuple[str, str, int]:
    return (ctx.run_id, ctx.task_id, ctx.attempt)


@functools.lru_cache(maxsize=1)
def _langgraph() -> SimpleNamespace:
    """LangGraph's names the adapter calls per node run, imported once (LangGraph is optional)."""
    from langchain_core.runnables.config import var_child_runnable_config
    from langgraph._internal._constants import (
        CONFIG_KEY_CHECKPOINT_NS,
        CONFIG_KEY_RUNTIME,
        CONFIG_KEY_SCRATCHPAD,
        CONFIG_KEY_SEND,
    )
    from langgraph._internal._scratchpad import PregelScratchpad
    from langgraph.errors import GraphInterrupt
    from langgraph.runtime import Runtime
    from langgraph.types import Command, Send

    return SimpleNamespace(
        NS=CONFIG_KEY_CHECKPOINT_NS, RUNTIME=CONFIG_KEY_RUNTIME, SCRATCHPAD=CONFIG_KEY_SCRATCHPAD,
        SEND=CONFIG_KEY_SEND, Scratchpad=PregelScratchpad, Runtime=Runtime, Command=Command,
        Send=Send, GraphInterrupt=GraphInterrupt, child_config=var_child_runnable_config,
    )


def _counter() -> Callable[[], int]:
    return itertools.count().__next__


def _no_null_resume(consume: bool = False) -> None:
    return None


def _drop_writes(writes: Any) -> None:
    """Resume bookkeeping LangGraph would write: kept in our state instead."""


def build_config(plan: GraphPlan, node: str, ctx: NodeContext, answers: list[Any]) -> dict[str, Any]:
    """The RunnableConfig a node runs with: scratchpad (resume answers), runtime, metadata."""
    lg = _langgraph()

    def writer(chunk: Any) -> None:
        ctx.emit(to_jsonable_python(chunk), kind="custom")

    scratchpad = lg.Scratchpad(
        step=ctx.step, stop=plan.max_steps, call_counter=_counter(), interrupt_counter=_counter(),
        get_null_resume=_no_null_resume, resume=list(answers), subgraph_counter=_counter(),
    )
    return {
        "configurable": {
            lg.SCRATCHPAD: scratchpad,
            lg.SEND: _drop_writes,
            lg.NS: f"{node}:{ctx.task_id}",
            lg.RUNTIME: lg.Runtime(context=None, store=None, stream_writer=writer),
            "thread_id": ctx.run_id,
        },
        "metadata": {"langgraph_node": node, "langgraph_step": ctx.step, "thread_id": ctx.run_id},
        "recursion_limit": plan.max_steps,
        "run_name": node,
    }


class _NodeCall:
    """What calling one LangGraph node needs: input, config, and turning its output into ours."""

    def __init__(self, plan: GraphPlan, name: str, spec: Any) -> None:
        self.plan = plan
        self.name = name
        self.spec = spec
        policy = spec.retry_policy
        self.retry_on = getattr(policy, "retry_on", None)

    def prepare(self, state: BaseModel, ctx: NodeContext) -> tuple[Any, dict[str, Any], list[Any]]:
        values = state_values(state)
        payload = ctx.payload or {}
        answers = list((values.get(RESUME_FIELD) or {}).get(self.name) or [])
        if SEND_FIELD in payload:
            value = payload[SEND_FIELD]
        else:
            value = node_input(self.plan.state, self.spec.input_schema, values)
        return value, build_config(self.plan, self.name, ctx, answers), answers

    def caught(self, exc: Exception, ctx: NodeContext) -> dict[str, Any]:
        """An exception out of the node: an ``interrupt()`` becomes a wait, others are raised."""
        if isinstance(exc, _langgraph().GraphInterrupt):
            return self.interrupted(exc, ctx)
        if self.retry_on is not None and not _retried(self.retry_on, exc):
            raise NodeNotRetriedError(
                f"graph '{self.plan.name}', node '{self.name}': {type(exc).__name__}: {exc} "
                "(not retried: its RetryPolicy.retry_on does not match)"
            ) from exc
        raise exc

    def interrupted(self, exc: Any, ctx: NodeContext) -> dict[str, Any]:
        if ctx.payload and SEND_FIELD in ctx.payload:
            raise refuse(self.plan.name, "interrupt() in a task started by Send", node=self.name)
        values = [to_jsonable_python(i.value) for i in exc.args[0]] if exc.args else [None]
        value = values[0] if len(values) == 1 else values
        self.plan.leave(_key(ctx), RouteDecision.wait_for_event(
            RESUME_EVENT, self.name, note=f"interrupt: {value!r}"[:200]))
        return {INTERRUPT_FIELD: {self.name: value}}

    def finish(self, output: Any, ctx: NodeContext, answers: list[Any]) -> dict[str, Any]:
        lg = _langgraph()
        Command, LGSend = lg.Command, lg.Send  # noqa: N806 - LangGraph's class names
        parts = list(output) if isinstance(output, (list, tuple)) and any(
            isinstance(i, Command) for i in output) else [output]
        items: list[tuple[str, Any]] = []
        gotos: list[Any] = []
        for part in parts:
            if isinstance(part, LGSend):
                gotos.append(part)
            elif isinstance(part, Command):
                if part.graph == Command.PARENT:
                    raise refuse(self.plan.name, "Command(graph=Command.PARENT)", node=self.name)
                if part.update is not None:
                    items.extend(_command_items(part.update, self.plan.name, self.name))
                goto = part.goto
                gotos.extend([goto] if isinstance(goto, (str, LGSend)) else list(goto or ()))
            else:
                try:
                    items.extend(update_items(part))
                except TypeError as exc:
                    raise InvalidUpdateError(f"graph '{self.plan.name}', node '{self.name}': {exc}") from None
        update = to_update(self.plan.state, items)
        for goto in gotos:
            target = goto.node if isinstance(goto, LGSend) else goto
            allowed = self.plan.edges[self.name].possible
            if target not in allowed and target != "__end__":
                raise refuse(self.plan.name, f"Command goto '{target}' outside the node's destinations",
                             node=self.name, hint="declare destinations=(...) or a Command[Literal[...]] return")
        if answers:
            update[RESUME_FIELD] = {self.name: []}
            update[INTERRUPT_FIELD] = {self.name: None}
        if self.name in self.plan.interrupt_after:
            if any(isinstance(g, LGSend) for g in gotos):
                raise refuse(self.plan.name, "Command(goto=Send(...)) from an interrupt_after node", node=self.name)
            update[AFTER_FIELD] = {self.name: list(gotos)}
        else:
            self.plan.leave(_key(ctx), gotos)
        return update


def _retried(retry_on: Any, exc: Exception) -> bool:
    if isinstance(retry_on, type):
        return isinstance(exc, retry_on)
    if isinstance(retry_on, (list, tuple)):
        return isinstance(exc, tuple(retry_on))
    return bool(retry_on(exc))


def _command_items(update: Any, graph: str, node: str) -> list[tuple[str, Any]]:
    try:
        return update_items(update)
    except TypeError as exc:
        raise InvalidUpdateError(f"graph '{graph}', node '{node}': Command update: {exc}") from None


def _set_config(config: dict[str, Any]) -> Any:
    return _langgraph().child_config.set(config)


def _reset_config(token: Any) -> None:
    _langgraph().child_config.reset(token)


class SyncNode(_NodeCall):
    """Handler ``(state, ctx)`` of a LangGraph node with a sync function or any Runnable."""

    def __call__(self, state: BaseModel, ctx: NodeContext) -> dict[str, Any]:
        value, config, answers = self.prepare(state, ctx)
        token = _set_config(config)
        try:
            output = self.spec.runnable.invoke(value, config)
        except Exception as exc:
            return self.caught(exc, ctx)
        finally:
            _reset_config(token)
        return self.finish(output, ctx, answers)


class AsyncNode(_NodeCall):
    """Handler ``(state, ctx)`` of a LangGraph node with an async function."""

    async def __call__(self, state: BaseModel, ctx: NodeContext) -> dict[str, Any]:
        value, config, answers = self.prepare(state, ctx)
        token = _set_config(config)
        try:
            output = await self.spec.runnable.ainvoke(value, config)
        except Exception as exc:
            return self.caught(exc, ctx)
        finally:
            _reset_config(token)
        return self.finish(output, ctx, answers)


def node_handler(plan: GraphPlan, name: str, spec: Any) -> SyncNode | AsyncNode:
    """The handler for LangGraph node ``name``: async when its function is."""
    runnable = spec.runnable
    if getattr(runnable, "func", "x") is None and getattr(runnable, "afunc", None) is not None:
        return AsyncNode(plan, name, spec)
    return SyncNode(plan, name, spec)


class Router:
    """Router ``(view, ctx)`` after LangGraph node ``name`` (``__start__`` for the entry)."""

    def __init__(self, plan: GraphPlan, name: str, input_schema: Any) -> None:
        self.plan = plan
        self.name = name
        self.input_schema = input_schema

    async def __call__(self, view: BaseModel, ctx: NodeContext) -> RouteDecision:
        left = self.plan.take(_key(ctx))
        if isinstance(left, RouteDecision):
            return left
        if self.name in self.plan.interrupt_after:
            return RouteDecision.wait_for_event(RESUME_EVENT, after_node(self.name),
                                                note=f"interrupt_after {self.name}")
        return await route_after(self.plan, self.name, self.input_schema, view, ctx, list(left or []))


async def route_after(plan: GraphPlan, name: str, input_schema: Any, view: BaseModel, ctx: NodeContext,
                      gotos: list[Any]) -> RouteDecision:
    """The decision after node ``name``: static edges, branches on ``view``, and ``gotos``."""
    edges = plan.edges[name]
    targets: list[Any] = [*edges.static, *edges.joins, *gotos]
    if edges.branches:
        values = state_values(view)
        config = build_config(plan, name, ctx, [])
        for _, branch in edges.branches:
            schema = branch.input_schema or input_schema
            value = node_input(plan.state, schema, values)
            token = _set_config(config)
            try:
                targets.extend(await branch_targets(branch, value, config, graph=plan.name,
                                                    node=name if name != LG_START else "__start__"))
            finally:
                _reset_config(token)
    return decide(targets, graph=plan.name, node=name, order=plan.order,
                  interrupt_before=plan.interrupt_before)


class AfterNode:
    """The node that continues after an ``interrupt_after`` pause of ``name``."""

    def __init__(self, plan: GraphPlan, name: str) -> None:
        self.plan = plan
        self.name = name

    def handler(self, state: BaseModel, ctx: NodeContext) -> dict[str, Any]:
        """Hands the paused node's gotos to the router and clears them from the state."""
        gotos = list((getattr(state, AFTER_FIELD, None) or {}).get(self.name) or [])
        self.plan.leave(_key(ctx), gotos)
        return {AFTER_FIELD: {self.name: []}}

    async def router(self, view: BaseModel, ctx: NodeContext) -> RouteDecision:
        """The paused node's route, decided now (branches read the state after the pause)."""
        gotos = list(self.plan.take(_key(ctx)) or [])
        spec = self.plan.builder.nodes[self.name]
        return await route_after(self.plan, self.name, spec.input_schema, view, ctx, gotos)


class StartNode:
    """The entry node added when START fans out, branches, or reaches an interrupt_before node."""

    def __init__(self, plan: GraphPlan) -> None:
        self.router = Router(plan, LG_START, plan.builder.input_schema)

    def handler(self, state: BaseModel) -> None:
        """Writes nothing: the run's input is already the state."""
        return None


__all__ = ["AfterNode", "AsyncNode", "NOT_RETRIED", "NodeNotRetriedError", "Router", "StartNode", "SyncNode",
           "build_config", "node_handler", "route_after"]
