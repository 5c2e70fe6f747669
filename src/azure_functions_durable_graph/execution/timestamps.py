"""Timestamps as the API shows them: ISO 8601 UTC strings, as Durable Functions writes them.

Engines keep Unix seconds (floats) internally: the store, snapshots, timers and ``RunStatus``
fields. Every JSON answer (HTTP API, SSE events, the CLI's ``--json``) carries the same instant
as ``2026-12-07T06:01:28.373718Z``: always UTC, always six fractional digits, so equal widths
make text order match time order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Any

_FRACTION = re.compile(r"(?<=:\d\d)\.(\d+)")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Keys whose numeric value is an instant (Unix seconds) wherever the API shows them.
TIME_KEYS = frozenset({"created_at", "updated_at", "last_updated", "deadline", "started_at", "finished_at"})


def iso_timestamp(seconds: float) -> str:
    """``seconds`` since the Unix epoch as ISO 8601 UTC with microseconds and a ``Z``.

    Instants past year 9999 show as its last microsecond (.NET's ``DateTime.MaxValue``) and
    instants before year 1 as its first, so an answer never fails on a far deadline.
    """
    # Truncated, exactly (a float's value as a fraction), never rounded up: the instant shown is
    # then never after the stored one, so a run's created_at sent back as created_after selects
    # it and as created_before leaves it out.
    try:
        micros = math.floor(Fraction(seconds) * 1_000_000)
        moment = _EPOCH + timedelta(microseconds=micros)
    except (OverflowError, OSError, ValueError):
        moment = (datetime.max if seconds > 0 else datetime.min).replace(tzinfo=timezone.utc)
    if moment.year < 1000:  # strftime pads %Y on no platform we can rely on
        return f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def api_times(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` whose instants (the :data:`TIME_KEYS` holding numbers) are ISO
    strings; other values, and ``None`` instants, are left as they are."""
    return {key: iso_timestamp(float(value)) if key in TIME_KEYS and _is_instant(value) else value
            for key, value in record.items()}


def parse_timestamp(text: str) -> float:
    """Unix seconds from ISO 8601 (``Z`` or an offset; none means UTC) or from a number.

    Raises ``ValueError`` with the reason when ``text`` is neither.
    """
    value = text.strip()
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number):
            raise ValueError(f"'{text}' is not a finite number of seconds")
        return number
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"  # Python 3.10's fromisoformat does not read "Z"
    # .NET writes seven fractional digits; Python 3.10 reads exactly three or six.
    value = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], value, count=1)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{text}' is not an ISO 8601 date-time (like 2026-12-07T06:01:28Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _is_instant(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


__all__ = ["TIME_KEYS", "api_times", "iso_timestamp", "parse_timestamp"]
