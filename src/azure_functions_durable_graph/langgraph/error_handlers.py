"""LangGraph node error handlers as our ``on_error`` nodes.

``add_node("a", fn, error_handler=h)`` adds LangGraph node ``__error_handler__a`` and marks
"a" with it (``StateGraph.set_node_defaults(error_handler=h)`` does the same for every regular
node without one, when the graph compiles). Here every error-handler node becomes a node of
ours and every node it guards gets ``on_error=<handler node>``: a node that failed after its
last attempt hands its error record (``ctx.error``) to the handler in the next superstep.

The handler is called like any adapted node, with a ``langgraph.errors.NodeError`` built from
that record injected into its ``error: NodeError`` parameter. The record is JSON, so the
exception is rebuilt: a builtin ``Exception`` subclass (``ValueError``, ``KeyError``...) is
rebuilt by name with the message as its one argument; any other type becomes a
:class:`FailedNodeError` carrying the original type name and message. A plain update ends
that branch; a ``Command(goto=...)`` routes to any node of the graph, or to END.
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import DurableGraphError
from ..execution.context import NodeContext
from .edges import LG_END, NodeEdges
from .nodes import NOT_RETRIED, AsyncNode, node_handler
from .plan import GraphPlan
from .refusals import UNSUPPORTED, LangGraphUnsupportedError, refuse
from .state import SEND_FIELD

_NOT_RETRIED_TAIL = " (not retried: its RetryPolicy.retry_on does not match)"


class FailedNodeError(Exception):
    """A failed node's exception whose type is not a builtin, rebuilt from its error record.

    ``type_name`` is the original exception's class name, ``message`` its message and
    ``record`` the whole error record (type, message, node, attempt, code...).
    """

    def __init__(self, type_name: str, message: str, record: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.message = message
        self.record = dict(record or {})

    def __repr__(self) -> str:
        return f"FailedNodeError({self.type_name}: {self.message!r})"


def is_error_handler(spec: Any) -> bool:
    """Whether a LangGraph node spec is an error handler (``__error_handler__<node>`` and the default one)."""
    return bool(getattr(spec, "is_error_handler", False))


def error_options(spec: Any) -> dict[str, Any]:
    """``on_error`` for a node that names an error handler, else nothing."""
    target = getattr(spec, "error_handler_node", None)
    return {"on_error": target} if target is not None and not is_error_handler(spec) else {}


def handler_edges(builder: Any) -> dict[str, NodeEdges]:
    """The edges of each error-handler node: none, and every node (and END) as a ``goto`` target."""
    every = (*builder.nodes, LG_END)
    return {name: NodeEdges(static=(), branches=(), ends=every)
            for name, spec in builder.nodes.items() if is_error_handler(spec)}


def rebuild_exception(record: Mapping[str, Any], graph: str, node: str) -> BaseException:
    """The exception an error record describes (see the module's docstring for how)."""
    type_name = str(record.get("type") or "Exception")
    message = str(record.get("message") or "")
    prefix = f"graph '{graph}', node '{node}': "
    if type_name == NOT_RETRIED and message.startswith(prefix) and message.endswith(_NOT_RETRIED_TAIL):
        # Not retried because of retry_on: LangGraph hands the node's own exception over.
        inner = message[len(prefix):-len(_NOT_RETRIED_TAIL)]
        inner_type, sep, inner_message = inner.partition(": ")
        if sep and inner_type.isidentifier():
            type_name, message = inner_type, inner_message
    kind = getattr(builtins, type_name, None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            return kind(message)
        except Exception:  # noqa: BLE001 - a builtin that needs other arguments (UnicodeDecodeError)
            pass
    return FailedNodeError(type_name, message, record)


class _WithNodeError:
    """A node's runnable, called with a ``NodeError`` in its config (LangGraph injects it from there)."""

    def __init__(self, runnable: Any, error: Any) -> None:
        self._runnable = runnable
        self._error = error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runnable, name)

    def _config(self, config: Any) -> dict[str, Any]:
        from langgraph._internal._constants import CONFIG_KEY_NODE_ERROR

        given: dict[str, Any] = dict(config or {})
        given["configurable"] = {**(given.get("configurable") or {}), CONFIG_KEY_NODE_ERROR: self._error}
        return given

    def invoke(self, value: Any, config: Any = None, **kwargs: Any) -> Any:
        return self._runnable.invoke(value, self._config(config), **kwargs)

    async def ainvoke(self, value: Any, config: Any = None, **kwargs: Any) -> Any:
        return await self._runnable.ainvoke(value, self._config(config), **kwargs)


class _HandlerCall:
    def __init__(self, plan: GraphPlan, name: str, spec: Any) -> None:
        self.plan = plan
        self.name = name
        self.spec = spec

    def node(self, ctx: NodeContext) -> Any:
        """The adapted node that runs the handler for this task's error record."""
        record = ctx.error
        if record is None:  # reached by a Command goto, not by a failure: LangGraph passes None
            return node_handler(self.plan, self.name, self.spec)
        if record.get("code") == UNSUPPORTED:  # a refusal fails the run; it is not the user's error
            raise LangGraphUnsupportedError(str(record.get("message")), details=record.get("details"))
        from langgraph.errors import NodeError

        failed = str(record.get("node") or "")
        error = NodeError(node=failed, error=rebuild_exception(record, self.plan.name, failed))
        spec = dataclasses.replace(self.spec, runnable=_WithNodeError(self.spec.runnable, error))
        return node_handler(self.plan, self.name, spec)


class SyncErrorHandler(_HandlerCall):
    """Handler ``(state, ctx)`` of a LangGraph error handler with a sync function or a Runnable."""

    def __call__(self, state: BaseModel, ctx: NodeContext) -> Any:
        return self.node(ctx)(state, ctx)


class AsyncErrorHandler(_HandlerCall):
    """Handler ``(state, ctx)`` of a LangGraph error handler with an async function."""

    async def __call__(self, state: BaseModel, ctx: NodeContext) -> Any:
        return await self.node(ctx)(state, ctx)


def error_handler(plan: GraphPlan, name: str, spec: Any) -> SyncErrorHandler | AsyncErrorHandler:
    """The handler for LangGraph error-handler node ``name``: async when its function is."""
    if isinstance(node_handler(plan, name, spec), AsyncNode):
        return AsyncErrorHandler(plan, name, spec)
    return SyncErrorHandler(plan, name, spec)


class _SendGuard:
    """Refuses the last failure of a ``Send`` task whose node has an error handler.

    LangGraph gives that handler the ``Send``'s argument; ``on_error`` starts it on the state.
    """

    def __init__(self, inner: Any, plan: GraphPlan, name: str, spec: Any) -> None:
        self.inner = inner
        self.plan = plan
        self.name = name
        policy = spec.retry_policy
        if isinstance(policy, (list, tuple)) and policy:
            policy = policy[0]
        self.attempts = int(getattr(policy, "max_attempts", 1) or 1)

    def check(self, exc: Exception, ctx: NodeContext) -> None:
        if not ctx.payload or SEND_FIELD not in ctx.payload:
            return
        last = ctx.attempt >= self.attempts or isinstance(exc, (DurableGraphError, ValidationError))
        if last:
            raise refuse(self.plan.name, "an error handler for a node started by Send", node=self.name,
                         hint=f"catch the error in the node ({type(exc).__name__}: {exc})") from exc


class _SyncSendGuard(_SendGuard):
    def __call__(self, state: BaseModel, ctx: NodeContext) -> Any:
        try:
            return self.inner(state, ctx)
        except Exception as exc:
            self.check(exc, ctx)
            raise


class _AsyncSendGuard(_SendGuard):
    async def __call__(self, state: BaseModel, ctx: NodeContext) -> Any:
        try:
            return await self.inner(state, ctx)
        except Exception as exc:
            self.check(exc, ctx)
            raise


def guarded(handler: Any, plan: GraphPlan, name: str, spec: Any) -> Any:
    """``handler`` of a node with an error handler, refusing a ``Send`` task's last failure."""
    if not error_options(spec):
        return handler
    if isinstance(handler, AsyncNode):
        return _AsyncSendGuard(handler, plan, name, spec)
    return _SyncSendGuard(handler, plan, name, spec)


__all__ = ["AsyncErrorHandler", "FailedNodeError", "SyncErrorHandler", "error_handler", "error_options",
           "guarded", "handler_edges", "is_error_handler", "rebuild_exception"]
