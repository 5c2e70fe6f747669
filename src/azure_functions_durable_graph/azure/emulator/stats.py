"""Counters the emulator keeps for tests and benchmarks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class EmulatorStats:
    """How much work the emulated host did.

    ``episodes`` counts orchestrator invocations per instance id, ``activities`` counts
    activity invocations per activity name, and ``episode_times`` lists one
    ``(instance_id, history_length, seconds)`` entry per orchestrator invocation.
    """

    episodes: Counter[str] = field(default_factory=Counter)
    activities: Counter[str] = field(default_factory=Counter)
    episode_times: list[tuple[str, int, float]] = field(default_factory=list)

    def record_episode(self, instance_id: str, history_length: int, seconds: float) -> None:
        """Count one orchestrator invocation."""
        self.episodes[instance_id] += 1
        self.episode_times.append((instance_id, history_length, seconds))

    def record_activity(self, name: str) -> None:
        """Count one activity invocation."""
        self.activities[name] += 1

    @property
    def total_episodes(self) -> int:
        """Orchestrator invocations across all instances."""
        return sum(self.episodes.values())

    @property
    def total_orchestrator_seconds(self) -> float:
        """Time spent inside orchestrator code across all episodes."""
        return sum(seconds for _, _, seconds in self.episode_times)

    def reset(self) -> None:
        """Start counting from zero."""
        self.episodes.clear()
        self.activities.clear()
        self.episode_times.clear()


__all__ = ["EmulatorStats"]
