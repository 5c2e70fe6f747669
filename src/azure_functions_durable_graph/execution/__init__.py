"""Running user code: handlers, routers, event handlers, custom reducers; the driving loop."""

from .clock import Clock, ManualClock, SystemClock
from .context import NodeContext
from .driver import ActiveRun, NullHooks, RunDriver, RunHooks, new_state
from .executor import NodeTimeoutError, execute_task
from .runner import RunResult, StepRecord, ainvoke, invoke

__all__ = [
    "ActiveRun",
    "Clock",
    "ManualClock",
    "NodeContext",
    "NodeTimeoutError",
    "NullHooks",
    "RunDriver",
    "RunHooks",
    "RunResult",
    "StepRecord",
    "SystemClock",
    "ainvoke",
    "execute_task",
    "invoke",
    "new_state",
]
