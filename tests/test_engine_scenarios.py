"""The interpreter's scenario table on the embedded engine, over both stores."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from azure_functions_durable_graph.local.store.memory import MemoryRunStore
from azure_functions_durable_graph.local.store.sqlite import SqliteRunStore
from engine_harness import run_on_engine
from scenarios import SCENARIOS, Scenario, assert_outcome


@pytest.fixture(params=["memory", "sqlite"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "memory":
        return MemoryRunStore
    return lambda: SqliteRunStore(tmp_path / "runs.db")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_on_engine(scenario: Scenario, store_factory) -> None:  # type: ignore[no-untyped-def]
    outcome = asyncio.run(asyncio.wait_for(run_on_engine(scenario, store_factory()), 60))
    assert_outcome(scenario, status=outcome["status"], state=outcome["state"],
                   nodes=outcome["nodes"], error=outcome["error"])
