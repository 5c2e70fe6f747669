"""Durability modes: ``"process"`` (WAL + synchronous=NORMAL) and ``"power"`` (WAL + FULL).

The mode is read back from the store's own connection (the sync level is per connection), and
bad values are refused with ``INVALID_DURABILITY`` naming the parameter.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import BaseModel

from azure_functions_durable_graph import ManifestBuilder
from azure_functions_durable_graph.graph.errors import InvalidInputError
from azure_functions_durable_graph.graph.registration import GraphRegistration
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store import MemoryRunStore, SqliteRunStore
from azure_functions_durable_graph.local.store.durability import synchronous_level


class Count(BaseModel):
    """One counter."""

    count: int = 0


def _increment(state: Count) -> dict[str, int]:
    return {"count": state.count + 1}


def counter_chain(length: int) -> GraphRegistration:
    builder = ManifestBuilder(graph_name="durability_chain", state_model=Count)
    builder.set_entrypoint("n0")
    for i in range(length):
        options = {"terminal": True} if i == length - 1 else {"next_node": f"n{i + 1}"}
        builder.add_node(f"n{i}", _increment, **options)  # type: ignore[arg-type]
    return builder.build()


def level(store: SqliteRunStore) -> str:
    return synchronous_level(store._connection())


@pytest.mark.parametrize(("mode", "expected"), [("process", "NORMAL"), ("power", "FULL")])
def test_each_mode_sets_the_connections_sync_level(tmp_path: Path, mode: str, expected: str) -> None:
    with SqliteRunStore(tmp_path / "runs.db", durability=mode) as store:  # type: ignore[arg-type]
        assert store.durability == mode
        assert level(store) == expected
        assert store._connection().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        store.close()
        store.reopen()  # a server served again keeps its mode
        assert level(store) == expected


def test_the_default_is_process(tmp_path: Path) -> None:
    with SqliteRunStore(tmp_path / "runs.db") as store:
        assert store.durability == "process" and level(store) == "NORMAL"


@pytest.mark.parametrize("bad", ["disk", "POWER", "", 1])
def test_a_bad_value_is_refused_naming_the_parameter(tmp_path: Path, bad: object) -> None:
    with pytest.raises(InvalidInputError, match=r"^\[INVALID_DURABILITY\] SqliteRunStore: durability must be 'process' or 'power'") as caught:
        SqliteRunStore(tmp_path / "runs.db", durability=bad)  # type: ignore[arg-type]
    assert caught.value.code == "INVALID_DURABILITY"
    assert not (tmp_path / "runs.db").exists()  # refused before anything is created
    with pytest.raises(InvalidInputError, match=r"^\[INVALID_DURABILITY\] LocalEngine: durability must be") as caught:
        LocalEngine(tmp_path / "runs.db", durability=bad)  # type: ignore[arg-type]
    assert caught.value.code == "INVALID_DURABILITY"


def test_the_engine_opens_its_file_in_the_mode_asked(tmp_path: Path) -> None:
    engine = LocalEngine(tmp_path / "runs.db", durability="power")
    assert isinstance(engine.store, SqliteRunStore) and level(engine.store) == "FULL"
    engine.store.close()
    engine = LocalEngine(tmp_path / "runs.db")
    assert isinstance(engine.store, SqliteRunStore) and level(engine.store) == "NORMAL"
    engine.store.close()


def test_a_store_passed_in_keeps_its_mode_and_a_different_one_is_refused(tmp_path: Path) -> None:
    with SqliteRunStore(tmp_path / "runs.db", durability="power") as store:
        assert LocalEngine(store).store is store  # None: the store's own mode
        assert LocalEngine(store, durability="power").store is store
        with pytest.raises(InvalidInputError, match="durability 'process' differs from the store's 'power'") as caught:
            LocalEngine(store, durability="process")
        assert caught.value.code == "INVALID_DURABILITY"


def test_the_memory_store_takes_process_and_refuses_power() -> None:
    store = MemoryRunStore()
    assert LocalEngine(store).store is store
    assert LocalEngine(store, durability="process").store is store
    with pytest.raises(InvalidInputError, match="'power' needs a store that syncs its commits to disk; "
                                                "MemoryRunStore keeps nothing past the process") as caught:
        LocalEngine(store, durability="power")
    assert caught.value.code == "INVALID_DURABILITY"


@pytest.mark.parametrize("mode", ["process", "power"])
def test_concurrent_runs_complete_in_both_modes(tmp_path: Path, mode: str) -> None:
    registration = counter_chain(4)

    async def main() -> list[str]:
        async with LocalEngine(tmp_path / "runs.db", durability=mode, concurrency=16, workers=4) as engine:
            engine.register(registration)
            ids = [(await engine.start(registration.graph_name, {})).instance_id for _ in range(40)]
            finished = await asyncio.gather(*(engine.wait(i, timeout=60) for i in ids))
            for status in finished:
                assert status.output is not None and status.output["state"]["count"] == 4
            return [s.status for s in finished]

    assert asyncio.run(main()) == ["completed"] * 40
    with SqliteRunStore(tmp_path / "runs.db") as store:
        runs, _ = store.list_runs(limit=100)
        assert all(len(store.history(r.instance_id)) == 4 for r in runs)
