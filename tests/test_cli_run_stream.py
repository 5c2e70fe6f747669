"""``durable-graph run`` shows the run's stream: steps, waits and the nodes' emits, live.

Tokens are written inline as they come, other emits one line each; ``--json`` writes every
streamed event as a JSON line and the run's status document last.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from azure_functions_durable_graph.cli.run_output import Progress
from cli_helpers import run_cli as cli

DRAFTS_GRAPH = '''
import asyncio
import sys

from pydantic import BaseModel

from azure_functions_durable_graph import ManifestBuilder, RouteDecision
from azure_functions_durable_graph.execution import NodeContext


class Draft(BaseModel):
    topic: str = "refund"
    text: str = ""
    reviewer: str = ""


class Review(BaseModel):
    reviewer: str


async def write(state: Draft, ctx: NodeContext) -> dict:
    words = await ctx.emit_each(["Dear", " customer", ", your ", state.topic])
    ctx.emit({"stage": "drafted", "words": len(words)})
    return {"text": "".join(words)}


def check(state: Draft, ctx: NodeContext) -> dict:
    ctx.emit("looks fine", kind="status")
    return {}


drafts = ManifestBuilder(graph_name="drafts", state_model=Draft)
drafts.set_entrypoint("write")
drafts.add_node("write", write, next_node="check")
drafts.add_node("check", check, terminal=True)

WAIT = RouteDecision.wait_for_event(event_name="review", resume_node="publish")


def ask(state: Draft) -> RouteDecision:
    return WAIT


def record(state: Draft, payload: Review) -> dict:
    return {"reviewer": Review.model_validate(payload).reviewer}


def publish(state: Draft, ctx: NodeContext) -> dict:
    ctx.emit({"published_by": state.reviewer})
    return {}


reviewed = ManifestBuilder(graph_name="reviewed", state_model=Draft)
reviewed.set_entrypoint("write")
reviewed.add_node("write", write, route=ask, route_targets=[WAIT])
reviewed.add_node("publish", publish, terminal=True)
reviewed.add_event_handler("review", record, payload_model=Review)


def held(state: Draft, ctx: NodeContext) -> dict:
    for word in ("still", " thinking"):
        ctx.emit(word, kind="token")
    sys.stdin.readline()  # the test answers once it has seen the tokens
    return {"text": "done"}


holding = ManifestBuilder(graph_name="holding", state_model=Draft)
holding.set_entrypoint("held")
holding.add_node("held", held, terminal=True)
'''

WAIT_SECONDS = 20.0


@pytest.fixture
def graphs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(sys, "path", list(sys.path))  # loading a target puts its folder first
    monkeypatch.chdir(tmp_path)
    module = tmp_path / "drafts_graphs.py"
    module.write_text(DRAFTS_GRAPH, encoding="utf-8")
    return str(module)


def test_tokens_inline_and_other_emits_as_lines(capsys: pytest.CaptureFixture[str], graphs: str) -> None:
    code, out, err = cli(capsys, "run", graphs, "--graph", "drafts", "--db", "runs.db")
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0] == "token  write: Dear customer, your refund"
    assert lines[1] == 'emit   write: {"stage":"drafted","words":4}'
    assert lines[2].startswith("ok     write (step 1, ") and lines[2].endswith(" ms)")
    assert lines[3] == 'emit   check [status]: "looks fine"'
    assert lines[4].startswith("ok     check (step 2, ")
    assert len(lines) == 5, err
    assert out.startswith("run ") and '"text": "Dear customer, your refund"' in out


def test_json_lines_carry_the_emits_in_order_then_the_status(
    capsys: pytest.CaptureFixture[str], graphs: str
) -> None:
    code, out, err = cli(capsys, "run", graphs, "--graph", "drafts", "--db", "runs.db", "--json",
                         "--instance-id", "d-1")
    assert code == 0, err
    assert err == ""
    events = [json.loads(line) for line in out.splitlines()]
    status = events.pop()
    assert status["instance_id"] == "d-1" and status["status"] == "completed"
    assert status["output"]["state"]["text"] == "Dear customer, your refund"
    assert events[-1] == {"type": "end", "status": "completed", "instance_id": "d-1"}
    emits = [(e["node"], e["kind"], e["data"]) for e in events if e["type"] == "emit"]
    assert emits == [
        ("write", "token", "Dear"), ("write", "token", " customer"), ("write", "token", ", your "),
        ("write", "token", "refund"), ("write", "custom", {"stage": "drafted", "words": 4}),
        ("check", "status", "looks fine"),
    ]
    types = [e["type"] for e in events]
    assert types.index("task_completed") == types.index("emit") + 5  # write's emits, then its step
    seqs = [e["seq"] for e in events[:-1]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_a_run_that_parks_shows_its_emits_and_stops_at_the_wait(
    capsys: pytest.CaptureFixture[str], graphs: str
) -> None:
    code, out, err = cli(capsys, "run", graphs, "--graph", "reviewed", "--db", "runs.db",
                         "--instance-id", "r-1")
    assert code == 3, (out, err)
    assert err.splitlines()[0] == "token  write: Dear customer, your refund"
    assert err.splitlines()[-1] == "wait   write is waiting for event 'review'"
    assert out.startswith("run r-1: waiting")


def test_a_buffered_event_answers_the_wait_and_the_stream_goes_on(
    capsys: pytest.CaptureFixture[str], graphs: str
) -> None:
    code, out, err = cli(capsys, "run", graphs, "--graph", "reviewed", "--db", "runs.db", "--json",
                         "--event", 'review={"reviewer": "ana"}')
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events.pop()["status"] == "completed"
    types = [e["type"] for e in events]
    assert "event_received" in types  # stored as it was raised, before the run waited
    after_wait = events[types.index("waiting") + 1:]
    assert [e["node"] for e in after_wait if e["type"] == "task_completed"] == ["event:review", "publish"]
    assert [e["data"] for e in events if e["type"] == "emit"][-1] == {"published_by": "ana"}
    assert types[-2:] == ["run_completed", "end"]


def test_the_same_instance_id_again_shows_no_old_progress(
    capsys: pytest.CaptureFixture[str], graphs: str
) -> None:
    argv = ("run", graphs, "--graph", "drafts", "--db", "runs.db", "--instance-id", "again")
    assert cli(capsys, *argv)[0] == 0
    code, out, err = cli(capsys, *argv)
    assert code == 0 and err == ""
    assert out.startswith("run again: completed")


def test_tokens_are_shown_while_the_node_still_runs(graphs: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_GRAPH_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "azure_functions_durable_graph.cli", "run", graphs, "--graph", "holding",
         "--db", str(tmp_path / "runs.db")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=env)
    assert process.stdin is not None and process.stderr is not None
    seen = bytearray()
    arrived = threading.Event()

    def read_stderr() -> None:
        assert process.stderr is not None
        while chunk := os.read(process.stderr.fileno(), 4096):
            seen.extend(chunk)
            arrived.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while b"token  held: still thinking" not in seen:  # written with no newline yet
            assert process.poll() is None, seen.decode()
            assert arrived.wait(max(0.0, deadline - time.monotonic())), f"no tokens: {seen.decode()!r}"
            arrived.clear()
        assert b"ok " not in seen  # the node is still blocked on its stdin
        process.stdin.write(b"go\n")
        process.stdin.close()
        process.wait(timeout=WAIT_SECONDS)
        assert process.stdout is not None
        out = process.stdout.read()  # a few lines: the pipe held them
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(WAIT_SECONDS)
    assert process.returncode == 0, seen.decode()
    lines = seen.decode().splitlines()
    assert lines[0] == "token  held: still thinking"
    assert lines[1].startswith("ok     held (step 1, ")
    assert b'"text": "done"' in out


def _progress(events: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    progress = Progress(buffer)
    for event in events:
        progress.show(event)
    progress.finish()
    return buffer.getvalue()


def emit(data: Any, kind: str = "token", *, node: str = "write", attempt: int = 1) -> dict[str, Any]:
    return {"type": "emit", "node": node, "step": 1, "attempt": attempt, "task_id": f"1:0:{node}",
            "kind": kind, "data": data}


def test_dropped_emits_attempts_and_interleaved_token_lines() -> None:
    text = _progress([
        {"type": "emits_dropped", "dropped": 3},
        emit("a"), emit("b"),
        emit("x", node="other"),
        emit({"n": 1}, "custom"),
        emit("again", attempt=2),
        emit({"score": 0.5}, "score", attempt=2),
    ])
    assert text.splitlines() == [
        "dropped 3 earlier emits (over the run's emit limit)",
        "token  write: ab",
        "token  other: x",
        'emit   write: {"n":1}',
        "token  write (attempt 2): again",
        'emit   write (attempt 2) [score]: {"score":0.5}',
    ]
    assert text.endswith("\n")  # an open token line is ended when the progress finishes
    assert _progress([emit("open")]) == "token  write: open\n"
