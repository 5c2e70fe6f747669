"""Errors raised by the Durable Functions emulator, all in the package's error family."""

from __future__ import annotations

from ...graph.errors import DurableGraphError


class EmulatorError(DurableGraphError):
    """Root of the emulator's errors: the emulated host could not do what was asked."""

    code = "EMULATOR_ERROR"
    http_status = 500


class NonDeterminismError(EmulatorError):
    """A replay scheduled different work than the history recorded (the host's check).

    The message follows the Durable Task Framework's wording so logs read like the real host's.
    """

    code = "NON_DETERMINISM"
    http_status = 500

    def __init__(self, instance_id: str, detail: str, *, sequence: int | None = None) -> None:
        self.instance_id = instance_id
        self.sequence = sequence
        super().__init__(
            f"Non-Deterministic workflow detected: {detail}",
            details={"instanceId": instance_id, "sequence": sequence},
        )


class FunctionNotFoundError(EmulatorError):
    """The app has no orchestrator or activity function registered under that name."""

    code = "EMULATOR_FUNCTION_NOT_FOUND"
    http_status = 400


class InvalidInstanceIdError(EmulatorError):
    """The host refuses to start an orchestration under that instance id (an ArgumentException)."""

    code = "EMULATOR_INVALID_INSTANCE_ID"
    http_status = 400


class InstanceNotFoundError(EmulatorError):
    """No orchestration instance exists with that id."""

    code = "EMULATOR_INSTANCE_NOT_FOUND"
    http_status = 404


class InstanceStateError(EmulatorError):
    """The operation does not apply to the instance's current runtime status."""

    code = "EMULATOR_INSTANCE_STATE"
    http_status = 409


class UnsupportedActionError(EmulatorError):
    """The orchestrator asked for a Durable feature the emulator does not implement."""

    code = "EMULATOR_UNSUPPORTED"
    http_status = 501


class EmulatorTimeoutError(EmulatorError, TimeoutError):
    """Waiting for an instance took longer than the caller allowed."""

    code = "EMULATOR_TIMEOUT"
    http_status = 504


__all__ = [
    "EmulatorError",
    "EmulatorTimeoutError",
    "FunctionNotFoundError",
    "InstanceNotFoundError",
    "InstanceStateError",
    "InvalidInstanceIdError",
    "NonDeterminismError",
    "UnsupportedActionError",
]
