"""LangGraph's managed values ``RemainingSteps`` and ``IsLastStep``, from our run's step.

LangGraph computes them per superstep: ``RemainingSteps`` is the recursion limit minus the
step (the first node runs at step 1, so it sees ``recursion_limit - 1``) and ``IsLastStep`` is
``RemainingSteps == 1``. Our ``max_steps`` is the recursion limit, plus one when the adapter adds
its entry node (which takes step 1), so ``max_steps - ctx.step`` is LangGraph's value for every
node and branch. The wrappers below set it (in a context variable that ``node_input`` reads)
around a node handler or router of a graph that has managed keys.
"""

from __future__ import annotations

from typing import Any

from ..execution.calling import is_async
from ..execution.context import NodeContext
from .state import REMAINING, StatePlan


class _SyncManaged:
    """A sync ``(state, ctx)`` callable run with the task's remaining steps set."""

    def __init__(self, inner: Any, max_steps: int) -> None:
        self.inner = inner
        self.max_steps = max_steps

    def __call__(self, state: Any, ctx: NodeContext) -> Any:
        token = REMAINING.set(self.max_steps - ctx.step)
        try:
            return self.inner(state, ctx)
        finally:
            REMAINING.reset(token)


class _AsyncManaged(_SyncManaged):
    """An async ``(state, ctx)`` callable run with the task's remaining steps set."""

    async def __call__(self, state: Any, ctx: NodeContext) -> Any:
        token = REMAINING.set(self.max_steps - ctx.step)
        try:
            return await self.inner(state, ctx)
        finally:
            REMAINING.reset(token)


class ManagedSteps:
    """Wraps the handlers and routers of one graph when its state has managed keys."""

    def __init__(self, state: StatePlan, max_steps: int) -> None:
        self.active = bool(state.managed)
        self.max_steps = max_steps

    def __call__(self, callable_: Any) -> Any:
        """``callable_`` itself without managed keys, else run with the remaining steps set."""
        if not self.active:
            return callable_
        wrapper = _AsyncManaged if is_async(callable_) else _SyncManaged
        return wrapper(callable_, self.max_steps)


__all__ = ["ManagedSteps"]
