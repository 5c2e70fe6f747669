"""Paging of the instances query (``GET .../instances``), as the Durable extension pages it.

Modelled on Azure/azure-functions-durable-extension,
``src/WebJobs.Extensions.DurableTask/HttpApiHandler.cs`` (``HandleGetStatusRequestAsync``) and
``src/WebJobs.Extensions.DurableTask/OrchestrationStatusQueryCondition.cs``:

- the page size is ``PageSize``, 100 unless the ``top`` query parameter parses as a .NET
  ``int`` (``int.TryParse``: optional sign and surrounding white space; anything else keeps 100);
- the request's ``x-ms-continuation-token`` header, when present, is the condition's
  ``ContinuationToken``;
- the response always carries ``x-ms-continuation-token``: the provider's next token, or an empty
  value once no more instances remain (``test/Common/HttpApiHandlerTests.cs``,
  ``GetAllStatus_is_Success``, checks the empty value).

The token is the provider's own opaque text. Here it names the position after the last instance
returned (instances are kept in creation order), so instances started or purged between two
requests neither repeat nor hide others. Where the extension leaves the answer to the storage
provider, the emulator chooses: a ``top`` of zero or less, and a token it did not issue, are the
400 of an ``ArgumentException``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

from .instances import Instance

DEFAULT_PAGE_SIZE = 100  # OrchestrationStatusQueryCondition.PageSize
TOKEN_HEADER = "x-ms-continuation-token"
_INT32 = re.compile(r"[\t-\r ]*[+-]?[0-9]+[\t-\r ]*")  # .NET NumberStyles.Integer
_TOKEN_PREFIX = "emulator-after:"


class PagingError(ValueError):
    """The request's page size or continuation token cannot be used."""


def page_size(top: str | None) -> int:
    """The page size a ``top`` query value asks for (``int.TryParse`` semantics)."""
    if top is None or not _INT32.fullmatch(top):
        return DEFAULT_PAGE_SIZE
    value = int(top)
    if not -(2**31) <= value < 2**31:
        return DEFAULT_PAGE_SIZE  # TryParse fails on overflow: the default stays
    if value <= 0:
        raise PagingError(f"the page size must be positive, got {value}")
    return value


def encode_token(sequence: int) -> str:
    """The continuation token pointing after the instance numbered ``sequence``."""
    return base64.b64encode(f"{_TOKEN_PREFIX}{sequence}".encode()).decode()


def decode_token(token: str | None) -> int:
    """The instance number a token points after (0, the start, for no or an empty token)."""
    if not token or not token.strip():
        return 0
    try:
        text = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise PagingError("the continuation token is not one this host issued") from None
    number = text[len(_TOKEN_PREFIX):]
    if not text.startswith(_TOKEN_PREFIX) or not re.fullmatch(r"[0-9]{1,18}", number):
        raise PagingError("the continuation token is not one this host issued")
    return int(number)


def page(found: Sequence[Instance], *, size: int, token: str | None) -> tuple[list[Instance], str]:
    """One page of ``found`` (creation order) after ``token``, and the next token ("" at the end)."""
    after = decode_token(token)
    rest = [inst for inst in found if inst.sequence > after]
    chosen = rest[:size]
    more = len(rest) > size
    return chosen, encode_token(chosen[-1].sequence) if more else ""


__all__ = ["DEFAULT_PAGE_SIZE", "TOKEN_HEADER", "PagingError", "decode_token", "encode_token",
           "page", "page_size"]
