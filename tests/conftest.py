"""Shared fixtures: one Chromium and one served examples app per module (the browser tests), and
one Azurite per session (the Azure Storage tests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from azurite import AzuriteMissing, running_azurite
from ui_helpers import EXAMPLES_APP, chromium, serve


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium for the module's tests (tests needing it skip when it is missing)."""
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def examples(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``durable-graph serve`` on the example graphs, in a folder of the module's own."""
    with serve(EXAMPLES_APP, tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])) as served:
        yield served


@pytest.fixture(scope="session")
def azurite_connection_string() -> Iterator[str]:
    """The connection string of one in-memory Azurite blob service shared by the session.

    Fails (never skips) when Azurite is not installed: ``make install`` installs it.
    """
    try:
        with running_azurite() as connection:
            yield connection
    except AzuriteMissing as missing:
        pytest.fail(str(missing), pytrace=False)
