"""The custom status stays within the host's 16 KB of UTF-16, whatever goes into it.

The host refuses (fails the orchestration on) a custom status whose Json.NET text is over 16 KB
in UTF-16 (``DurableOrchestrationContext.SetCustomStatus``); the emulator enforces it. A cancel
reason, an error message or long names must never make a run fail that way: the status is cut,
in one place (``azure/protocol.py``), to 8,192 UTF-16 code units.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from azure_functions_durable_graph import ManifestBuilder, RouteDecision
from azure_functions_durable_graph.azure.protocol import (
    CUSTOM_STATUS_MAX_UNITS,
    custom_status_units,
    fit_custom_status,
    progress_status,
)
from azure_functions_durable_graph.core import compile_manifest, start_run
from http_conformance import ENGINES, LocalHttpEngine

EMOJI = "\U0001f600"
BASE: dict[str, Any] = {"status": "running", "step": 3, "current_nodes": ["a"], "waiting_for": [],
                        "graph_name": "g", "graph_version": "1", "graph_hash": "f" * 64, "results": 3}


def host_accepts(status: Any) -> bool:
    """The host's check, written out: Json.NET's text (compact; non-ASCII as is, but U+0085,
    U+2028 and U+2029 escaped), its UTF-16 byte count, rounded down to whole KB, at most 16."""
    text = json.dumps(status, separators=(",", ":"), ensure_ascii=False)
    for char in ("\u0085", "\u2028", "\u2029"):
        text = text.replace(char, f"\\u{ord(char):04x}")
    return int(len(text.encode("utf-16-le", "surrogatepass")) / 1024) <= 16


def _with_reason(reason: str) -> dict[str, Any]:
    return {**BASE, "status": "cancelled", "cancel": {"reason": reason}}


def test_a_status_at_the_limit_is_left_whole_and_one_unit_more_is_cut() -> None:
    padding = CUSTOM_STATUS_MAX_UNITS - custom_status_units(_with_reason(""))
    at_limit = _with_reason("x" * padding)
    assert custom_status_units(at_limit) == CUSTOM_STATUS_MAX_UNITS
    assert fit_custom_status(at_limit) is at_limit and host_accepts(at_limit)
    over = _with_reason("x" * (padding + 1))
    fitted = fit_custom_status(over)
    assert custom_status_units(fitted) <= CUSTOM_STATUS_MAX_UNITS and fitted["truncated"] is True
    kept = fitted["cancel"]["reason"]
    assert kept == "x" * (len(kept) - 1) + "\u2026" and len(kept) > padding - 30
    longer = {**fitted, "cancel": {"reason": "x" + kept}}
    assert custom_status_units(longer) > CUSTOM_STATUS_MAX_UNITS  # the longest prefix that fits
    assert over["cancel"]["reason"] == "x" * (padding + 1)  # the input is not changed


@pytest.mark.parametrize("reason", [
    "x" * 20_000, EMOJI * 9_000, "\u2028" * 5_000, '"' * 9_000, "\\" * 9_000, "\x01" * 3_000,
    "ü" * 20_000, "a" + EMOJI * 8_190,
], ids=["ascii", "emoji", "line-separator", "quotes", "backslashes", "controls", "latin", "emoji-after-a"])
def test_long_cancel_reasons_are_cut_to_fit(reason: str) -> None:
    fitted = fit_custom_status(_with_reason(reason))
    assert custom_status_units(fitted) <= CUSTOM_STATUS_MAX_UNITS and host_accepts(fitted)
    kept = fitted["cancel"]["reason"]
    assert kept.endswith("\u2026") and reason.startswith(kept[:-1]) and len(kept) > 500
    kept.encode("utf-16-le")  # no surrogate pair was split (a lone surrogate cannot encode)
    assert fitted["status"] == "cancelled" and fitted["graph_hash"] == BASE["graph_hash"]


def test_every_part_gives_way_in_turn() -> None:
    huge = {**BASE, "current_nodes": ["n" * 5000] * 50, "graph_name": "g" * 20_000,
            "waiting_for": [{"event": "e" * 3000, "node": "n", "resume_node": "r", "on_timeout": None,
                             "deadline": None}] * 50,
            "cancel": {"reason": "r" * 9000}, "error": {"type": "T" * 9000, "message": "m" * 9000}}
    fitted = fit_custom_status(huge)
    assert custom_status_units(fitted) <= CUSTOM_STATUS_MAX_UNITS and host_accepts(fitted)
    assert (fitted["status"], fitted["graph_hash"], fitted["step"]) == ("running", "f" * 64, 3)


def test_progress_status_caps_what_the_snapshot_holds() -> None:
    class State(BaseModel):
        x: int = 0

    builder = ManifestBuilder(graph_name="g", state_model=State)
    builder.set_entrypoint("a")
    builder.add_node("a", lambda s: None, terminal=True)
    graph = compile_manifest(builder.build().manifest)
    snapshot, _ = start_run(graph, {"x": 0}, run_id="r", metadata={}, now=0.0)
    snapshot["cancel"] = {"reason": EMOJI * 9000}
    snapshot["error"] = {"type": "ValueError", "message": "m" * 30_000, "details": [{"x": "y" * 30_000}]}
    status = progress_status(graph, snapshot, 0)
    assert custom_status_units(status) <= CUSTOM_STATUS_MAX_UNITS and host_accepts(status)
    assert "details" not in status["error"] and status["error"]["type"] == "ValueError"


texts = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from([EMOJI, "\u2028", '"', "\\", "\n"]),
                max_size=3000)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(reason=texts, message=texts, nodes=st.lists(texts, max_size=8), name=texts)
def test_any_status_fits_and_fitting_is_stable(reason: str, message: str, nodes: list[str], name: str) -> None:
    status = {**BASE, "current_nodes": nodes, "graph_name": name, "cancel": {"reason": reason * 3},
              "error": {"type": "E", "message": message * 3}}
    fitted = fit_custom_status(status)
    assert custom_status_units(fitted) <= CUSTOM_STATUS_MAX_UNITS and host_accepts(fitted)
    assert fit_custom_status(fitted) == fitted == fit_custom_status(status)  # replays agree


class Waiting(BaseModel):
    note: str = ""


def _waiting_graph() -> Any:
    builder = ManifestBuilder(graph_name="patient", state_model=Waiting)
    wait = RouteDecision.wait_for_event("go", "done")
    builder.set_entrypoint("ask")
    builder.add_node("ask", lambda s: None, route=lambda s: wait, route_targets=[wait])
    builder.add_node("done", lambda s: None, terminal=True)
    builder.add_event_handler("go")
    return builder.build()


@pytest.mark.parametrize("engine_name", list(ENGINES))
@pytest.mark.parametrize("reason", ["r" * 20_000, EMOJI * 9_000], ids=["20000-chars", "9000-emoji"])
def test_a_long_cancel_reason_cancels_the_run_on_both_engines(engine_name: str, reason: str) -> None:
    with ENGINES[engine_name](_waiting_graph()) as engine:
        assert engine.client.post("/api/graphs/patient/runs", json={"instance_id": "p"}).status_code == 202
        assert engine.settle("p")["status"] == "waiting"
        assert engine.client.post("/api/runs/p/cancel", json={"reason": reason}).status_code == 202
        run = engine.settle("p")
        assert (run["status"], run["error"]) == ("cancelled", None)
        kept = run["cancel"]["reason"]
        if isinstance(engine, LocalHttpEngine):
            assert kept == reason
        else:  # read back from the capped custom status
            assert kept.endswith("\u2026") and reason.startswith(kept[:-1]) and len(kept) > 3000


def _failing_graph() -> Any:
    builder = ManifestBuilder(graph_name="fragile", state_model=Waiting)
    builder.set_entrypoint("boom")

    def boom(state: Waiting) -> None:
        raise ValueError("broken: " + EMOJI * 12_000)

    builder.add_node("boom", boom, terminal=True)
    return builder.build()


@pytest.mark.parametrize("engine_name", list(ENGINES))
def test_a_huge_error_message_fails_the_run_with_the_nodes_error(engine_name: str) -> None:
    with ENGINES[engine_name](_failing_graph()) as engine:
        assert engine.client.post("/api/graphs/fragile/runs", json={"instance_id": "f"}).status_code == 202
        run = engine.settle("f")
        assert run["status"] == "failed"
        assert run["error"]["node"] == "boom" and run["error"]["message"].startswith("broken: " + EMOJI)
        history = engine.client.get(f"/api/runs/{quote('f')}/history").json()["steps"]
        assert [s["node"] for s in history] == ["boom"] and history[0]["ok"] is False
