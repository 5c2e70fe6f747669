"""A Durable Functions emulator for tests: runs a Python v2 ``DFApp`` through the real SDKs.

``DurableEmulator`` plays the Functions host with the Durable extension (history, replay,
activities, timers on an injectable clock, external events, sub-orchestrations,
continue-as-new, the host's non-determinism check); ``EmulatorServer`` serves its durable
RPC/webhook API and the app's HTTP triggers on loopback so ``DurableOrchestrationClient``
works unchanged.
"""

from __future__ import annotations

from .errors import (
    EmulatorError,
    EmulatorTimeoutError,
    FunctionNotFoundError,
    InstanceNotFoundError,
    InstanceStateError,
    NonDeterminismError,
    UnsupportedActionError,
)
from .host import DurableEmulator
from .instances import InstanceState
from .replay import replay_history
from .server import EmulatorServer
from .stats import EmulatorStats

__all__ = [
    "DurableEmulator",
    "EmulatorError",
    "EmulatorServer",
    "EmulatorStats",
    "EmulatorTimeoutError",
    "FunctionNotFoundError",
    "InstanceNotFoundError",
    "InstanceState",
    "InstanceStateError",
    "NonDeterminismError",
    "UnsupportedActionError",
    "replay_history",
]
