"""The run list's paging cursor, the same on every engine.

Runs are listed newest first, ordered by ``(created_at, instance_id)`` descending; a cursor is
an opaque text naming the last run of a page, and the next page holds the runs strictly after
it in that order (keyset paging: runs started between two requests never shift a page).
"""

from __future__ import annotations

import base64
import binascii
import json

from ..graph.errors import InvalidInputError


def encode_cursor(created_at: float, instance_id: str) -> str:
    """An opaque paging cursor pointing after the run ``(created_at, instance_id)``."""
    raw = json.dumps([created_at, instance_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """The position a cursor from :func:`encode_cursor` points after (INVALID_CURSOR, 400)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, instance_id = json.loads(raw)
        if isinstance(created_at, bool) or not isinstance(created_at, (int, float)):
            raise ValueError("bad created_at")
        if not isinstance(instance_id, str):
            raise ValueError("bad instance_id")
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidInputError(
            f"invalid run list cursor '{cursor[:40]}'", code="INVALID_CURSOR"
        ) from None
    return float(created_at), instance_id


__all__ = ["decode_cursor", "encode_cursor"]
