"""The instance-id rule every engine applies to an id a caller chooses for a new run.

Two layers, one module:

- :func:`durable_id_problem` is the Durable extension's own rule for starting an orchestration
  (``DurableClient.StartNewAsync`` in Azure/azure-functions-durable-extension,
  ``src/WebJobs.Extensions.DurableTask/ContextImplementations/DurableClient.cs``): not starting
  with ``@`` (entity ids do), none of ``/ \\ # ?`` nor a control character (``char.IsControl``:
  U+0000-U+001F, U+007F-U+009F), at most 256 .NET characters, that is UTF-16 code units. The
  Durable emulator enforces exactly this on start, as the host does.
- :func:`instance_id_problem` is the package's rule, the same on the local engine and on Azure:
  the extension's rule (so an id the local engine accepts, Azure accepts too) plus what lets the
  id travel in a URL path unchanged. The Python Durable client puts ids in URL paths unescaped,
  so ``%`` (the host would percent-decode ``a%41`` into another id) and the dot segments ``.``
  and ``..`` (URL normalisation drops them) are refused, and so is an unpaired surrogate (no
  UTF-8 form at all). An empty id is refused too (leave the id out to get a generated one), and
  white space at either end (invisible, and trimmed by many tools on the way).
"""

from __future__ import annotations

import os
from typing import Any

from ..graph.errors import InvalidInputError

MAX_INSTANCE_ID_UNITS = 256  # DurableClient.MaxInstanceIdLength, in UTF-16 code units
DURABLE_FORBIDDEN = frozenset("/\\#?")
URL_FORBIDDEN = frozenset("%")
RULE = (
    "1-256 UTF-16 code units, not starting with '@' nor with or ending in white space, "
    "not '.' or '..', and without / \\ # ? %, control characters or unpaired surrogates"
)


def _is_control(char: str) -> bool:
    """.NET ``char.IsControl``: the Unicode category Cc."""
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F


def utf16_units(text: str) -> int:
    """How many UTF-16 code units (.NET characters) ``text`` has."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def durable_id_problem(instance_id: str) -> str | None:
    """What the Durable extension refuses in an instance id given to start, or ``None``.

    An empty id is not a problem here: the extension generates one, as for no id at all.
    """
    if instance_id.startswith("@"):
        return "Orchestration instance ids must not start with @."
    if any(char in DURABLE_FORBIDDEN or _is_control(char) for char in instance_id):
        return "Orchestration instance ids must not contain /, \\, #, ?, or control characters."
    if utf16_units(instance_id) > MAX_INSTANCE_ID_UNITS:
        return f"Instance ID lengths must not exceed {MAX_INSTANCE_ID_UNITS} characters."
    return None


def instance_id_problem(instance_id: Any) -> str | None:
    """Why ``instance_id`` is not a valid id for a new run (the package's rule), or ``None``."""
    if not isinstance(instance_id, str):
        return f"it must be a string, got {type(instance_id).__name__}"
    if not instance_id:
        return "it is empty"
    if instance_id != instance_id.strip():
        return "it starts or ends with white space"
    if instance_id in (".", ".."):
        return "'.' and '..' are URL dot segments"
    if any(char in URL_FORBIDDEN for char in instance_id):
        return "'%' would be read as a URL escape"
    if any(0xD800 <= ord(char) <= 0xDFFF for char in instance_id):
        return "it holds an unpaired surrogate"
    return durable_id_problem(instance_id)


def is_valid_instance_id(instance_id: Any) -> bool:
    """Whether ``instance_id`` follows the package's rule (see :func:`instance_id_problem`)."""
    return instance_id_problem(instance_id) is None


def check_instance_id(instance_id: Any, *, graph: str | None = None) -> str | None:
    """``instance_id`` itself (``None``, no id chosen, passes), or InvalidInputError (400)
    naming it and stating the rule."""
    if instance_id is None:
        return None
    problem = instance_id_problem(instance_id)
    if problem is None:
        return str(instance_id)
    shown = repr(instance_id) if not isinstance(instance_id, str) or len(instance_id) <= 80 \
        else repr(instance_id[:77] + "...")
    where = f"graph '{graph}': " if graph else ""
    raise InvalidInputError(
        f"{where}instance_id {shown} is invalid ({problem}); an instance id is {RULE}",
        details={"instance_id": instance_id if isinstance(instance_id, str) else None, "rule": RULE},
    )


def new_instance_id(now: float) -> str:
    """A new run id: 32 hex digits in the UUID version 7 layout (RFC 9562), ordered by time.

    48 bits of Unix milliseconds, 12 bits of the fraction of the millisecond, then random
    bits. Ids made later sort later, so a new run's rows go at the end of the store's indexes
    (keyed by instance id) instead of at random places, where every insert can split a page.
    """
    micros = max(0, int(now * 1_000_000))
    millis, fraction = divmod(micros, 1000)
    rand_a = fraction * 4096 // 1000
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return f"{value:032x}"


__all__ = [
    "MAX_INSTANCE_ID_UNITS",
    "RULE",
    "check_instance_id",
    "durable_id_problem",
    "instance_id_problem",
    "is_valid_instance_id",
    "new_instance_id",
    "utf16_units",
]
