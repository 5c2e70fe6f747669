"""Issue 13, items 1 and 5: JSON that could be written but not read back, and numbers that overflow.

One rule (``execution/json_limits.py``): every JSON value a caller gives an engine (start input,
metadata, event payloads) nests at most ``MAX_JSON_DEPTH`` arrays/objects and holds only finite
numbers. It is checked at the edge on both engines over HTTP (400 ``INVALID_JSON``) and on the
Python API (``InvalidInputError``), so nothing stored can fail to decode. Rows already stored
that cannot be decoded (written by an earlier release, or damaged) never take down a listing,
the server's startup or ``durable-graph runs list``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from azure_functions_durable_graph.api.server import build_local_app
from azure_functions_durable_graph.errors import InvalidInputError
from azure_functions_durable_graph.execution import ManualClock
from azure_functions_durable_graph.execution.json_limits import MAX_JSON_DEPTH, json_value_problem
from azure_functions_durable_graph.graph.registration import GraphRegistration
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store.memory import MemoryRunStore
from azure_functions_durable_graph.local.store.sqlite import SqliteRunStore
from cli_helpers import run_cli
from graph_helpers import HostileState, build_waiting_graph
from http_conformance import ENGINES, HttpEngine

GRAPH = "hostile_json"
ISSUE_DEPTHS = [255, 256, 990]  # what pydantic-core writes, one more, and near json's recursion limit


def build_hostile() -> GraphRegistration:
    """The shared waiting graph (graph_helpers.build_waiting_graph) under this module's name."""
    return build_waiting_graph(GRAPH)


def nested(depth: int) -> str:
    """JSON text of ``depth`` arrays, one inside the other, around a 0."""
    return "[" * depth + "0" + "]" * depth


def nested_value(depth: int) -> Any:
    """The value of :func:`nested` (built without recursion)."""
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Iterator[HttpEngine]:
    with ENGINES[request.param](build_hostile()) as served:
        yield served


def _post(engine: HttpEngine, url: str, text: str) -> Any:
    return engine.client.post(url, content=text.encode(), headers={"content-type": "application/json"})


def _assert_invalid_json(response: Any, *fragments: str) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_JSON", error
    message = str(error["message"])
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def _waiting_run(engine: HttpEngine) -> str:
    started = engine.client.post(f"/api/graphs/{GRAPH}/runs", json={"input": {}})
    assert started.status_code == 202, started.text
    instance_id = str(started.json()["instance_id"])
    assert engine.settle(instance_id)["status"] == "waiting"
    return instance_id


def _runs_still_list(engine: HttpEngine) -> None:
    listed = engine.client.get("/api/runs")
    assert listed.status_code == 200, listed.text


# --- the rule itself ----------------------------------------------------------------------------


def test_the_limit_counts_the_value_itself() -> None:
    assert json_value_problem(nested_value(MAX_JSON_DEPTH)) is None
    found = json_value_problem(nested_value(MAX_JSON_DEPTH + 1))
    assert found is not None and f"more than {MAX_JSON_DEPTH} levels" in found[1]
    assert json_value_problem({"data": nested_value(MAX_JSON_DEPTH - 1)}) is None
    assert json_value_problem({"ok": 1, "data": nested_value(MAX_JSON_DEPTH)}) == (
        "data", f"is nested more than {MAX_JSON_DEPTH} levels deep (the limit for JSON values)")
    assert json_value_problem("text") is None and json_value_problem(None) is None


def test_a_value_holding_itself_is_refused_not_walked_forever() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert json_value_problem(loop) is not None


@pytest.mark.parametrize("number", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_numbers_are_refused(number: float) -> None:
    found = json_value_problem({"data": {"x": [1.5, number]}})
    assert found is not None and found[0] == "data" and "not a JSON number" in found[1]


# --- over HTTP, on both engines -------------------------------------------------------------------


@pytest.mark.parametrize("depth", ISSUE_DEPTHS)
def test_deep_input_is_refused(engine: HttpEngine, depth: int) -> None:
    response = _post(engine, f"/api/graphs/{GRAPH}/runs", '{"input": {"data": ' + nested(depth) + '}}')
    message = _assert_invalid_json(response, f"{MAX_JSON_DEPTH} levels")
    if depth < 900:  # json itself reads these: the message names the field
        assert "graph 'hostile_json': input field 'data' is nested more than" in message
    _runs_still_list(engine)


@pytest.mark.parametrize("depth", ISSUE_DEPTHS)
def test_deep_metadata_is_refused(engine: HttpEngine, depth: int) -> None:
    body = '{"input": {}, "metadata": {"trace": ' + nested(depth) + '}}'
    message = _assert_invalid_json(_post(engine, f"/api/graphs/{GRAPH}/runs", body), f"{MAX_JSON_DEPTH} levels")
    if depth < 900:
        assert "graph 'hostile_json': metadata is nested more than" in message
    _runs_still_list(engine)


@pytest.mark.parametrize("depth", ISSUE_DEPTHS)
def test_deep_event_payload_is_refused_and_the_run_goes_on(engine: HttpEngine, depth: int) -> None:
    instance_id = _waiting_run(engine)
    url = f"/api/runs/{quote(instance_id, safe='')}/events/answer"
    message = _assert_invalid_json(_post(engine, url, '{"data": ' + nested(depth) + '}'), f"{MAX_JSON_DEPTH} levels")
    if depth < 900:
        assert "payload of event 'answer' is nested more than" in message
    assert engine.settle(instance_id)["status"] == "waiting"
    assert _post(engine, url, '{"data": 1}').status_code == 202
    done = engine.settle(instance_id)
    assert done["status"] == "completed" and done["output"]["state"]["data"] == 1
    _runs_still_list(engine)


def test_json_at_the_limit_round_trips(engine: HttpEngine) -> None:
    # The input object is level 1, so ``data`` may hold MAX_JSON_DEPTH - 1 levels.
    value = nested_value(MAX_JSON_DEPTH - 1)
    body = {"input": {"data": value}, "metadata": {"trace": nested_value(MAX_JSON_DEPTH - 1)}}
    started = engine.client.post(f"/api/graphs/{GRAPH}/runs", json=body)
    assert started.status_code == 202, started.text
    instance_id = started.json()["instance_id"]
    assert engine.settle(instance_id)["status"] == "waiting"
    url = f"/api/runs/{quote(instance_id, safe='')}/events/answer"
    assert engine.client.post(url, json={"data": value}).status_code == 202
    done = engine.settle(instance_id)
    assert done["status"] == "completed" and done["output"]["state"]["data"] == value
    assert done["metadata"] == body["metadata"]
    listed = engine.client.get("/api/runs").json()["runs"]
    assert [r["instance_id"] for r in listed] == [instance_id]


def test_one_level_over_the_limit_is_refused(engine: HttpEngine) -> None:
    over = nested_value(MAX_JSON_DEPTH)  # inside the input object: MAX + 1 levels
    start = f"/api/graphs/{GRAPH}/runs"
    _assert_invalid_json(engine.client.post(start, json={"input": {"data": over}}), "input field 'data'")
    _assert_invalid_json(engine.client.post(start, json={"input": {}, "metadata": {"m": over}}), "metadata")
    instance_id = _waiting_run(engine)
    url = f"/api/runs/{quote(instance_id, safe='')}/events/answer"
    _assert_invalid_json(engine.client.post(url, json={"data": over}), "payload of event 'answer'")


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1E+999"])
def test_numbers_overflowing_to_infinity_are_refused(engine: HttpEngine, number: str) -> None:
    start = f"/api/graphs/{GRAPH}/runs"
    for body in ('{"data": ' + number + '}', '{"input": {}, "metadata": {"x": ' + number + '}}'):
        _assert_invalid_json(_post(engine, start, body), number, "overflows to infinity")
    instance_id = _waiting_run(engine)
    url = f"/api/runs/{quote(instance_id, safe='')}/events/answer"
    _assert_invalid_json(_post(engine, url, '{"data": ' + number + '}'), "overflows to infinity")
    assert engine.client.get("/api/runs").json()["runs"][0]["input"]["data"] is None  # only the waiting run
    assert len(engine.client.get("/api/runs").json()["runs"]) == 1


def test_large_finite_numbers_still_pass(engine: HttpEngine) -> None:
    started = _post(engine, f"/api/graphs/{GRAPH}/runs", '{"data": 1.7976931348623157e308}')
    assert started.status_code == 202, started.text
    assert started.json()["input"]["data"] == 1.7976931348623157e308


# --- the Python API -------------------------------------------------------------------------------


def _local_engine() -> LocalEngine:
    engine = LocalEngine(MemoryRunStore(), clock=ManualClock(auto_advance=False))
    engine.register(build_hostile())
    return engine


def _refused(call: Any, *fragments: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        asyncio.run(asyncio.wait_for(call, 30))
    assert caught.value.code == "INVALID_JSON"
    assert "\n" not in caught.value.message
    for fragment in fragments:
        assert fragment in caught.value.message, caught.value.message


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, *ISSUE_DEPTHS, 5000])
def test_local_engine_start_refuses_deep_input_and_metadata(depth: int) -> None:
    engine = _local_engine()
    _refused(engine.start(GRAPH, {"data": nested_value(depth)}), "input field 'data'", f"{MAX_JSON_DEPTH} levels")
    _refused(engine.start(GRAPH, {}, metadata={"m": nested_value(depth)}), "metadata")
    _refused(engine.start(GRAPH, HostileState(data=nested_value(depth))), "input field 'data'")
    runs, _ = asyncio.run(engine.list_runs())
    assert runs == []  # nothing was stored


@pytest.mark.parametrize("number", [float("inf"), float("-inf"), float("nan")])
def test_local_engine_refuses_non_finite_numbers(number: float) -> None:
    engine = _local_engine()
    _refused(engine.start(GRAPH, {"data": number}), "input field 'data'", "not a JSON number")
    _refused(engine.start(GRAPH, HostileState(data={"x": number})), "input field 'data'")
    _refused(engine.start(GRAPH, {}, metadata={"x": number}), "metadata")


def test_local_engine_raise_event_refuses_deep_and_infinite_payloads() -> None:
    async def scenario() -> None:
        engine = _local_engine()
        await engine.open()
        try:
            status = await engine.start(GRAPH, {})
            await engine.wait(status.instance_id, timeout=10)
            for payload in ({"data": nested_value(MAX_JSON_DEPTH)}, {"data": float("inf")}):
                with pytest.raises(InvalidInputError) as caught:
                    await engine.raise_event(status.instance_id, "answer", payload)
                assert caught.value.code == "INVALID_JSON"
                assert "payload of event 'answer'" in caught.value.message
            assert engine.store.pending_events(status.instance_id) == []
            await engine.raise_event(status.instance_id, "answer", {"data": 2})
            done = await engine.wait(status.instance_id, timeout=10)
            assert done.status == "completed" and done.output is not None
        finally:
            await engine.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_invoke_applies_the_same_rule() -> None:
    registration = build_hostile()
    for kwargs, where in (
        ({"input": {"data": nested_value(300)}}, "input field 'data'"),
        ({"input": {}, "metadata": {"m": nested_value(300)}}, "metadata"),
        ({"input": {}, "events": [("answer", {"data": nested_value(300)})]}, "payload of event 'answer'"),
        ({"input": {}, "events": [{"data": float("inf")}]}, "payload of event 'answer'"),
        ({"input": {"data": float("nan")}}, "input field 'data'"),
    ):
        with pytest.raises(InvalidInputError) as caught:
            registration.invoke(**kwargs)
        assert caught.value.code == "INVALID_JSON" and where in caught.value.message
    at_limit = nested_value(MAX_JSON_DEPTH - 1)
    result = registration.invoke({"data": at_limit}, events=[{"data": at_limit}])
    assert result.status == "completed" and result.snapshot["state"]["data"] == at_limit


# --- rows already stored that cannot be decoded ----------------------------------------------------


def _store_with_bad_rows(path: Path) -> dict[str, str]:
    """A store of four runs: one fine, three whose rows an earlier release wrote or damage broke.

    ``deep``: a snapshot nested 250 levels (pydantic-core wrote it; its reader stops at ~200).
    ``deeper``: metadata nested 5,000 levels and cut off (no reader decodes it on any Python:
    3.13's json reads 5,000 levels, 3.11's stops by recursion). ``garbage``: the snapshot
    of a running run is not JSON at all, so the engine would resume it on startup.
    """
    engine = LocalEngine(SqliteRunStore(path), clock=ManualClock(start=1_700_000_000.0, auto_advance=False))
    engine.register(build_hostile())
    ids: dict[str, str] = {}

    async def start_all() -> None:
        for offset, name in enumerate(("fine", "deep", "deeper", "garbage")):
            status = await engine.start(GRAPH, {"data": name}, instance_id=f"run-{name}")
            ids[name] = status.instance_id
            engine.clock.advance(1.0 + offset)  # type: ignore[attr-defined]

    asyncio.run(start_all())
    engine.store.close()
    conn = sqlite3.connect(path)
    # A run's snapshot is kept in run_snapshots (schema version 6).
    snapshot = json.loads(conn.execute("SELECT snapshot FROM run_snapshots WHERE instance_id = 'run-deep'").fetchone()[0])
    snapshot["state"]["data"] = "@DEEP@"
    deep_text = json.dumps(snapshot).replace('"@DEEP@"', nested(250))
    conn.execute("UPDATE run_snapshots SET snapshot = ? WHERE instance_id = 'run-deep'", (deep_text,))
    conn.execute("UPDATE runs SET status = 'completed' WHERE instance_id = 'run-deep'")
    conn.execute("UPDATE runs SET metadata = ?, status = 'completed' WHERE instance_id = 'run-deeper'",
                 ('{"m": ' + nested(5000)[:-1],))
    conn.execute("UPDATE run_snapshots SET snapshot = '{not json' WHERE instance_id = 'run-garbage'")
    conn.execute("UPDATE runs SET status = 'running' WHERE instance_id = 'run-garbage'")
    conn.commit()
    conn.close()
    return ids


def _check_listing(runs: list[dict[str, Any]]) -> None:
    by_id = {r["instance_id"]: r for r in runs}
    assert set(by_id) == {"run-fine", "run-deep", "run-deeper", "run-garbage"}
    assert by_id["run-fine"]["error"] is None and by_id["run-fine"]["input"] == {"data": "fine", "done": False}
    assert by_id["run-deep"]["error"] is None  # decoded by the deeper reader
    for name, column in (("deeper", "metadata"), ("garbage", "snapshot")):
        error = by_id[f"run-{name}"]["error"]
        assert error["code"] == "STORE_ERROR", error
        assert f"run 'run-{name}' {column} cannot be decoded" in error["message"]
    assert by_id["run-garbage"]["status"] == "running"  # the stored status column, as it is


def test_a_listing_reports_undecodable_rows_per_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "runs.db"
    _store_with_bad_rows(path)
    engine = LocalEngine(SqliteRunStore(path))
    runs, cursor = asyncio.run(engine.list_runs(limit=2))
    more, _ = asyncio.run(engine.list_runs(limit=2, cursor=cursor))
    _check_listing([r.to_dict() for r in [*runs, *more]])
    assert "run 'run-garbage' snapshot cannot be decoded" in caplog.text
    engine.store.close()


def test_the_server_starts_and_serves_over_undecodable_rows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "runs.db"
    _store_with_bad_rows(path)
    app = build_local_app([build_hostile()], db=path)
    with TestClient(app) as client:  # the lifespan opens the engine, which resumes unfinished runs
        assert "run 'run-garbage' not resumed" in caplog.text
        assert client.get("/api/health").status_code == 200
        listed = client.get("/api/runs")
        assert listed.status_code == 200, listed.text
        _check_listing(listed.json()["runs"])
        deep = client.get("/api/runs/run-deep")
        assert deep.status_code == 200 and deep.json()["output"] is None
        broken = client.get("/api/runs/run-garbage")
        assert broken.status_code == 500
        assert broken.json()["error"]["code"] == "STORE_ERROR"
        assert "run 'run-garbage' snapshot cannot be decoded" in broken.json()["error"]["message"]
        started = client.post(f"/api/graphs/{GRAPH}/runs", json={"input": {}})
        assert started.status_code == 202, started.text


def test_runs_list_cli_reads_undecodable_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "runs.db"
    _store_with_bad_rows(path)
    code, out, err = run_cli(capsys, "runs", "list", "--db", str(path))
    assert code == 0, err
    assert all(f"run-{name}" in out for name in ("fine", "deep", "deeper", "garbage"))
    code, out, err = run_cli(capsys, "runs", "list", "--db", str(path), "--json")
    assert code == 0, err
    _check_listing(json.loads(out))
