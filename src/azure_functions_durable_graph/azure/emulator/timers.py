"""Durable timers waiting for the emulator's clock."""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field


@dataclass(order=True, frozen=True)
class PendingTimer:
    """A created timer: due at ``due`` (epoch seconds) for one execution of one instance."""

    due: float
    order: int
    instance_id: str = field(compare=False)
    generation: int = field(compare=False)
    sequence: int = field(compare=False)
    fire_at: str = field(compare=False)

    @property
    def key(self) -> tuple[str, int, int]:
        """Identity of the timer: instance, execution generation, sequence number."""
        return (self.instance_id, self.generation, self.sequence)


class TimerQueue:
    """Timers ordered by due time; cancelled ones are skipped when they come up."""

    def __init__(self) -> None:
        self._heap: list[PendingTimer] = []
        self._cancelled: set[tuple[str, int, int]] = set()
        self._counter = itertools.count()

    def add(self, due: float, instance_id: str, generation: int, sequence: int,
            fire_at: str) -> None:
        """Arm a timer."""
        heapq.heappush(self._heap, PendingTimer(due, next(self._counter), instance_id,
                                                generation, sequence, fire_at))

    def cancel(self, instance_id: str, generation: int, sequence: int) -> None:
        """Forget a timer the orchestrator cancelled."""
        self._cancelled.add((instance_id, generation, sequence))

    def pop_due(self, now: float) -> list[PendingTimer]:
        """Every live timer due at ``now``, earliest first."""
        due: list[PendingTimer] = []
        while self._heap and self._heap[0].due <= now:
            timer = heapq.heappop(self._heap)
            if timer.key in self._cancelled:
                self._cancelled.discard(timer.key)
            else:
                due.append(timer)
        return due

    def next_due(self) -> float | None:
        """When the earliest live timer is due, if any."""
        while self._heap and self._heap[0].key in self._cancelled:
            self._cancelled.discard(heapq.heappop(self._heap).key)
        return self._heap[0].due if self._heap else None

    def due_times(self, instance_id: str) -> list[float]:
        """When the live timers of ``instance_id`` are due, earliest first."""
        return sorted(t.due for t in self._heap if t.instance_id == instance_id and t.key not in self._cancelled)

    def drop_instance(self, instance_id: str) -> None:
        """Forget every timer of an instance (terminated, purged, restarted)."""
        self._heap = [t for t in self._heap if t.instance_id != instance_id]
        heapq.heapify(self._heap)

    def __len__(self) -> int:
        return len(self._heap)


__all__ = ["PendingTimer", "TimerQueue"]
