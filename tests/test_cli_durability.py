"""``--durability process|power`` on ``run`` and ``serve`` (and the app ``serve --reload`` builds)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from azure_functions_durable_graph.api.server import (
    ENV_DB,
    ENV_DURABILITY,
    ENV_PREFIX,
    ENV_TARGET,
    build_local_app,
)
from azure_functions_durable_graph.cli.engine_session import valid_registrations
from azure_functions_durable_graph.cli.reload_app import app_from_environment
from azure_functions_durable_graph.local.store.durability import synchronous_level
from cli_helpers import run_cli as cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
QUICK = str(EXAMPLES / "quick_example.py")


@pytest.mark.parametrize("mode", ["process", "power"])
def test_run_takes_either_mode(capsys: pytest.CaptureFixture[str], tmp_path: Path, mode: str) -> None:
    db = str(tmp_path / "runs.db")
    code, out, err = cli(capsys, "run", QUICK, "--input", '{"message": "hi"}', "--db", db, "--durability", mode)
    assert code == 0, err
    assert json.loads(out.partition("\n")[2]) == {"message": "Done: hi", "processed": True}


@pytest.mark.parametrize("command", ["run", "serve"])
def test_another_value_is_a_usage_error_naming_the_choices(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    code, _, err = cli(capsys, command, QUICK, "--db", str(tmp_path / "runs.db"), "--durability", "disk")
    assert code == 2
    assert "--durability: invalid choice: 'disk' (choose from" in err and "'power'" in err
    assert not (tmp_path / "runs.db").exists()


def _engine_level(client: TestClient) -> str:
    store = client.app.state.engine.store  # type: ignore[attr-defined]
    return synchronous_level(store._connection())


@pytest.mark.parametrize(("mode", "level"), [(None, "NORMAL"), ("process", "NORMAL"), ("power", "FULL")])
def test_the_served_app_opens_its_engine_in_the_mode(tmp_path: Path, mode: str | None, level: str) -> None:
    app = build_local_app(valid_registrations(QUICK), db=tmp_path / "runs.db", durability=mode)
    with TestClient(app) as client:
        assert client.get("/api/health").status_code == 200
        assert _engine_level(client) == level


def test_the_reload_factory_reads_the_mode_serve_put_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_TARGET, QUICK)
    monkeypatch.setenv(ENV_DB, str(tmp_path / "reload.db"))
    monkeypatch.setenv(ENV_PREFIX, "/api")
    monkeypatch.setenv(ENV_DURABILITY, "power")
    with TestClient(app_from_environment()) as client:
        assert _engine_level(client) == "FULL"
