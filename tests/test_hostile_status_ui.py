"""What an API client and an inspector user read: ``runtime_status``, timestamps, run ids, focus
and the diagram's edge labels.

- Every way a run can end (or be found) gives the same ``status`` and ``runtime_status`` on the
  local engine and on the generated Functions app under the Durable emulator (whose status is
  the instance's real ``runtimeStatus``), and both agree with the one table in docs/http.md.
- Every instant in every answer (run, list, history, stream, CLI ``--json``) is ISO 8601 UTC.
- In a real browser: whole run ids, a focus ring of the theme (not the error colour) and edge
  labels that never intersect. Browser tests skip without Playwright or Chromium.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from pydantic import BaseModel

from azure_functions_durable_graph import GraphRegistration, ManifestBuilder, RouteDecision
from cli_helpers import run_cli
from http_conformance import ENGINES, FINISHED, HttpEngine
from scenarios import build_wait_event
from ui_helpers import UI_TIMEOUT_MS, browser_missing, new_page, serve

REPO = Path(__file__).resolve().parent.parent
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
BOUND_SECONDS = 10.0
POLLS = 400


class Gate:
    """Holds the ``work`` node until the test releases it (bounded)."""

    def __init__(self, released: bool = True) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        if released:
            self.release.set()

    def work(self, state: CaseState) -> dict[str, Any]:
        self.entered.set()
        assert self.release.wait(BOUND_SECONDS), "the test never released the node"
        if state.mode == "fail":
            raise ValueError("the work failed")
        return {"log": ["work"]}


class CaseState(BaseModel):
    mode: str = "done"  # done | wait | fail
    log: list[str] = []


def build(gate: Gate) -> GraphRegistration:
    b = ManifestBuilder(graph_name="status_cases", state_model=CaseState)
    wait = RouteDecision.wait_for_event("go", "finish")
    b.set_entrypoint("work")
    b.add_node("work", gate.work, route=lambda s: wait if s.mode == "wait" else "finish",
               route_targets=[wait, "finish"])
    b.add_node("finish", lambda s: {"log": [*s.log, "finish"]}, terminal=True)
    b.add_event_handler("go")
    return b.build()


def _url(instance_id: str) -> str:
    return f"/api/runs/{quote(instance_id, safe='')}"


def _poll(engine: HttpEngine, instance_id: str, statuses: set[str]) -> dict[str, Any]:
    """The run once its status is one of ``statuses`` (no settling: a held node stays held)."""
    for _ in range(POLLS):
        run: dict[str, Any] = engine.client.get(_url(instance_id)).json()
        if run["status"] in statuses:
            return run
        threading.Event().wait(0.025)  # real time only bounds the engines' own threads here
    raise AssertionError(f"run {instance_id} never reached {statuses}: {run}")


def _cancel(engine: HttpEngine, instance_id: str, *, force: bool) -> None:
    response = engine.client.post(f"{_url(instance_id)}/cancel" + ("?force=true" if force else ""),
                                  json={"reason": "case"})
    assert response.status_code == 202, response.text


def play(case: str, engine: HttpEngine, gate: Gate) -> dict[str, Any]:
    """Drive one case of the table over HTTP; the run resource the case ends on."""
    held = case in ("running", "graceful cancel while a node runs", "forced cancel while a node runs")
    mode = {"failed": "fail", "completed": "done", "running": "done"}.get(case, "wait")
    instance_id = "status-" + case.replace(" ", "-")
    started = engine.client.post("/api/graphs/status_cases/runs", json={"input": {"mode": mode}, "instance_id": instance_id})
    assert started.status_code == 202, started.text
    if held:
        assert gate.entered.wait(BOUND_SECONDS)
        running = _poll(engine, instance_id, {"running"})
        if case == "running":
            gate.release.set()
            engine.settle(instance_id)  # leave no work behind
            return running
        _cancel(engine, instance_id, force=case.startswith("forced"))
        gate.release.set()
        return _poll(engine, instance_id, set(FINISHED)) if case.startswith("forced") else engine.settle(instance_id)
    run = engine.settle(instance_id)
    if case.endswith("while waiting"):
        assert run["status"] == "waiting", run
        _cancel(engine, instance_id, force=case.startswith("forced"))
        run = engine.settle(instance_id)
    return run


# case -> (graph status, words of the docs table's "how" cell, runtime_status)
CASES = {
    "completed": ("completed", "every branch ended", "Completed"),
    "failed": ("failed", "failed for good", "Failed"),
    "waiting": ("waiting", "parked on", "Running"),
    "running": ("running", "a node", "Running"),
    "graceful cancel while waiting": ("cancelled", "graceful cancel (", "Completed"),
    "graceful cancel while a node runs": ("cancelled", "graceful cancel while a node runs", "Completed"),
    "forced cancel while waiting": ("cancelled", "forced cancel", "Terminated"),
    "forced cancel while a node runs": ("cancelled", "forced cancel", "Terminated"),
}


def docs_table() -> list[tuple[str, str, str]]:
    """Rows (graph status, how, runtime_status) of the table in docs/http.md."""
    rows = []
    for line in (REPO / "docs" / "http.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[2].startswith("`"):
            rows.append((cells[0].strip("`"), cells[1], cells[2].split("`")[1]))
    return rows


@pytest.mark.parametrize("case", list(CASES))
def test_status_and_runtime_status_on_both_engines_match_the_docs_table(case: str) -> None:
    status, how, runtime = CASES[case]
    documented = [r for r in docs_table() if r[0] == status and how in r[1]]
    assert len(documented) == 1, f"docs/http.md has no single row for {case!r}: {documented}"
    assert documented[0][2] == runtime, f"docs/http.md says {documented[0][2]} for {case!r}"
    seen = {}
    for name, engine_for in ENGINES.items():
        gate = Gate(released="node runs" not in case and case != "running")
        with engine_for(build(gate)) as engine:
            run = play(case, engine, gate)
        seen[name] = (run["status"], run["runtime_status"], bool((run.get("cancel") or {}).get("terminated")))
    assert seen["local"] == seen["emulator"] == (status, runtime, runtime == "Terminated"), seen


# --- timestamps ---------------------------------------------------------------------------------


def _times(value: Any, key: str = "") -> list[tuple[str, Any]]:
    """Every (key, value) under a time key, anywhere in ``value``."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _times(v, k)]
    if isinstance(value, list):
        return [t for v in value for t in _times(v, key)]
    return [(key, value)] if key.endswith("_at") or key == "deadline" else []


@pytest.mark.parametrize("engine_name", list(ENGINES))
def test_every_instant_in_every_answer_is_iso_8601_utc(engine_name: str) -> None:
    with ENGINES[engine_name](build_wait_event()) as engine:
        client = engine.client
        assert client.post("/api/graphs/wait_event/runs", json={"instance_id": "iso-1"}).status_code == 202
        waiting = engine.settle("iso-1")
        assert waiting["waiting_for"][0]["deadline"] == "2023-11-14T23:13:20.000000Z"  # clock start + 3600 s
        assert client.post("/api/runs/iso-1/events/go", json={"x": 5}).status_code == 202
        done = engine.settle("iso-1")
        listed = client.get("/api/runs").json()
        steps = client.get("/api/runs/iso-1/history").json()
        stream = client.get("/api/runs/iso-1/stream").text
        events = [json.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: ")]
        answers = {"waiting": waiting, "done": done, "list": listed, "history": steps, "stream": events}
        for name, answer in answers.items():
            times = _times(answer)
            assert times, f"{name} carries no instant"
            for key, value in times:
                assert value is None and key == "deadline" or isinstance(value, str) and ISO.match(value), \
                    f"{name}: {key} = {value!r}"
        assert all(s["started_at"] <= s["finished_at"] for s in steps["steps"])
        # The API's own instant works as a filter, exactly: created_after includes, before excludes.
        created = done["created_at"]
        after = client.get("/api/runs", params={"created_after": created}).json()["runs"]
        before = client.get("/api/runs", params={"created_before": created}).json()["runs"]
        assert [r["instance_id"] for r in after] == ["iso-1"] and before == []
        refused = client.get("/api/runs", params={"created_after": "last tuesday"})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "INVALID_INPUT"
        assert "created_after" in refused.json()["error"]["message"]
        schemas = client.get("/api/openapi.json").json()["components"]["schemas"]
        assert schemas["Run"]["properties"]["created_at"] == {"type": "string", "format": "date-time"}


def test_cli_json_prints_iso_instants(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    support = str(REPO / "examples" / "support_agent.py")
    code, out, err = run_cli(capsys, "run", support, "--input", '{"ticket": "Late"}', "--db", db,
                             "--instance-id", "cli-iso", "--json")
    assert code == 3, err
    run = json.loads(out.splitlines()[-1])  # the status document follows the streamed events
    assert ISO.match(run["created_at"]) and ISO.match(run["waiting_for"][0]["deadline"])
    code, out, err = run_cli(capsys, "runs", "show", "cli-iso", "--db", db, "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert all(ISO.match(v) for _, v in _times(shown)), shown
    assert ISO.match(shown["history"][0]["started_at"])


# --- the inspector in a browser -----------------------------------------------------------------

needs_browser = pytest.mark.skipif(browser_missing() is not None, reason=f"browser tests skipped: {browser_missing()}")
LONG_ID = "order-" + "x" * 50 + "-end"

CROWDED_GRAPHS = '''
from pydantic import BaseModel
from azure_functions_durable_graph import DurableGraphApp, ManifestBuilder, RouteDecision

class S(BaseModel):
    x: int = 0

runtime = DurableGraphApp()
b = ManifestBuilder(graph_name="approval_loop", state_model=S)
w1 = RouteDecision.wait_for_event("approval", "decide", timeout=60, on_timeout="escalate")
w2 = RouteDecision.wait_for_event("approval_again", "decide", timeout=60, on_timeout="escalate")
b.set_entrypoint("draft")
b.add_node("draft", lambda s: {}, route=lambda s: w1, route_targets=[w1, w2])
b.add_node("decide", lambda s: {}, route=lambda s: "draft", route_targets=["draft", "escalate", "done"])
b.add_node("escalate", lambda s: {}, route=lambda s: w2, route_targets=[w2, "done"])
b.add_node("done", lambda s: {}, terminal=True)
b.add_event_handler("approval")
b.add_event_handler("approval_again")
runtime.register_registration(b.build())
b = ManifestBuilder(graph_name="many_waits", state_model=S)
waits = [RouteDecision.wait_for_event(f"ev{i}", f"r{i}", timeout=60, on_timeout=f"t{i}") for i in range(4)]
b.set_entrypoint("ask")
b.add_node("ask", lambda s: {}, route=lambda s: waits[0], route_targets=waits)
for i in range(4):
    b.add_node(f"r{i}", lambda s: {}, terminal=True)
    b.add_node(f"t{i}", lambda s: {}, terminal=True)
    b.add_event_handler(f"ev{i}")
runtime.register_registration(b.build())
app = runtime.function_app
'''

LABEL_BOXES = """() => [...document.querySelectorAll('.diagram-svg .edge-label')].map((g) => {
  const box = g.getBBox();
  return {text: g.textContent, x: box.x, y: box.y, width: box.width, height: box.height};
})"""


@needs_browser
def test_run_ids_are_shown_whole_and_only_very_long_ones_are_cut(browser: Any, examples: Any) -> None:
    from playwright.sync_api import expect

    for run_id in ("http-ticket-1", "http-ticket-2", LONG_ID):
        examples.call("POST", "/graphs/support_agent/runs", {"input": {"ticket": "Late"}, "instance_id": run_id})
    page = new_page(browser)
    try:
        page.goto(f"{examples.base}/#/runs?graph=support_agent")
        for run_id in ("http-ticket-1", "http-ticket-2"):
            link = page.locator(f'tr[data-run="{run_id}"] a.mono')
            expect(link).to_have_text(run_id, timeout=UI_TIMEOUT_MS)
            assert link.get_attribute("title") is None
        cut = page.locator(f'tr[data-run="{LONG_ID}"] a.mono')
        expect(cut).to_have_attribute("title", LONG_ID)
        text = cut.inner_text()
        assert len(text) == 40 and "…" in text and text.startswith("order-xx") and text.endswith("x-end")
        page.goto(f"{examples.base}/#/runs/http-ticket-2")
        expect(page.locator("main h1")).to_have_text("Run http-ticket-2")
        run = examples.call("GET", "/runs/http-ticket-2")
        expect(page.locator(".run-facts time").first).to_have_attribute("datetime", run["created_at"])
        assert not page.js_errors, page.js_errors
    finally:
        page.context.close()


def _hue(rgb: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", rgb)[:3])
    high, low = max(r, g, b), min(r, g, b)
    if high == low:
        return 0.0
    if high == r:
        return (60 * (g - b) / (high - low)) % 360
    return 60 * ((b - r) / (high - low) + 2) if high == g else 60 * ((r - g) / (high - low) + 4)


@needs_browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_headings_focus_ring_is_the_themes_not_an_error_colour(browser: Any, examples: Any, scheme: str) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1200, "height": 900}, color_scheme=scheme)
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(f"{examples.base}/#/graphs")
        page.get_by_role("link", name="Start a run of support_agent").focus()
        page.keyboard.press("Enter")
        expect(page.locator("main h1")).to_be_focused()
        ring = page.evaluate("""() => {
          const el = document.activeElement, style = getComputedStyle(el);
          const bad = getComputedStyle(document.documentElement).getPropertyValue('--bad');
          const probe = document.createElement('span');
          probe.style.color = bad;
          document.body.append(probe);
          const badRgb = getComputedStyle(probe).color;
          probe.remove();
          return {visible: el.matches(':focus-visible'), style: style.outlineStyle, color: style.outlineColor, bad: badRgb};
        }""")
        assert ring["visible"] and ring["style"] == "solid", ring
        assert ring["color"] != ring["bad"], ring
        assert 180 <= _hue(ring["color"]) <= 260, f"the focus ring is not a blue of the theme: {ring}"
    finally:
        context.close()


def _intersections(boxes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a["text"], b["text"]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]]


@needs_browser
def test_edge_labels_never_intersect(browser: Any, examples: Any, tmp_path: Path) -> None:
    crowded = tmp_path / "crowded_app.py"
    crowded.write_text(CROWDED_GRAPHS, encoding="utf-8")
    page = new_page(browser)
    try:
        with serve(crowded, tmp_path) as served:
            for base in (examples.base, served.base):
                graphs = json.loads(page.request.get(f"{base}/api/graphs").text())["graphs"]
                for graph in graphs:
                    page.goto(f"{base}/#/graphs/{graph['name']}")
                    page.locator(".diagram-svg").wait_for()
                    boxes = page.evaluate(LABEL_BOXES)
                    assert len(boxes) == len(graph_edges(page, base, graph["name"])), graph["name"]
                    assert _intersections(boxes) == [], f"{graph['name']}: labels overlap"
        assert not page.js_errors, page.js_errors
    finally:
        page.context.close()


def graph_edges(page: Any, base: str, name: str) -> list[str]:
    """The labelled edges of a graph by the API (wait, timeout, error kinds)."""
    detail = json.loads(page.request.get(f"{base}/api/graphs/{name}").text())
    return [e["kind"] for e in detail["edges"] if e["kind"] in ("wait", "timeout", "error")]
