"""The run page's live output in a real browser: the nodes' emits as they run.

A ``durable-graph serve`` process serves a small app whose node emits tokens, then holds until
the test creates a file; later nodes emit lines, retry, and the run waits for an event. The page
shows the tokens as text while the node still runs and while the run waits, then the final
state. Skipped as a whole when Playwright or Chromium is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from ui_helpers import UI_TIMEOUT_MS, browser_missing, new_page, serve

_missing = browser_missing()
if _missing:
    pytest.skip(f"browser tests skipped: {_missing}", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

expect.set_options(timeout=UI_TIMEOUT_MS)

LETTERS_APP = '''
import time
from pathlib import Path

from pydantic import BaseModel

from azure_functions_durable_graph import DurableGraphApp, ManifestBuilder, RetryPolicy, RouteDecision
from azure_functions_durable_graph.execution import NodeContext

HOLD_SECONDS = 30.0


class Letter(BaseModel):
    topic: str = "refund"
    text: str = ""
    approved: bool = False


class Approval(BaseModel):
    approved: bool


def write(state: Letter, ctx: NodeContext) -> dict:
    for word in ("Dear", " customer,", " about <b>your</b> ", state.topic):
        ctx.emit(word, kind="token")
    release = Path(f"release-{state.topic}")  # created by the test once it saw the tokens
    deadline = time.monotonic() + HOLD_SECONDS
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return {"text": f"Dear customer, about your {state.topic}"}


def review(state: Letter, ctx: NodeContext) -> dict:
    ctx.emit({"checked": len(state.text)}, kind="status")
    if ctx.attempt == 1:
        raise RuntimeError("reviewer busy")
    ctx.emit("looks good", kind="token")
    return {}


WAIT = RouteDecision.wait_for_event(event_name="approval", resume_node="send")


def ask(state: Letter) -> RouteDecision:
    return WAIT


def record(state: Letter, payload: Approval) -> dict:
    return {"approved": Approval.model_validate(payload).approved}


def send(state: Letter, ctx: NodeContext) -> dict:
    ctx.emit({"sent": state.approved})
    return {}


letters = ManifestBuilder(graph_name="letters", state_model=Letter)
letters.set_entrypoint("write")
letters.add_node("write", write, next_node="review")
letters.add_node("review", review, route=ask, route_targets=[WAIT],
                 retry=RetryPolicy(max_attempts=2, initial_interval=0))
letters.add_node("send", send, terminal=True)
letters.add_event_handler("approval", record, payload_model=Approval)

FLOOD = 10_020  # past the local engine's 10,000 kept emits


def flood(state: Letter, ctx: NodeContext) -> dict:
    for _ in range(FLOOD):
        ctx.emit("x", kind="token")
    return {}


def park(state: Letter) -> RouteDecision:
    return WAIT


flooding = ManifestBuilder(graph_name="flooding", state_model=Letter)
flooding.set_entrypoint("flood")
flooding.add_node("flood", flood, route=park, route_targets=[WAIT])
flooding.add_node("send", send, terminal=True)
flooding.add_event_handler("approval", record, payload_model=Approval)

runtime = DurableGraphApp()
runtime.register_registration(letters.build())
runtime.register_registration(flooding.build())
app = runtime.function_app
'''


@pytest.fixture(scope="module")
def letters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("live_output")
    module = folder / "letters_app.py"
    module.write_text(LETTERS_APP, encoding="utf-8")
    with serve(module, folder) as served:
        yield served


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    opened = new_page(browser)
    yield opened
    errors = list(opened.js_errors)
    opened.context.close()
    assert not errors, f"errors in the page: {errors}"


def test_tokens_show_while_the_node_runs_and_the_run_waits(page: Any, letters: Any) -> None:
    run = letters.call("POST", "/graphs/letters/runs", {"input": {"topic": "refund"}})
    page.goto(f"{letters.base}/#/runs/{run['instance_id']}")
    panel = page.locator("#run-live-output")
    write = panel.locator('.live-entry[data-node="write"]')
    # the node is still running (held by the missing file): its tokens are already there
    expect(write.locator(".live-tokens")).to_have_text("Dear customer, about <b>your</b> refund")
    expect(write).to_have_attribute("data-state", "running")
    expect(write.locator("b")).to_have_count(0)  # emitted text is text, never markup
    expect(page.locator("#run-status")).to_have_text("running")
    assert letters.call("GET", f"/runs/{run['instance_id']}")["status"] == "running"

    (letters.log.parent / "release-refund").touch()  # the server's working folder
    expect(write).to_have_attribute("data-state", "done")
    reviews = panel.locator('.live-entry[data-node="review"]')
    first, second = reviews.nth(0), reviews.nth(1)
    expect(first).to_have_attribute("data-state", "failed")
    expect(first.locator(".live-emit")).to_have_text('status: {"checked":32}')
    expect(first.locator(".live-entry-head")).not_to_contain_text("attempt")
    expect(second.locator(".live-entry-head")).to_contain_text("attempt 2")
    expect(second.locator(".live-tokens")).to_have_text("looks good")
    # the run waits: the output stays, beside the event form
    expect(page.locator(".banner-waiting")).to_be_visible()
    expect(write.locator(".live-tokens")).to_have_text("Dear customer, about <b>your</b> refund")

    banner = page.locator(".banner-waiting")
    banner.get_by_label("Approved").check()
    banner.get_by_role("button", name="Send approval").click()
    expect(page.locator("#run-status")).to_have_text("completed")
    expect(panel.locator('.live-entry[data-node="send"] .live-emit')).to_have_text('custom: {"sent":true}')
    expect(page.locator("#run-output")).to_contain_text('"text": "Dear customer, about your refund"')


def test_a_run_opened_later_replays_its_output_and_the_dropped_marker(page: Any, letters: Any) -> None:
    run = letters.call("POST", "/graphs/flooding/runs", {"input": {}})
    letters.wait_for_status(run["instance_id"], {"waiting"}, seconds=30)
    page.goto(f"{letters.base}/#/runs/{run['instance_id']}")
    panel = page.locator("#run-live-output")
    expect(panel.locator(".live-dropped")).to_have_text(re.compile(r"^\d+ earlier chunks dropped$"))
    dropped = int(panel.locator(".live-dropped").inner_text().split()[0])
    tokens = panel.locator('.live-entry[data-node="flood"] .live-tokens')
    expect(tokens).to_have_text("x" * (10_020 - dropped))
    assert dropped >= 20
    # the marker stands first, where the oldest emits were
    expect(panel.locator(".live-output-list > li").first).to_have_class(re.compile(r"\blive-dropped\b"))
