"""``durable-graph run``, ``runs list|show|cancel`` and ``events send`` on the embedded engine."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from azure_functions_durable_graph.cli.engine_session import valid_registrations
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store.sqlite import SqliteRunStore
from cli_helpers import assert_one_error_line
from cli_helpers import run_cli as cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
QUICK = str(EXAMPLES / "quick_example.py")
SUPPORT = str(EXAMPLES / "support_agent.py")
APPROVE = '{"approved": true, "reviewer": "ana"}'

FAILING_GRAPH = '''
from pydantic import BaseModel

from azure_functions_durable_graph import ManifestBuilder


class FailState(BaseModel):
    count: int = 0


def prepare(state: FailState) -> dict:
    return {"count": state.count + 1}


def explode(state: FailState) -> dict:
    raise RuntimeError("the widget exploded")


builder = ManifestBuilder(graph_name="failing", state_model=FailState)
builder.set_entrypoint("prepare")
builder.add_node("prepare", prepare, next_node="explode")
builder.add_node("explode", explode, terminal=True)
'''


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Loading a target puts its folder on sys.path; keep that from leaking between tests, and
    # run in a scratch folder so nothing lands in the working tree.
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "runs.db")


def run_id_of(out: str) -> str:
    match = re.match(r"run (\S+): (\w+)", out)
    assert match, out
    return match.group(1)


def start_waiting_ticket(capsys: pytest.CaptureFixture[str], db: str, *extra: str) -> str:
    code, out, err = cli(capsys, "run", SUPPORT, "--input", '{"ticket": "My order is late"}',
                         "--db", db, *extra)
    assert code == 3, (out, err)
    return run_id_of(out)


# --- run -----------------------------------------------------------------------------------------


def test_run_quick_example_prints_the_final_state(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, out, err = cli(capsys, "run", QUICK, "--input", '{"message": "hi"}', "--db", db)
    assert code == 0, err
    first, _, rest = out.partition("\n")
    assert re.fullmatch(r"run [0-9a-f]{32}: completed", first)
    assert json.loads(rest) == {"message": "Done: hi", "processed": True}
    assert Path(db).is_file()


def status_document(out: str) -> dict[str, Any]:
    """The last of ``run --json``'s lines: the run's status document."""
    document: dict[str, Any] = json.loads(out.splitlines()[-1])
    return document


def test_run_json_prints_event_lines_then_the_status(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, out, err = cli(capsys, "run", QUICK, "--input", '{"message": "hi"}', "--db", db,
                         "--json", "--instance-id", "quick-1")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]  # every line is one JSON document
    assert [e["type"] for e in lines[:-1]] == [
        "run_started", "step_started", "task_completed", "step_started", "task_completed",
        "run_completed", "end"]
    assert [e["seq"] for e in lines[:-2]] == list(range(1, 7))
    document = lines[-1]
    assert document["instance_id"] == "quick-1"
    assert document["status"] == "completed"
    assert document["graph_name"] == "my_graph"
    assert document["output"]["state"] == {"message": "Done: hi", "processed": True}
    assert document["error"] is None
    assert err == ""  # --json shows no progress


def test_run_progress_is_plain_lines_when_not_a_terminal(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, _out, err = cli(capsys, "run", QUICK, "--input", '{"message": "hi"}', "--db", db)
    assert code == 0
    assert "\r" not in err and "\x1b" not in err
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert re.fullmatch(r"ok +process \(step 1, \d+ ms\)", lines[0])
    assert re.fullmatch(r"ok +finalize \(step 2, \d+ ms\)", lines[1])


def test_run_uses_the_default_database_in_the_working_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _out, err = cli(capsys, "run", QUICK, "--input", '{"message": "hi"}')
    assert code == 0, err
    assert (tmp_path / ".durable-graph" / "runs.db").is_file()


def test_run_input_from_a_file(capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path) -> None:
    (tmp_path / "input.json").write_text('{"message": "from file"}', encoding="utf-8")
    code, out, err = cli(capsys, "run", QUICK, "--input", "@input.json", "--db", db, "--json")
    assert code == 0, err
    assert status_document(out)["output"]["state"]["message"] == "Done: from file"


def test_run_with_the_same_instance_id_is_idempotent(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    argv = ("run", QUICK, "--input", '{"message": "hi"}', "--db", db, "--instance-id", "same")
    assert cli(capsys, *argv)[0] == 0
    code, out, err = cli(capsys, *argv)
    assert code == 0, err
    assert out.startswith("run same: completed")
    code, out, err = cli(capsys, "run", QUICK, "--input", '{"message": "other"}', "--db", db,
                         "--instance-id", "same")
    assert code == 2
    assert_one_error_line(err, "RUN_CONFLICT", "same")
    with SqliteRunStore(db) as store:
        assert len(store.list_runs()[0]) == 1


def test_run_that_waits_exits_3_and_names_the_run(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, out, err = cli(capsys, "run", SUPPORT, "--input", '{"ticket": "My order is late"}',
                         "--db", db)
    assert code == 3, err
    run_id = run_id_of(out)
    assert out.startswith(f"run {run_id}: waiting")
    assert "waiting for event 'approval' (node draft_reply)" in out
    assert f"durable-graph events send {run_id} approval" in out
    assert "wait   draft_reply is waiting for event 'approval'" in err


def test_run_with_an_event_completes(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, out, err = cli(capsys, "run", SUPPORT, "--input", '{"ticket": "My order is late"}',
                         "--event", f"approval={APPROVE}", "--db", db, "--json")
    assert code == 0, err
    document = status_document(out)
    assert document["status"] == "completed"
    assert document["output"]["state"]["status"] == "sent"
    assert document["output"]["state"]["reviewer"] == "ana"


def test_run_with_events_that_revise_then_approve(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    reject = '{"approved": false, "reviewer": "ana", "comment": "mention the refund"}'
    code, out, err = cli(capsys, "run", SUPPORT, "--input", '{"ticket": "My order is late"}',
                         "--event", f"approval={reject}", "--event", f"approval={APPROVE}",
                         "--db", db, "--json")
    assert code == 0, err
    state = status_document(out)["output"]["state"]
    assert state["status"] == "sent" and state["revisions"] == 1
    assert state["draft"].endswith(" Note: mention the refund.")


def test_run_of_a_failing_graph_exits_4(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    module = tmp_path / "failing_graph.py"
    module.write_text(FAILING_GRAPH, encoding="utf-8")
    code, out, err = cli(capsys, "run", str(module), "--db", db)
    assert code == 4, (out, err)
    assert re.match(r"run \S+: failed", out)
    assert "the widget exploded" in out
    assert "Traceback" not in out + err
    assert "failed explode attempt 1: the widget exploded" in err
    code, out, _ = cli(capsys, "run", str(module), "--db", db, "--json")
    assert code == 4
    document = status_document(out)
    assert document["status"] == "failed"
    assert "the widget exploded" in document["error"]["message"]


def test_invalid_input_json_is_a_usage_error(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, out, err = cli(capsys, "run", QUICK, "--input", "{not json", "--db", db)
    assert code == 2
    assert out == ""
    assert_one_error_line(err, "--input", "not valid JSON")


def test_input_that_fails_validation_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, out, err = cli(capsys, "run", SUPPORT, "--input", '{"ticket": 42}', "--db", db)
    assert code == 2
    assert out == ""
    assert_one_error_line(err, "INVALID_INPUT", "support_agent", "ticket")
    code, _, err = cli(capsys, "run", QUICK, "--input", "{}", "--db", db)
    assert code == 2
    assert_one_error_line(err, "INVALID_INPUT", "my_graph", "message")
    with SqliteRunStore(db) as store:
        assert store.list_runs()[0] == []


def test_malformed_event_argument_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, _, err = cli(capsys, "run", SUPPORT, "--input", '{"ticket": "x"}', "--event",
                       "approval", "--db", db)
    assert code == 2
    assert_one_error_line(err, "NAME=JSON")
    code, _, err = cli(capsys, "run", SUPPORT, "--input", '{"ticket": "x"}', "--event",
                       "approval={nope", "--db", db)
    assert code == 2
    assert_one_error_line(err, "--event approval", "not valid JSON")


def test_a_refused_event_argument_starts_no_run(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, _, err = cli(capsys, "run", SUPPORT, "--input", '{"ticket": "x"}', "--event",
                       "nonsense={}", "--db", db)
    assert code == 2
    assert_one_error_line(err, "EVENT_NOT_DECLARED", "nonsense")
    code, _, err = cli(capsys, "run", SUPPORT, "--input", '{"ticket": "x"}', "--event",
                       'approval={"approved": "perhaps"}', "--db", db)
    assert code == 2
    assert_one_error_line(err, "INVALID_INPUT", "approval")
    with SqliteRunStore(db) as store:
        assert store.list_runs()[0] == []


# --- events send ---------------------------------------------------------------------------------


def test_events_send_resumes_a_waiting_run(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run_id = start_waiting_ticket(capsys, db)
    code, out, err = cli(capsys, "events", "send", run_id, "approval", APPROVE,
                         "--target", SUPPORT, "--db", db)
    assert code == 0, err
    first, _, rest = out.partition("\n")
    assert first == f"run {run_id}: completed"
    state = json.loads(rest)
    assert state["status"] == "sent" and state["reviewer"] == "ana"
    assert state["log"] == ["drafted", "approved by ana", "decision applied", "sent"]


def test_events_send_that_leads_to_another_wait_exits_3(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    run_id = start_waiting_ticket(capsys, db)
    reject = '{"approved": false, "reviewer": "ana", "comment": "mention the refund"}'
    code, out, err = cli(capsys, "events", "send", run_id, "approval", reject,
                         "--target", SUPPORT, "--db", db, "--json")
    assert code == 3, err
    document = json.loads(out)
    assert document["status"] == "waiting"
    assert [w["event"] for w in document["waiting_for"]] == ["approval"]


def test_events_send_errors(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run_id = start_waiting_ticket(capsys, db)
    code, _, err = cli(capsys, "events", "send", run_id, "nonsense", "{}",
                       "--target", SUPPORT, "--db", db)
    assert code == 2
    assert_one_error_line(err, "EVENT_NOT_DECLARED", "nonsense")
    code, _, err = cli(capsys, "events", "send", run_id, "approval", '{"approved": "perhaps"}',
                       "--target", SUPPORT, "--db", db)
    assert code == 2
    assert_one_error_line(err, "INVALID_INPUT", "approval")
    code, _, err = cli(capsys, "events", "send", "ghost", "approval", APPROVE,
                       "--target", SUPPORT, "--db", db)
    assert code == 2
    assert_one_error_line(err, "RUN_NOT_FOUND", "ghost")
    code, _, err = cli(capsys, "events", "send", run_id, "approval", "{oops",
                       "--target", SUPPORT, "--db", db)
    assert code == 2
    assert_one_error_line(err, "payload", "not valid JSON")
    with SqliteRunStore(db) as store:
        assert store.pending_events(run_id) == []
        assert store.get_run(run_id).status == "waiting"


def test_events_send_to_a_finished_run_conflicts(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, _, _ = cli(capsys, "run", SUPPORT, "--input", '{"ticket": "x"}', "--event",
                     f"approval={APPROVE}", "--db", db, "--instance-id", "done")
    assert code == 0
    code, _, err = cli(capsys, "events", "send", "done", "approval", APPROVE,
                       "--target", SUPPORT, "--db", db)
    assert code == 2
    assert_one_error_line(err, "RUN_CONFLICT", "done", "completed")


# --- runs list / show / cancel -------------------------------------------------------------------


def test_runs_list(capsys: pytest.CaptureFixture[str], db: str) -> None:
    assert cli(capsys, "run", QUICK, "--input", '{"message": "hi"}', "--db", db,
               "--instance-id", "quick-1")[0] == 0
    run_id = start_waiting_ticket(capsys, db)
    code, out, err = cli(capsys, "runs", "list", "--db", db)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].split() == [run_id, "support_agent", "waiting", "step", "1"]  # newest first
    assert lines[1].split() == ["quick-1", "my_graph", "completed", "step", "2"]
    code, out, _ = cli(capsys, "runs", "list", "--db", db, "--status", "waiting")
    assert code == 0 and out.split()[0] == run_id and len(out.splitlines()) == 1
    code, out, _ = cli(capsys, "runs", "list", "--db", db, "--graph", "my_graph", "--json")
    assert code == 0
    assert [r["instance_id"] for r in json.loads(out)] == ["quick-1"]
    code, out, _ = cli(capsys, "runs", "list", "--db", db, "--limit", "1", "--json")
    assert code == 0 and [r["instance_id"] for r in json.loads(out)] == [run_id]
    code, out, _ = cli(capsys, "runs", "list", "--db", db, "--graph", "nothing")
    assert code == 0 and out == "no runs\n"


def test_runs_show_prints_status_and_history(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run_id = start_waiting_ticket(capsys, db)
    code, out, err = cli(capsys, "runs", "show", run_id, "--db", db)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"run {run_id}: waiting (graph support_agent 0.1.0, step 1)"
    assert "  waiting for event 'approval' at node draft_reply" in lines
    assert "  step 1: draft_reply attempt 1 ok" in lines
    assert cli(capsys, "events", "send", run_id, "approval", APPROVE, "--target", SUPPORT,
               "--db", db)[0] == 0
    code, out, _ = cli(capsys, "runs", "show", run_id, "--db", db)
    assert code == 0
    assert out.splitlines() == [
        f"run {run_id}: completed (graph support_agent 0.1.0, step 4)",
        "  step 1: draft_reply attempt 1 ok",
        "  step 2: event:approval attempt 1 ok",
        "  step 3: apply_decision attempt 1 ok",
        "  step 4: send_reply attempt 1 ok",
    ]
    code, out, _ = cli(capsys, "runs", "show", run_id, "--db", db, "--json")
    assert code == 0
    document = json.loads(out)
    assert document["run"]["status"] == "completed"
    assert [h["node"] for h in document["history"]] == [
        "draft_reply", "event:approval", "apply_decision", "send_reply"]


def test_runs_show_of_a_failed_run_prints_the_error(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    module = tmp_path / "failing_graph.py"
    module.write_text(FAILING_GRAPH, encoding="utf-8")
    assert cli(capsys, "run", str(module), "--db", db, "--instance-id", "f1")[0] == 4
    code, out, _ = cli(capsys, "runs", "show", "f1", "--db", db)
    assert code == 0
    assert "  step 1: prepare attempt 1 ok" in out
    assert "  step 2: explode attempt 1 failed: the widget exploded" in out
    assert re.search(r"^  error \[\w+\]: .*the widget exploded", out, re.M)


def test_runs_show_of_an_unknown_run(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, out, err = cli(capsys, "runs", "show", "ghost", "--db", db)
    assert code == 2 and out == ""
    assert_one_error_line(err, "RUN_NOT_FOUND", "ghost")


def test_runs_cancel_a_waiting_run(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run_id = start_waiting_ticket(capsys, db)
    code, out, err = cli(capsys, "runs", "cancel", run_id, "--target", SUPPORT, "--db", db,
                         "--reason", "duplicate ticket")
    assert code == 0, err
    assert out == f"run {run_id}: cancelled\n"
    code, out, _ = cli(capsys, "runs", "show", run_id, "--db", db, "--json")
    run = json.loads(out)["run"]
    assert run["status"] == "cancelled" and run["waiting_for"] == []
    # A finished run cannot be cancelled again; nor can it take events.
    code, _, err = cli(capsys, "runs", "cancel", run_id, "--target", SUPPORT, "--db", db)
    assert code == 2
    assert_one_error_line(err, "RUN_CONFLICT", run_id)
    code, _, err = cli(capsys, "events", "send", run_id, "approval", APPROVE,
                       "--target", SUPPORT, "--db", db)
    assert code == 2
    assert_one_error_line(err, "RUN_CONFLICT", run_id)


def test_runs_cancel_force_terminates(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run_id = start_waiting_ticket(capsys, db)
    code, out, err = cli(capsys, "runs", "cancel", run_id, "--force", "--target", SUPPORT,
                         "--db", db, "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["status"] == "cancelled" and document["error"] is None
    with SqliteRunStore(db) as store:
        assert store.next_timer_at() is None  # the approval deadline went with the run


def test_runs_cancel_of_an_unknown_run(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, _, err = cli(capsys, "runs", "cancel", "ghost", "--target", SUPPORT, "--db", db)
    assert code == 2
    assert_one_error_line(err, "RUN_NOT_FOUND", "ghost")


def test_events_send_no_wait_stores_the_event_durably(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    run_id = start_waiting_ticket(capsys, db)
    code, out, err = cli(capsys, "events", "send", run_id, "approval", APPROVE, "--no-wait",
                         "--target", SUPPORT, "--db", db, "--json")
    assert code == 0, err
    assert json.loads(out)["instance_id"] == run_id

    # Whatever the closing engine got done, the next engine on the file finishes the run.
    async def resume() -> str:
        async with LocalEngine(db) as engine:
            for registration in valid_registrations(SUPPORT):
                engine.register(registration)
            status = await engine.wait(run_id, timeout=10)
            assert status.output is not None and status.output["state"]["status"] == "sent"
            return status.status

    assert asyncio.run(resume()) == "completed"
