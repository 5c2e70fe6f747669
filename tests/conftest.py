"""Fixtures shared by the browser tests: one Chromium and one served examples app per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

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
