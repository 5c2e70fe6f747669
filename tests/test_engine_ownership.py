"""One engine at a time drives a database file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from azure_functions_durable_graph.errors import StoreError
from azure_functions_durable_graph.local.engine import LocalEngine


def test_a_second_engine_on_the_same_file_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"

    async def scenario() -> None:
        first = LocalEngine(db)
        await first.open()
        second = LocalEngine(db)
        with pytest.raises(StoreError) as refused:
            await second.open()
        assert refused.value.code == "STORE_IN_USE"
        assert str(db) in refused.value.message
        second.store.close()
        await first.close()
        third = LocalEngine(db)
        await third.open()  # the lock was released with the first engine
        await third.close()

    asyncio.run(scenario())


def test_engines_on_different_files_do_not_interfere(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with LocalEngine(tmp_path / "a.db"), LocalEngine(tmp_path / "b.db"):
            pass

    asyncio.run(scenario())
