"""The web inspector in a real browser (system Chromium through Playwright).

A ``durable-graph serve`` process serves the examples (or a small failing graph); the tests
drive the page the way a user does: by labels, roles and keyboard. Every wait is bounded
(``ui_helpers.UI_TIMEOUT_MS``). Skipped as a whole when Playwright or Chromium is missing.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ui_helpers import (
    EXAMPLES_APP,
    UI_TIMEOUT_MS,
    browser_missing,
    new_page,
    serve,
    start_support_run,
)

_missing = browser_missing()
if _missing:
    pytest.skip(f"browser tests skipped: {_missing}", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

expect.set_options(timeout=UI_TIMEOUT_MS)

FAILING_GRAPH = '''
from pydantic import BaseModel

from azure_functions_durable_graph import DurableGraphApp, ManifestBuilder


class BoomState(BaseModel):
    name: str
    count: int = 0


def explode(state: BoomState) -> dict:
    raise ValueError("boom")


builder = ManifestBuilder(graph_name="boom_graph", state_model=BoomState)
builder.set_entrypoint("explode")
builder.add_node("explode", explode, terminal=True)
runtime = DurableGraphApp()
runtime.register_registration(builder.build())
app = runtime.function_app
'''

# fan-out, a join, an error route, a self loop, typed fields and add/extend/union reducers
FEATURES_GRAPH = '''
import operator
from enum import Enum
from typing import Annotated

from pydantic import BaseModel

from azure_functions_durable_graph import DurableGraphApp, ManifestBuilder, RouteDecision, reducers


class Color(str, Enum):
    red = "red"
    green = "green"


class Point(BaseModel):
    x: int = 0
    y: int = 0


class FeatureState(BaseModel):
    label: str
    color: Color = Color.red
    weights: list[int] = []
    origin: Point = Point()
    total: Annotated[int, operator.add] = 0
    items: Annotated[list[str], reducers.extend] = []
    tags: Annotated[list[str], reducers.union] = []
    rounds: int = 0


def split(state: FeatureState) -> dict:
    return {"items": ["split"], "total": 1}


def left(state: FeatureState) -> dict:
    return {"items": ["left"], "total": 10, "tags": ["l", "shared"]}


def right(state: FeatureState) -> dict:
    return {"items": ["right"], "total": 100, "tags": ["r", "shared"]}


def merge(state: FeatureState) -> dict:
    return {"items": ["merge"]}


def loop(state: FeatureState) -> dict:
    return {"rounds": state.rounds + 1, "total": 1000}


def again(state: FeatureState) -> RouteDecision:
    return RouteDecision.next("loop" if state.rounds < 2 else "finish")


def finish(state: FeatureState) -> dict:
    return {"items": ["finish"]}


def recover(state: FeatureState) -> dict:
    return {"items": ["recovered"]}


builder = ManifestBuilder(graph_name="features", state_model=FeatureState)
builder.set_entrypoint("split")
builder.add_node("split", split, next_node=["left", "right"])
builder.add_node("left", left, next_node="merge", on_error="recover")
builder.add_node("right", right, next_node="merge")
builder.add_node("merge", merge, next_node="loop", join=True)
builder.add_node("loop", loop, route=again, route_targets=["loop", "finish"])
builder.add_node("finish", finish, terminal=True)
builder.add_node("recover", recover, terminal=True)
runtime = DurableGraphApp()
runtime.register_registration(builder.build())
app = runtime.function_app
'''


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    opened = new_page(browser)
    yield opened
    errors = list(opened.js_errors)
    opened.context.close()
    assert not errors, f"errors in the page: {errors}"


def test_graphs_page_lists_every_graph_with_diagram_and_schemas(page: Any, examples: Any) -> None:
    page.goto(f"{examples.base}/")
    expect(page).to_have_url(re.compile(r"#/graphs$"))
    expect(page.get_by_role("heading", name="Graphs", level=1)).to_be_visible()
    graphs = examples.call("GET", "/graphs")["graphs"]
    for graph in graphs:
        section = page.locator("section.graph", has=page.get_by_role("heading", name=graph["name"], exact=True))
        expect(section).to_contain_text(graph["version"])
        expect(section.locator("code.hash")).to_have_attribute("title", graph["graph_hash"])
        for node in graph["nodes"]:
            expect(section.locator(f'svg g.node[data-node="{node}"]')).to_have_count(1)
    support = page.locator("section.graph", has=page.get_by_role("heading", name="support_agent", exact=True))
    # waits, conditional edges, terminals and the event schema are all drawn / listed
    expect(support.locator('path.edge-wait[data-source="draft_reply"][data-target="apply_decision"]')).to_have_count(1)
    expect(support.locator('path.edge-conditional[data-source="apply_decision"]')).to_have_count(2)
    expect(support.locator('g.node-terminal[data-node="send_reply"]')).to_have_count(1)
    expect(support.locator("svg")).to_contain_text("wait: approval")
    expect(support.get_by_role("row", name=re.compile(r"^ticket string yes"))).to_be_visible()
    expect(support.get_by_role("row", name=re.compile(r"^log list\[string\] no .* append"))).to_be_visible()
    expect(support.locator(".event-schema")).to_contain_text("reviewer")
    static = page.locator("section.graph", has=page.get_by_role("heading", name="my_graph", exact=True))
    expect(static.locator('path.edge-static[data-source="process"][data-target="finalize"]')).to_have_count(1)


def test_start_wait_send_event_and_complete(page: Any, examples: Any) -> None:
    instance_id = start_support_run(page, examples.base, "My order has not arrived")
    banner = page.locator(".banner-waiting")
    expect(banner).to_be_visible()
    expect(banner.get_by_role("heading")).to_contain_text("approval")
    expect(banner).to_contain_text("Deadline")
    expect(page.locator("#run-status")).to_have_text("waiting")
    expect(page.locator("#run-live")).to_have_attribute("data-state", "stream")
    expect(page.locator('g.node[data-node="draft_reply"]')).to_have_attribute("data-state", re.compile(r"\bwaiting\b"))
    expect(page.locator(".timeline > li")).to_have_count(1)

    banner.get_by_label("Approved").check()
    banner.get_by_label("Reviewer").fill("ana")
    banner.get_by_role("button", name="Send approval").click()

    expect(page.locator("#run-status")).to_have_text("completed")
    output = page.locator("#run-output")
    expect(output).to_be_visible()
    expect(output).to_contain_text('"status": "sent"')
    expect(output).to_contain_text("send_reply")
    expect(page.locator(".banner-waiting")).to_have_count(0)
    expect(page.locator('g.node[data-node="send_reply"]')).to_have_attribute("data-state", re.compile(r"\bvisited\b"))
    expect(page.locator(".timeline > li")).to_have_count(4)
    # a step's update and the state diff rebuilt in the browser
    step = page.locator('.timeline > li[data-node="event:approval"]')
    step.locator("summary").first.click()
    expect(step.locator("table.diff")).to_contain_text("reviewer")
    expect(step.locator("table.diff")).to_contain_text('"ana"')
    expect(step.locator("table.diff")).to_contain_text('"approved by ana"')
    assert examples.call("GET", f"/runs/{instance_id}")["output"]["state"]["reviewer"] == "ana"


def test_cancel_a_waiting_run_with_a_reason(page: Any, examples: Any) -> None:
    run = examples.call("POST", "/graphs/support_agent/runs", {"input": {"ticket": "please cancel"}})
    examples.wait_for_status(run["instance_id"], {"waiting"})
    page.goto(f"{examples.base}/#/runs/{run['instance_id']}")
    expect(page.locator(".banner-waiting")).to_be_visible()
    page.get_by_text("Cancel this run…").click()
    page.get_by_label("Reason").fill("duplicate ticket")
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-status")).to_have_text("cancelled")
    expect(page.locator("#run-cancelled")).to_contain_text("duplicate ticket")
    expect(page.locator(".banner-waiting")).to_have_count(0)
    expect(page.locator(".cancel-box")).to_be_hidden()
    assert examples.call("GET", f"/runs/{run['instance_id']}")["status"] == "cancelled"
    # opened later, the page reads the reason from the run's progress events
    page.reload()
    expect(page.locator("#run-cancelled")).to_contain_text("duplicate ticket")


def test_failed_run_shows_its_error(page: Any, tmp_path: Path) -> None:
    module = tmp_path / "boom_app.py"
    module.write_text(textwrap.dedent(FAILING_GRAPH))
    with serve(module, tmp_path) as served:
        page.goto(f"{served.base}/#/graphs/boom_graph/start")
        page.get_by_label("Name").fill("x")
        page.get_by_role("button", name="Start run").click()
        error = page.locator("#run-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text("boom")
        expect(error).to_contain_text("ValueError")
        expect(page.locator("#run-status")).to_have_text("failed")
        expect(page.locator('g.node[data-node="explode"]')).to_have_attribute("data-state", re.compile(r"\bfailed\b"))
        expect(page.locator(".timeline > li.step-failed")).to_contain_text("boom")


def test_validation_errors_are_shown_next_to_fields(page: Any, examples: Any) -> None:
    page.goto(f"{examples.base}/#/graphs/support_agent/start")
    page.get_by_role("button", name="Start run").click()
    ticket_error = page.locator('.field[data-field="ticket"] .field-error')
    expect(ticket_error).to_have_text(re.compile("Field required"))
    expect(page.get_by_label("Ticket")).to_have_attribute("aria-invalid", "true")
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("INVALID_INPUT")
    summary.get_by_role("button", name=re.compile("ticket")).click()
    expect(page.get_by_label("Ticket")).to_be_focused()

    page.get_by_label("Revisions").fill("2")
    page.get_by_label("JSON", exact=True).check()
    raw = page.get_by_label("Input (JSON object)")
    expect(raw).to_have_value(re.compile(r'"revisions": 2'))
    raw.fill('{"ticket": 5, "revisions": "many"}')
    page.get_by_role("button", name="Start run").click()
    expect(summary).to_contain_text("ticket: Input should be a valid string")
    expect(summary).to_contain_text("revisions: Input should be a valid integer")
    page.get_by_label("Form", exact=True).check()
    expect(page.get_by_label("Ticket")).to_have_value("5")


def test_runs_page_filters_pages_and_updates_live(page: Any, examples: Any) -> None:
    for text in ("How do I reset my password?", "The meeting moved to Tuesday.", "Buy cheap pills now"):
        examples.call("POST", "/graphs/content_classifier/runs", {"input": {"text": text}})
    page.goto(f"{examples.base}/#/runs?graph=content_classifier")
    expect(page.get_by_label("Graph")).to_have_value("content_classifier")
    rows = page.locator(".runs-table tbody tr")
    expect(rows.first).to_be_visible()
    count = rows.count()
    assert count >= 3
    expect(page.locator(".runs-table tbody")).not_to_contain_text("support_agent")
    # a new run shows up without reloading (polled every 2 s)
    examples.call("POST", "/graphs/content_classifier/runs", {"input": {"text": "Free offer, click now"}})
    expect(rows).to_have_count(count + 1)
    page.get_by_label("Status").select_option("waiting")
    expect(page).to_have_url(re.compile(r"status=waiting"))
    expect(page.get_by_text("No runs match these filters.")).to_be_visible()
    page.get_by_label("Graph").select_option("")
    page.get_by_label("Status").select_option("")
    expect(rows.first).to_be_visible()
    # cursor paging: the API's next_cursor drives "Next page", a stack of cursors "Previous page"
    page.goto(f"{examples.base}/#/runs?graph=content_classifier&limit=2")
    expect(rows).to_have_count(2)
    first_ids = rows.evaluate_all("rows => rows.map(r => r.dataset.run)")
    page.get_by_role("button", name="Next page").click()
    expect(page.get_by_text("Page 2")).to_be_visible()
    expect(rows.first).not_to_have_attribute("data-run", first_ids[0])
    second_ids = rows.evaluate_all("rows => rows.map(r => r.dataset.run)")
    assert not set(first_ids) & set(second_ids)
    page.get_by_role("button", name="Previous page").click()
    expect(rows.first).to_have_attribute("data-run", first_ids[0])
    expect(page.get_by_role("button", name="Previous page")).to_be_disabled()
    rows.first.get_by_role("link", name=re.compile("^Run ")).click()
    expect(page).to_have_url(re.compile(r"#/runs/[0-9a-f]+$"))
    expect(page.locator("#run-status")).to_have_text("completed")


def test_api_key_prompt_then_graphs_and_polling(page: Any, tmp_path: Path) -> None:
    with serve(EXAMPLES_APP, tmp_path, api_key="s3cret-key") as served:
        page.goto(f"{served.base}/#/graphs")
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("needs an API key")
        dialog.get_by_label("API key").fill("wrong")
        dialog.get_by_role("button", name="Use this key").click()
        expect(dialog).to_contain_text("not accepted")
        dialog.get_by_label("API key").fill("s3cret-key")
        dialog.get_by_role("button", name="Use this key").click()
        expect(dialog).to_be_hidden()
        expect(page.get_by_role("heading", name="support_agent", exact=True)).to_be_visible()
        expect(page.get_by_role("button", name="API key: set")).to_be_visible()
        # EventSource cannot send the key: the run page polls instead
        start_support_run(page, served.base, "key protected")
        expect(page.locator("#run-live")).to_have_attribute("data-state", "polling")
        expect(page.locator(".banner-waiting")).to_be_visible()
        expect(page.locator("#run-status")).to_have_text("waiting")


def test_keyboard_only_start_and_visible_focus(page: Any, examples: Any) -> None:
    page.goto(f"{examples.base}/#/graphs")
    expect(page.get_by_role("heading", name="Graphs", level=1)).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.locator("#skip-link")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.get_by_role("link", name="Start a run of content_classifier").focus()
    page.keyboard.press("Enter")
    heading = page.get_by_role("heading", name="Start a run of content_classifier")
    expect(heading).to_be_focused()
    page.get_by_label("Text").focus()
    page.keyboard.type("How do I reset my password?")
    page.keyboard.press("Enter")  # submits the form
    expect(page.locator("#run-status")).to_have_text("completed")
    expect(page.locator("#run-output")).to_contain_text("routed to the help desk")


def test_narrow_window_has_no_horizontal_scroll(browser: Any, examples: Any) -> None:
    narrow = new_page(browser, width=360, height=740)
    try:
        for path in ("#/graphs", "#/graphs/support_agent/start", "#/runs"):
            narrow.goto(f"{examples.base}/{path}")
            expect(narrow.locator("main h1")).to_be_visible()
            overflow = narrow.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path} is {overflow}px wider than the window"
        assert not narrow.js_errors
    finally:
        narrow.context.close()


def test_diagram_features_typed_form_fields_and_state_replay(page: Any, tmp_path: Path) -> None:
    module = tmp_path / "features_app.py"
    module.write_text(FEATURES_GRAPH)
    with serve(module, tmp_path) as served:
        page.goto(f"{served.base}/#/graphs/features")
        svg = page.locator("svg.diagram-svg")
        expect(svg.locator('g.node-join[data-node="merge"]')).to_have_count(1)
        expect(svg.locator('path.edge-error[data-source="left"][data-target="recover"]')).to_have_count(1)
        expect(svg.locator('path[data-source="loop"][data-target="loop"]')).to_have_count(1)
        expect(svg.locator('path.edge-static[data-source="split"]')).to_have_count(2)
        overlaps = page.evaluate("""() => {
            const boxes = [...document.querySelectorAll("svg.diagram-svg g.node")].map((g) => g.getBBox());
            let count = 0;
            for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
                const a = boxes[i], b = boxes[j];
                if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) count++;
            }
            return count;
        }""")
        assert overlaps == 0

        page.get_by_role("link", name="Start a run of features").click()
        page.get_by_label("Label").fill("typed")
        page.get_by_label("Color").select_option("green")
        page.get_by_label("Weights").fill("1\n2\n3")
        expect(page.get_by_label("Origin")).to_have_class(re.compile(r"\bcode\b"))  # nested model: JSON
        page.get_by_label("Origin").fill('{"x": 1, "y": 2}')
        page.get_by_role("button", name="Start run").click()
        expect(page.locator("#run-status")).to_have_text("completed")
        run = served.call("GET", f"/runs/{page.url.rsplit('/', 1)[-1]}")
        assert run["input"]["color"] == "green"
        assert run["input"]["weights"] == [1, 2, 3]
        assert run["input"]["origin"] == {"x": 1, "y": 2}
        assert run["input"]["total"] == 0  # left empty: the default applies

        # the state rebuilt in the browser from input + updates matches the engine's
        last = page.locator(".timeline > li").last
        last.locator("summary").first.click()
        last.locator(".state-after > summary").click()
        replayed = json.loads(last.locator(".state-after pre").inner_text())
        assert replayed == run["output"]["state"]
        expect(page.locator('g.node[data-node="merge"]')).to_have_attribute("data-state", re.compile(r"\bvisited\b"))
        expect(page.locator('g.node[data-node="recover"]')).to_have_attribute("data-state", "")
