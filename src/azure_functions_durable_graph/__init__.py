"""azure-functions-durable-graph: typed graph workflows on Azure Durable Functions and SQLite.

Importing the package pulls in neither the Azure SDK nor the local server stack. It installs the
in-process runner behind ``GraphRegistration.invoke`` (graph/ does not import execution/); any
import of a submodule runs this first, so ``invoke`` works however the package is imported.
"""

from ._version import __version__
from .execution.runner import ainvoke as _ainvoke
from .execution.runner import astream as _astream
from .execution.runner import invoke as _invoke
from .graph import (
    END,
    START,
    GraphManifest,
    GraphRegistration,
    ManifestBuilder,
    RetryPolicy,
    RouteAction,
    RouteDecision,
    Send,
    WaitSpec,
    reducers,
)
from .graph.errors import (
    DurableGraphError,
    EmitTooLargeError,
    EventNotDeclaredError,
    GraphNotFoundError,
    GraphValidationError,
    HandlerNotFoundError,
    InvalidEmitError,
    InvalidInputError,
    InvalidRouteError,
    InvalidUpdateError,
    RunConflictError,
    RunNotFoundError,
    SnapshotError,
    StoreError,
    TargetLoadError,
    ValidationProblem,
)
from .graph.registration import install_runner as _install_runner

_install_runner(_invoke, _ainvoke, _astream)


def __getattr__(name: str) -> object:
    # DurableGraphApp lives in the azure layer; load it on first use to keep imports light.
    if name == "DurableGraphApp":
        from .azure.app import DurableGraphApp

        return DurableGraphApp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "END",
    "START",
    "DurableGraphApp",
    "DurableGraphError",
    "EmitTooLargeError",
    "EventNotDeclaredError",
    "GraphManifest",
    "GraphNotFoundError",
    "GraphRegistration",
    "GraphValidationError",
    "HandlerNotFoundError",
    "InvalidEmitError",
    "InvalidInputError",
    "InvalidRouteError",
    "InvalidUpdateError",
    "ManifestBuilder",
    "RetryPolicy",
    "RouteAction",
    "RouteDecision",
    "RunConflictError",
    "RunNotFoundError",
    "Send",
    "SnapshotError",
    "StoreError",
    "TargetLoadError",
    "ValidationProblem",
    "WaitSpec",
    "__version__",
    "reducers",
]
